"""Cross-process L1 invalidation over Redis pub/sub, for the tiered backend.

Every tiered backend publishes, in the same pipeline as its write, one message on the
channel ``fbacache:v2:<encoded namespace>:!invalidate`` (its own per namespace)::

    msgpack([origin, [redis_key, ...]])     # these keys changed
    msgpack([origin, None])                 # everything changed (clear)

``origin`` is a random id per backend instance (per process after a fork), so a process
ignores its own messages: its L1 was already updated by the write itself.

One daemon thread per backend subscribes and hands messages to callbacks. Pub/sub is
at-most-once: a message published while the subscriber is disconnected is lost. So the
thread reports the channel *down* as soon as it cannot prove the subscription alive (a
socket error, or no PONG to its periodic PING within ``3 x ping_interval``), and *up* only
after the server confirmed a fresh SUBSCRIBE. The tiered backend flushes and bypasses its
L1 while the channel is down.

Messages are untrusted input (anyone who can PUBLISH can send them): they are decoded with
msgpack only, and a malformed one is treated as "everything changed" (safe, never stale).

On Redis Cluster the channel is a *sharded* channel (Redis 7: ``SPUBLISH``/``SSUBSCRIBE``):
it hashes to one slot, so it lives on the shard that owns that slot and no message crosses the
cluster bus to the other shards. Two differences follow (sdist: docs/redis.md, "Redis Cluster"):

- The write and its message go to different nodes, so one pipeline cannot order them: the
  message is sent only once the write's replies are in. Otherwise a subscriber could receive
  it, re-read L2 before the write landed there and keep the old value in its L1.
- The subscriber connects to the master that owns the channel's slot (found with a cluster
  client of its own). That master's death, a failover (Redis then sends ``sunsubscribe``),
  or a slot migration all end the subscription: the channel is reported down (L1 flushed)
  and the thread resubscribes wherever the slot lives then. redis-py's ``ClusterPubSub`` is
  not used because it resubscribes silently after a slot move, which would hide the loss.
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any, Callable, Optional

import msgpack
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry as RedisPyRetry

from fbacache.backends.redis.backoff import ExponentialBackoff
from fbacache.backends.redis.client import RedisOptions, redact_url
from fbacache.metrics import Counter

__all__ = ["InvalidationBus", "encode_message", "decode_message"]

KeysCallback = Callable[[Optional[list[bytes]]], None]


def _weak(callback: Callable[..., None]) -> Callable[[], Optional[Callable[..., None]]]:
    """A getter for ``callback`` that does not keep a bound method's object alive."""
    if getattr(callback, "__self__", None) is not None:
        return weakref.WeakMethod(callback)
    return lambda: callback


def encode_message(origin: bytes, rkeys: Optional[list[bytes]]) -> bytes:
    """The wire form of an invalidation (``rkeys`` None = everything).

    >>> decode_message(encode_message(b"me", [b"k"]))
    (b'me', [b'k'])
    >>> decode_message(b"\\xc1 garbage")
    (b'', None)
    """
    return msgpack.packb([origin, rkeys], use_bin_type=True)


def decode_message(data: Any) -> tuple[bytes, Optional[list[bytes]]]:
    """``(origin, keys)``; anything malformed decodes as ``(b"", None)`` (flush everything)."""
    try:
        origin, rkeys = msgpack.unpackb(data, raw=False)
    except Exception:  # untrusted bytes
        return b"", None
    if not isinstance(origin, bytes):
        return b"", None
    if rkeys is None:
        return origin, None
    if isinstance(rkeys, list) and all(isinstance(k, bytes) for k in rkeys):
        return origin, rkeys
    return b"", None


