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
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Optional

import msgpack
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisPyRetry

from fbacache.backends.backoff import ExponentialBackoff
from fbacache.backends.redis_client import RedisOptions
from fbacache.metrics import Counter

__all__ = ["InvalidationBus", "encode_message", "decode_message"]

KeysCallback = Callable[[Optional[list[bytes]]], None]


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
    ``ping_interval``).
    """

    def __init__(self, opts: RedisOptions, channel: bytes, on_keys: KeysCallback,
                 on_state: Callable[[bool], None]) -> None:
        self.opts = opts
        self.channel = channel
        self.origin = os.urandom(8)
        self._on_keys = on_keys
        self._on_state = on_state
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.up = False
        self.received = Counter()     # messages from other origins
        self.losses = Counter()       # times the channel was lost
        self.malformed = Counter()
        self.last_received_at = 0.0   # time.monotonic() of the last applied message

    # ------------------------------------------------------------------ publishing
    def publish(self, pipe: Any, rkeys: Optional[list[bytes]]) -> None:
        """Append the invalidation of ``rkeys`` (None = everything) to ``pipe``."""
        pipe.publish(self.channel, encode_message(self.origin, rkeys))

    # ------------------------------------------------------------------ subscriber
    def start(self) -> None:
        """Start the subscriber thread."""
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

    def wait_up(self, timeout: float) -> bool:
        """Block until the subscription is confirmed (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while not self.up and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.up

    def _set_state(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            if not up:
                self.losses.inc()
            self._on_state(up)

    def _run(self) -> None:
        backoff = ExponentialBackoff(0.05, max(0.1, self.opts.cooldown_cap), "equal")
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except Exception:  # any failure means "channel lost"
                failures += 1
            finally:
                self._set_state(False)
            if not self._stop.is_set():
                self._stop.wait(backoff.compute(failures))

    def _listen(self) -> None:
        interval = self.opts.invalidation_ping_interval
        # A dedicated connection (not from the pool), without redis-py retries: a silent
        # reconnect would resubscribe and hide that messages were lost in between.
        client = redis.Redis.from_url(
            self.opts.url, socket_timeout=max(self.opts.socket_timeout, interval),
            socket_connect_timeout=self.opts.connect_timeout, retry=RedisPyRetry(NoBackoff(), 0))
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            last_seen = time.monotonic()
            next_ping = last_seen + interval
            while not self._stop.is_set():
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
        if kind == "subscribe":
            self._set_state(True)
        elif kind == "message":
            origin, rkeys = decode_message(msg.get("data"))
            if origin == self.origin:
                return
            if origin == b"":
                self.malformed.inc()
            self._on_keys(rkeys)
            self.received.inc()
            self.last_received_at = time.monotonic()
