"""Redis backend (``backend_type='redis'``) on redis-py, with an automatic in-memory fallback.

Storage: one Redis string per entry under ``fbacache:v2:<encoded namespace>:`` (see
:class:`~fbacache.backends.redis.client.KeyCodec`), written with ``SET ... PX`` so Redis
expires it. The value is a small envelope around the manager's blob
(:mod:`fbacache.backends.redis.envelope`); the backend never decodes the blob. Reads are untrusted: an envelope that does not parse is a
counted miss, and the manager verifies the blob's signature before decoding it.

Batch reads are one ``MGET`` (per hash slot on a cluster, all sent in one pipeline);
batch writes and deletes are one pipeline. ``keys``/``clear`` walk our prefix with
``SCAN`` and delete with ``UNLINK``; ``KEYS`` and ``FLUSHDB`` are never sent.

:class:`RedisBackend` composes parts with one job each and hands them what they need:
:class:`~fbacache.backends.redis.keyspace.Keyspace` (the multi-key commands, per slot on a
cluster, and the ``SCAN`` of our prefix), :class:`~fbacache.backends.redis.replies.Replies`
(replies to blobs, counted) and :class:`~fbacache.backends.redis.outage.Outage` (the local
fallback during an outage and the reconcile after it). The hot paths stay inline here.

Every call goes through :class:`~fbacache.backends.redis.fallback.FallbackGuard`: retries with
jittered backoff, then a circuit breaker; while Redis is unreachable the calls are served
by a :class:`~fbacache.backends.memory.MemoryBackend` without raising. What this process
wrote during the outage stays in that local fallback until Redis is back; then those keys
are *invalidated* in Redis (never replayed) and the fallback is emptied (the sdist's docs/redis.md).

Fork safety: each call compares :data:`fbacache.backends.redis.forksafe.generation` (bumped
in every forked child) with the value it was built under; a forked child builds its own
pool, breaker and fallback on its first call.

Hot paths (``get``, ``get_many``, ``set``): one command, and per call no closure, no lock
and no set-up beyond the retry deadline's clock read (:meth:`FallbackGuard.call`); the
other operations and any call while keys from an outage wait to be reconciled take the
general path (:meth:`RedisBackend._call`), with the same guarantees.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Mapping, Optional

from fbacache._util import MISSING
from fbacache.backends.base import Backend, BackendSettings
from fbacache.backends.redis.envelope import (
    DISCARD_IF_LUA,
    px as ttl_ms,
    seconds,
    unwrap_entry,
    unwrap_raw,
    wrap_entry,
)
from fbacache.backends.redis import forksafe
from fbacache.backends.redis.forksafe import fork_lock
from fbacache.backends.redis.fallback import DOWN, DirtyKeys, FallbackGuard
from fbacache.backends.memory import MemoryBackend
from fbacache.backends.redis.client import KeyCodec, RedisOptions, disconnect_idle, make_client
from fbacache.backends.redis.keyspace import Keyspace, Publish, execute
from fbacache.backends.redis.outage import Outage
from fbacache.backends.redis.replies import Replies
from fbacache.metrics import Counter
from fbacache.signing import context_head, key_context

__all__ = ["RedisBackend", "wrap_entry", "unwrap_entry"]


class RedisBackend(Backend):
    """Entries in Redis under a versioned prefix; automatic in-memory fallback.

    ``backend_config`` options (all optional) are documented in the sdist's docs/redis.md: ``url``
    (``redis://...``; ``redis+cluster://`` or ``cluster=True`` for Redis Cluster),
    ``namespace`` (default: ``key_prefix`` or ``"default"``), ``pool_size``,
    ``socket_timeout``, ``connect_timeout``, ``retry_attempts``, ``retry_deadline``,
    ``failure_threshold``, ``cooldown_base``/``cooldown_cap``, ``fallback``...

    Keys must be str, bytes or int (TypeError otherwise). ``max_entries``/``max_bytes``
    bound the local fallback only; Redis' own ``maxmemory`` policy bounds Redis.
    """

    name = "redis"
    shared = True
    stores_objects = False

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self.options = RedisOptions.from_config(settings.options, settings.key_prefix)
        self.codec = KeyCodec(self.options.namespace)
        self._context_s = context_head(self.options.namespace) + b"s"  # signing_context of str
        self._hits = Counter()
        self._misses = Counter()
        self._corrupt = Counter()
        self._evicted = Counter()
        self._replies = Replies(self._hits, self._misses, self._corrupt)
        #: Set by the tiered backend: ``publish(pipe, rkeys)`` appends the invalidation to a
        #: write pipeline, or returns what must run once the pipeline's replies are in.
        self._publish: Optional[Publish] = None
        self._build()

    def _build(self) -> None:
        # Everything that belongs to one process (a forked child builds its own). The hot
        # paths read _client, _guard, _dirty and _fallback directly, without a part between.
        opts = self.options
        self._client = make_client(opts)
        self._cluster = opts.cluster
        self._keys = Keyspace(self._client, opts.cluster, self.codec, opts.scan_count)
        self._discard_script = self._client.register_script(DISCARD_IF_LUA)
        self._guard = FallbackGuard(opts, lambda exc: disconnect_idle(self._client))
        s = self.settings
        self._fallback = MemoryBackend(BackendSettings(
            max_entries=opts.fallback_max_entries or s.max_entries, max_bytes=s.max_bytes,
            eviction_policy=s.eviction_policy, timer=s.timer, seed=s.seed))
        self._dirty = DirtyKeys(opts.dirty_limit)
        self._outage = Outage(self._fallback, self._dirty, self._hits, self._misses)
        self._generation = forksafe.generation

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        """The redis-py client (``redis.Redis`` or ``RedisCluster``) of this process."""
        self._check_pid()
        return self._client

    @property
    def state(self) -> str:
        """``"redis"``, ``"fallback"`` or ``"probing"``."""
        return self._guard.state

    def _check_pid(self) -> None:
        if self._generation != forksafe.generation:
            with fork_lock():
                if self._generation != forksafe.generation:
                    # The parent's sockets are not ours: redis-py never shuts them down from
                    # another pid, and we simply stop using that pool.
                    self._build()
                    self._after_fork()

    def _after_fork(self) -> None:
        """Hook for subclasses: rebuild per-process state in a forked child."""

    def _call(self, do: Callable[[], Any], fallback: Callable[[], Any]) -> Any:
        # The general path: any operation, also after a fork or an outage.
        if self._generation != forksafe.generation:
            self._check_pid()
        if self._dirty.pending:
            inner = do

            def do() -> Any:
                self._outage.reconcile(self._keys, self._publish)
                return inner()
        result = self._guard.call(do)
        return fallback() if result is DOWN else result

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """The stored blob of ``key`` or ``default``; counts a hit or a miss."""
        rkey = self.codec.encode(key)
        # The hot path (module docstring): this process's client, nothing to reconcile.
        if self._generation != forksafe.generation or self._dirty.pending:
            return self._call(lambda: self._replies.item(self._client.get(rkey), default, True),
                              lambda: self._outage.get(key, default, True))
        raw = self._guard.call(self._client.get, rkey)
        if raw is None:
            self._misses.inc()
            return default
        if raw is DOWN:
            return self._outage.get(key, default, True)
        if raw[:1] == b"\x00":  # an envelope without metadata (what set() writes)
            self._hits.inc()
            return raw[1:]
        return self._replies.item(raw, default, True)

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Like :meth:`get` without counting."""
        rkey = self.codec.encode(key)
        return self._call(lambda: self._replies.item(self._client.get(rkey), default, False),
                          lambda: self._outage.get(key, default, False))

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """Blobs of the present keys in one round trip (``MGET``; per slot on a cluster)."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        if self._cluster or self._generation != forksafe.generation or self._dirty.pending:
            return self._call(lambda: self._replies.blobs(*self._keys.mget(keys)),
                              lambda: self._outage.get_many(keys))
        raws = self._guard.call(self._client.mget, self.codec.encode_many(keys))
        if raws is DOWN:
            return self._outage.get_many(keys)
        return self._replies.blobs(keys, raws)

    def load_many(self, keys: Iterable[Hashable], load: Callable[..., Any],
                  ) -> tuple[dict[Hashable, Any], dict[Hashable, Any]]:
        """``(values, blobs)``: :meth:`get_many` with the blobs loaded by the codec in the
        same pass over the ``MGET`` reply (the manager's batch read with an unsigned codec).

        ``load(keys, replies, head)`` is :meth:`fbacache.codecs.Codec.load_replies`: it
        loads the replies that are an envelope without metadata (``head``, the marker byte)
        around a raw frame and returns ``(values, misses, rest)``. ``values`` maps those keys
        to their values; ``blobs`` maps the other present keys to their blobs (envelopes
        with metadata, compressed or unreadable frames; everything while Redis is down),
        for the caller to decode as after :meth:`get_many`. Hits and misses are counted as
        :meth:`get_many` counts them: a hit per present key, loaded or not. A subclass that
        overrides :meth:`get_many` gets ``({}, self.get_many(keys))``: its reads stay its own.
        """
        if type(self).get_many is not RedisBackend.get_many:
            return {}, self.get_many(keys)
        batch = list(dict.fromkeys(keys))
        if not batch:
            return {}, {}
        if self._cluster or self._generation != forksafe.generation or self._dirty.pending:
            got = self._call(lambda: self._keys.mget(batch), lambda: None)
            if got is None:
                return {}, self._outage.get_many(batch)
            batch, raws = got
        else:
            raws = self._guard.call(self._client.mget, self.codec.encode_many(batch))
            if raws is DOWN:
                return {}, self._outage.get_many(batch)
        values, misses, rest = load(batch, raws, b"\x00")
        self._hits.add(len(values))
        self._misses.add(misses)
        blobs = {}
        for key, raw in rest:
            item = self._replies.item(raw, MISSING, True)  # counts itself
            if item is not MISSING:
                blobs[key] = item
        return values, blobs

    def get_with_ttl(self, key: Hashable) -> tuple[Any, Optional[float]]:
        """``(blob, remaining seconds or math.inf)`` in one round trip (``GET`` + ``PTTL``),
        or ``(None, None)`` when missing; counts a hit or a miss (for the tiered L1 fill)."""
        rkey = self.codec.encode(key)

        def do() -> tuple[Any, Optional[float]]:
            pipe = self._client.pipeline(transaction=False)
            pipe.get(rkey)
            pipe.pttl(rkey)
            raw, ms = pipe.execute()
            item = self._replies.item(raw, None, True)
            return (None, None) if item is None else (item, seconds(int(ms)))

        def fallback() -> tuple[Any, Optional[float]]:
            item = self._outage.get(key, None, True)
            return (None, None) if item is None else (item, self._fallback.ttl(key))
        return self._call(do, fallback)

    def get_many_with_ttl(self, keys: list[Hashable]) -> dict[Hashable, tuple[Any, float]]:
        """``{key: (blob, remaining seconds)}`` for present keys, one round trip."""
        rkeys = [self.codec.encode(k) for k in keys]
        by_rkey = dict(zip(rkeys, keys))

        def do() -> dict[Hashable, tuple[Any, float]]:
            out = {}
            for rkey, raw, ms in zip(*self._keys.mget_pttl(rkeys)):
                item = self._replies.item(raw, MISSING, True)
                ttl = seconds(int(ms))
                if item is not MISSING and ttl is not None:
                    out[by_rkey[rkey]] = (item, ttl)
            return out

        def fallback() -> dict[Hashable, tuple[Any, float]]:
            found = self._outage.get_many(keys)
            return {k: (v, self._fallback.ttl(k) or 0.0) for k, v in found.items()}
        return self._call(do, fallback)

    def contains(self, key: Hashable) -> bool:
        """``EXISTS`` (no hit/miss counted)."""
        rkey = self.codec.encode(key)
        return self._call(lambda: bool(self._client.exists(rkey)),
                          lambda: self._fallback.contains(key))

    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Our keys (``SCAN`` within the prefix), optionally str keys matching ``pattern``."""
        return self._call(lambda: self._keys.matching(pattern),
                          lambda: self._fallback.keys(pattern))

    def ttl(self, key: Hashable) -> Optional[float]:
        """``PTTL`` in seconds; ``math.inf`` without expiry; None if missing."""
        rkey = self.codec.encode(key)

        return self._call(lambda: seconds(int(self._client.pttl(rkey))),
                          lambda: self._fallback.ttl(key))

    def get_metadata(self, key: Hashable) -> Optional[dict[str, Any]]:
        """Metadata stored with ``key`` ({} if none); None if missing or unreadable."""
        rkey = self.codec.encode(key)

        def do() -> Optional[dict[str, Any]]:
            raw = self._client.get(rkey)
            parts = None if raw is None else unwrap_entry(raw)
            return None if parts is None else parts[1]
        return self._call(do, lambda: self._fallback.get_metadata(key))

    def get_entry(self, key: Hashable) -> Optional[tuple[Any, dict[str, Any]]]:
        """``(blob, metadata)`` from one ``GET`` (no counting); None if missing or unreadable."""
        rkey = self.codec.encode(key)

        def fallback() -> Optional[tuple[Any, dict[str, Any]]]:
            return self._fallback.get_entry(key)
        return self._call(lambda: unwrap_raw(self._client.get(rkey)), fallback)

    def signing_context(self, key: Hashable) -> bytes:
        """Binds signatures to our namespace (``backend_config.namespace`` included):
        :func:`fbacache.signing.key_context`, its namespace part computed once."""
        if type(key) is str:
            return self._context_s + key.encode("utf-8", "surrogatepass")
        return key_context(self.options.namespace, key)

    # ------------------------------------------------------------------ writes
    def set(self, key: Hashable, item: Any, ttl: Optional[float], size: int,
            metadata: Optional[Mapping[str, Any]] = None) -> None:
        """``SET key envelope PX ttl`` (no PX when ttl is None)."""
        rkey = self.codec.encode(key)
        raw = wrap_entry(item, metadata)
        px = ttl_ms(ttl)
        command = ("SET", rkey, raw) if px is None else ("SET", rkey, raw, "PX", px)
        if self._publish is None and self._generation == forksafe.generation \
                and not self._dirty.pending:  # the hot path (module docstring)
            # execute_command: the same command as client.set() builds, without its
            # option checks
            if self._guard.call(self._client.execute_command, *command) is DOWN:
                self._outage.write([rkey], lambda: self._fallback.set(key, item, ttl, size,
                                                                       metadata))
            return

        def do() -> None:
            if self._publish is None:
                self._client.execute_command(*command)
                return
            pipe = self._client.pipeline(transaction=False)
            pipe.execute_command(*command)
            execute(pipe, [rkey], self._publish)
        self._call(do, lambda: self._outage.write(
            [rkey], lambda: self._fallback.set(key, item, ttl, size, metadata)))

    def set_many(self, items: Mapping[Hashable, tuple[Any, int]], ttl: Optional[float]) -> None:
        """All ``SET``s in one pipeline (one round trip; one per node on a cluster)."""
        if not items:
            return
        px = ttl_ms(ttl)
        rkeys = self.codec.encode_many(list(items))
        expiry = () if px is None else ("PX", px)
        commands = [("SET", rkey, wrap_entry(item), *expiry)
                    for rkey, (item, _) in zip(rkeys, items.values())]

        def do() -> None:
            pipe = self._client.pipeline(transaction=False)
            add = pipe.execute_command
            for command in commands:
                add(*command)
            execute(pipe, rkeys, self._publish)
        self._call(do, lambda: self._outage.write(
            rkeys, lambda: self._fallback.set_many(items, ttl)))

    def delete(self, key: Hashable) -> bool:
        """``UNLINK``; True if the key existed."""
        rkey = self.codec.encode(key)
        return bool(self._call(lambda: self._keys.unlink([rkey], self._publish),
                               lambda: self._outage.write(
                                   [rkey], lambda: self._fallback.delete(key))))

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """``UNLINK`` in one round trip (per slot on a cluster); the number that existed."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return 0
        rkeys = [self.codec.encode(k) for k in keys]
        return int(self._call(lambda: self._keys.unlink(rkeys, self._publish),
                              lambda: self._outage.write(
                                  rkeys, lambda: self._fallback.delete_many(keys))))

    def discard_if(self, key: Hashable, item: Any) -> bool:
        """Delete ``key`` only if it still holds the blob ``item`` (atomic, a Lua script)."""
        rkey = self.codec.encode(key)

        def do() -> bool:
            removed = bool(self._discard_script(keys=[rkey], args=[item]))
            if removed and self._publish is not None:
                execute(self._client.pipeline(transaction=False), [rkey], self._publish)
            return removed
        return bool(self._call(do, lambda: self._fallback.discard_if(key, item)))

    def touch(self, key: Hashable, ttl: Optional[float]) -> bool:
        """``PEXPIRE`` (``PERSIST`` for ttl None); False if the key is missing."""
        rkey = self.codec.encode(key)
        px = ttl_ms(ttl)

        def do() -> bool:
            pipe = self._client.pipeline(transaction=False)
            if px is None:
                pipe.persist(rkey)
                pipe.exists(rkey)
            else:
                pipe.pexpire(rkey, px)
            replies = execute(pipe, [rkey], self._publish)  # a shorter TTL must reach other L1s
            return bool(replies[1] if px is None else replies[0])
        return bool(self._call(do, lambda: self._outage.write(
            [rkey], lambda: self._fallback.touch(key, ttl))))

    def clear(self) -> None:
        """Delete every key under our prefix (``SCAN`` + ``UNLINK``); nothing else."""
        def do() -> None:
            self._keys.clear(self._publish)
            self._fallback.clear()
        # a lambda, not the bound method: after a fork, _call builds this process's Outage
        self._call(do, lambda: self._outage.clear())

    # ------------------------------------------------------------------ eviction control
    def evict_keys(self, keys: Iterable[Hashable]) -> int:
        """Delete ``keys``, counted as evictions."""
        n = self.delete_many(keys)
        for _ in range(n):
            self._evicted.inc()
        return n

    # ------------------------------------------------------------------ housekeeping
    def stats(self) -> dict[str, Any]:
        """Counters, the entries under our prefix (a ``SCAN``: O(keys in the db)) and the
        fallback figures: ``backend_state``, ``backend_fallbacks``, ``backend_errors``..."""
        def fallback() -> tuple[int, int]:
            s = self._fallback.stats()
            return int(s["current_entries"]), int(s["current_size_bytes"])
        entries, size = self._call(lambda: self._keys.count(), fallback)  # (as in clear)
        out: dict[str, Any] = {
            "hits": self._hits.value, "misses": self._misses.value,
            "evictions": self._evicted.value, "expirations": 0,
            "current_entries": entries, "current_size_bytes": size,
            "backend_corrupt_envelopes": self._corrupt.value,
            "backend_fallback_entries": len(self._fallback),
            "backend_dirty_pending": self._dirty.pending,
        }
        out.update(self._guard.snapshot())
        return out

    def check(self) -> None:
        """Check the fallback's invariants."""
        self._fallback.check()

    def __len__(self) -> int:
        return int(self.stats()["current_entries"])

    def close(self) -> None:
        """Close the connection pool and drop the fallback."""
        self._fallback.close()
        if self._generation == forksafe.generation:
            try:
                self._client.close()
            except Exception:  # closing a broken client must not raise
                pass