class InvalidationBus:
    """Publisher helper and subscriber thread for one invalidation channel.

    Parameters:
        opts: backend options (URL, socket timeouts, ``invalidation_ping_interval``).
        channel: the channel name (``KeyCodec.channel``).
        on_keys: ``on_keys(rkeys)`` for a message from another origin (None = everything).
        on_state: ``on_state(up)`` when the subscription is confirmed (True) or lost (False).

    ``start()`` launches the daemon thread; ``close()`` stops it (within about one
    ``ping_interval``). With ``opts.cluster`` the channel is a sharded one (module docstring).

    Bound-method callbacks are held weakly: the thread keeps neither its owner nor itself
    alive. Once the owner is collected the thread ends by itself (a manager dropped without
    ``close()`` leaks no thread and no connection).
    """

    def __init__(self, opts: RedisOptions, channel: bytes, on_keys: KeysCallback,
                 on_state: Callable[[bool], None]) -> None:
        self.opts = opts
        self.channel = channel
        self.origin = os.urandom(8)
        self._on_keys = _weak(on_keys)
        self._on_state = _weak(on_state)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.up = False
        self.received = Counter()     # messages from other origins
        self.losses = Counter()       # times the channel was lost
        self.malformed = Counter()
        self.last_received_at = 0.0   # time.monotonic() of the last applied message
        self.node = ""                # "host:port" subscribed to (cluster: the channel's shard)
        self._topology: Optional[RedisCluster] = None   # cluster: finds the channel's master

    # ------------------------------------------------------------------ publishing
    def publish(self, pipe: Any, rkeys: Optional[list[bytes]]) -> Optional[Callable[[], Any]]:
        """Invalidate ``rkeys`` (None = everything) with the writes queued in ``pipe``.

        Standalone: the ``PUBLISH`` is appended to ``pipe`` (same connection, so it is processed
        after the writes) and None is returned. Cluster: returns a callable to run once the
        pipeline's replies are in; it sends the ``SPUBLISH`` (and raises if it cannot, so the
        caller treats the write as failed and the fallback remembers the key).
        """
        data = encode_message(self.origin, rkeys)
        if not self.opts.cluster:
            pipe.publish(self.channel, data)
            return None

        def after() -> Any:
            # The pipeline is empty again after execute(); SPUBLISH is routed to the node
            # owning the channel's slot, like a key.
            pipe.execute_command("SPUBLISH", self.channel, data)
            return pipe.execute()
        return after

    # ------------------------------------------------------------------ subscriber
    def start(self) -> None:
        """Start the subscriber thread (a no-op while it runs)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fbacache-invalidation",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the subscriber thread and wait for it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5 * self.opts.invalidation_ping_interval + 2)
        topology, self._topology = self._topology, None
        if topology is not None:
            try:
                topology.close()
            except Exception:  # closing a dead connection
                pass

    def wait_up(self, timeout: float) -> bool:
        """Block until the subscription is confirmed (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while not self.up and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.up

    def _ended(self) -> bool:
        # Stopped by close(), or the owner of the callbacks was collected.
        return self._stop.is_set() or self._on_keys() is None or self._on_state() is None

    def _set_state(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            if not up:
                self.losses.inc()
            on_state = self._on_state()
            if on_state is not None:
                on_state(up)

    def _run(self) -> None:
        backoff = ExponentialBackoff(0.05, max(0.1, self.opts.cooldown_cap), "equal")
        failures = 0
        while not self._ended():
            try:
                self._listen()
                failures = 0
            except Exception:  # any failure means "channel lost"
                failures += 1
            finally:
                self._set_state(False)
            if not self._ended():
                self._stop.wait(backoff.compute(failures))

    def _connect(self) -> redis.Redis:
        # A dedicated connection (not from the pool), without redis-py retries: a silent
        # reconnect would resubscribe and hide that messages were lost in between.
        timeouts: dict[str, Any] = {"socket_timeout": max(self.opts.socket_timeout,
                                          self.opts.invalidation_ping_interval),
                    "socket_connect_timeout": self.opts.connect_timeout,
                    "retry": RedisPyRetry(NoBackoff(), 0)}
        if not self.opts.cluster:
            self.node = redact_url(self.opts.url)
            return redis.Redis.from_url(self.opts.url, **timeouts)
        if self._topology is None:
            self._topology = RedisCluster.from_url(self.opts.url, **timeouts)
        else:
            # Ask the nodes it knows (not only the URL's, which may be the one that died)
            # where the channel's slot lives now.
            self._topology.nodes_manager.initialize()
        node = self._topology.get_node_from_key(self.channel)
        self.node = f"{node.host}:{node.port}"
        # A stale answer is harmless: a node outside the slot's shard answers SSUBSCRIBE with
        # MOVED (an error: retried after a backoff), and a replica in the shard (an old master
        # after a failover) receives the shard's messages too.
        return redis.Redis(host=node.host, port=node.port, **timeouts)

    def _listen(self) -> None:
        interval = self.opts.invalidation_ping_interval
        client = self._connect()
        pubsub = client.pubsub()
        try:
            if self.opts.cluster:
                pubsub.ssubscribe(self.channel)
            else:
                pubsub.subscribe(self.channel)
            last_seen = time.monotonic()
            next_ping = last_seen + interval
            while not self._ended():
                msg = pubsub.get_message(timeout=interval / 2)
                now = time.monotonic()
                if msg is not None:
                    last_seen = now
                    self._handle(msg)
                if now >= next_ping:
                    pubsub.ping()
                    next_ping = now + interval
                if now - last_seen > 3 * interval:
                    raise redis.TimeoutError("no reply from the invalidation channel")
        finally:
            try:
                pubsub.close()
                client.close()
            except Exception:  # closing a dead connection
                pass

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind in ("subscribe", "ssubscribe"):
            self._set_state(True)
        elif kind in ("unsubscribe", "sunsubscribe"):
            # Not asked for by us: on a cluster, the slot moved (failover, resharding).
            raise redis.ConnectionError("the invalidation channel was unsubscribed by the server")
        elif kind in ("message", "smessage"):
            origin, rkeys = decode_message(msg.get("data"))
            if origin == self.origin:
                return
            if origin == b"":
                self.malformed.inc()
            on_keys = self._on_keys()
            if on_keys is not None:
                on_keys(rkeys)
            self.received.inc()
            self.last_received_at = time.monotonic()
