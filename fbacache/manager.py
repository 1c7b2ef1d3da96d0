"""CacheManager: the thread-safe application cache.

The manager is the *mechanism* around a storage backend: it resolves TTLs,
encodes values (serializer -> compressor -> optional signer, see
:mod:`fbacache.codecs`), enforces ``max_entry_size``, runs single-flight
regeneration (:mod:`fbacache.locks`), prefetch (:mod:`fbacache.prefetch`) and
metrics (:mod:`fbacache.metrics`). Backends (:mod:`fbacache.backends`) only
store and fetch, so a new backend needs no change here. Its parts, each handed the
pieces it needs: :mod:`fbacache._manager_build` (codec and backend from the config),
:mod:`fbacache._manager_fast` (the compiled ``get``/``set``/``get_or_set`` installed
while safe), :mod:`fbacache._manager_batch` (``get_many``), :mod:`fbacache._manager_metrics`.

Locking: the memory backend's store (:class:`fbacache._core.Store`) holds its
own lock for the index operation only; encoding, decoding and factories run
outside it. With objects stored as they are (the in-process default) a ``get``
hit is one C call, and ``set``/``get_or_set`` hits one thin frame around one.

>>> from fbacache import CacheManager
>>> with CacheManager(max_entries=100, serialization_format="msgpack") as cache:
...     cache.set("user:1", {"name": "Ada"})
...     cache.get_or_set("user:2", lambda: {"name": "Bob"})
...     sorted(cache.keys("user:*")), cache.get("user:1")
True
{'name': 'Bob'}
(['user:1', 'user:2'], {'name': 'Ada'})
"""
from __future__ import annotations

import sys
import threading
import time
from types import MethodType
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable, Mapping, Optional

from fbacache._manager_batch import read_many
from fbacache._manager_build import build_codec_and_backend
from fbacache._manager_fast import fast_callables, fast_stores
from fbacache._manager_metrics import manager_metrics
from fbacache._validate import check_duration
from fbacache.backends.base import Backend
from fbacache._util import MISSING
from fbacache.codecs import Codec
from fbacache.config import CacheManagerConfig
from fbacache.signing import metadata_digest
from fbacache.errors import EntryTooLarge, ManagerNotRunning
from fbacache.locks import SingleFlight
from fbacache.metrics import Counter
from fbacache.prefetch import Loader, Prefetcher
from fbacache.swr import Jitter, Revalidator, check_grace
from fbacache.tags import TagIndex, normalize_tags
from fbacache.manager_types import ManagerMetrics, ManagerOptions

if TYPE_CHECKING:  # typing only: Unpack is in typing from 3.11
    from typing_extensions import Unpack

__all__ = ["CacheManager"]


class CacheManager:
    """Thread-safe cache front end; see the module docstring and the sdist's docs/manager.md.

    ``CacheManager(config)`` or ``CacheManager(**config_fields)``; ``timer`` (a
    monotonic clock in seconds) may also be passed as a keyword, and
    ``ttl_jitter`` (a :class:`fbacache.swr.Jitter` or a fraction) shortens every
    finite TTL randomly. Tags and stale-while-revalidate: :mod:`fbacache.tags`,
    :mod:`fbacache.swr`. The manager starts running immediately; ``stop()`` makes every operation raise
    :class:`ManagerNotRunning` until ``start()``. Raises :class:`ConfigError` for
    invalid settings and :class:`UnsafeConfiguration` for pickle on a shared
    backend without a signing key.
    """

    def __init__(self, config: Optional[CacheManagerConfig] = None, *,
                 ttl_jitter: Optional[Any] = None, **kwargs: Unpack[ManagerOptions]) -> None:
        if config is None:
            config = CacheManagerConfig(**kwargs)
        elif kwargs:
            config = config.replace(**kwargs)
        self.config = config
        self._timer: Callable[[], float] = config.timer or time.monotonic
        # refuses unsafe or impossible settings (ConfigError, UnsafeConfiguration) first
        codec, backend = build_codec_and_backend(config, self._timer)
        self._codec: Optional[Codec] = codec
        self._backend: Backend = backend
        self._max_entry_size = config.max_entry_size
        self._flight = SingleFlight()
        self._jitter = ttl_jitter if ttl_jitter is None or isinstance(ttl_jitter, Jitter) \
            else Jitter(ttl_jitter)
        # The compiled store behind the fast paths (objects stored as they are): get and
        # get_or_set hits read it directly; set writes it directly unless TTLs are jittered.
        self._core_store, self._object_store, self._store = fast_stores(
            self._backend, self._codec, jittered=self._jitter is not None,
            default_ttl=config.default_ttl)
        # Subclasses overriding one of these keep their override (no fast path installed).
        cls = type(self)
        self._plain_class = all(getattr(cls, name) is getattr(CacheManager, name)
                                for name in ("get", "set", "get_or_set"))
        self._tags_used = False  # set by the first tagged write (then set() takes the full path)
        self._tags = TagIndex()
        self._swr = Revalidator()
        self._sets = Counter()
        self._deletes = Counter()
        # Components get the callables they need, never the manager (no circular knowledge).
        self._prefetcher = Prefetcher(config.prefetch_queue_size, load=self.get_or_set,
                                      on_first_use=self._prefetch_in_use)
        self._prefetched = self._prefetcher.prefetched  # read on every get: one lookup, not two
        # reentrant: start() holds it while starting the worker, which reports first use
        self._state_lock = threading.RLock()
        self._running = False
        self._backend_suspended = False
        self._closed = False
        self.start()

    @classmethod
    def from_url(cls, url: str, *, tiered: bool = False, ttl_jitter: Optional[Any] = None,
                 **options: Any) -> "CacheManager":
        """A manager for the cache that ``url`` names: ``memory://``, ``redis://host:port/db``,
        ``rediss://...``, ``unix:///path.sock``, ``redis+cluster://host:port``; ``tiered=True``
        adds an in-process L1 in front of Redis. ``options`` are config fields (and
        ``backend_config=``). See :mod:`fbacache.urls`; raises ConfigError for a bad URL.

        >>> with CacheManager.from_url("memory://", default_ttl=60) as cache:
        ...     cache.set("k", 1) and cache.get("k")
        1
        """
        from fbacache.urls import config_from_url

        return cls(config_from_url(url, tiered=tiered, **options), ttl_jitter=ttl_jitter)

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._running

    @property
    def backend(self) -> Backend:
        """The storage backend (for introspection and tests)."""
        return self._backend

    def start(self) -> bool:
        """Start (or restart) the manager and the prefetch worker if a loader is configured.

        Returns True (always: a failure raises), so ``if not cache.start():`` is a
        real check. It used to return the manager, which is falsy while empty.
        """
        with self._state_lock:
            if self._closed:
                raise ManagerNotRunning("the CacheManager is closed; create a new one")
            self._running = True
            self._install_fast_path()
            if self.config.prefetch_loader is not None and not self._prefetcher.worker_running:
                self._prefetcher.start_worker(self.config.prefetch_loader)
            if self._backend_suspended:
                self._backend.resume()
                self._backend_suspended = False
        return True

    def stop(self) -> None:
        """Stop the prefetch worker and the backend's background threads (a tiered
        backend's subscriber); later operations raise ManagerNotRunning. Data is kept:
        ``start()`` (or entering a ``with`` block) resumes. Connections stay open until
        ``close()``."""
        with self._state_lock:
            self._running = False
            self._install_fast_path()  # back to the checking methods
            if not self._backend_suspended:
                self._backend.suspend()
                self._backend_suspended = True
        self._prefetcher.stop_worker()

    def close(self) -> None:
        """Stop and release the backend (connections, threads, memory). Not restartable:
        a later ``start()`` raises ManagerNotRunning. Closing twice is harmless."""
        self.stop()
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        self._backend.close()

    def __enter__(self) -> "CacheManager":
        if not self._running:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _install_fast_path(self) -> None:
        # Instance attributes shadowing the methods below while they are safe (called
        # with the state lock held, or from __init__). With objects stored as they are
        # and no prefetch accounting, get() *is* the store's C get; get_or_set(k, f)
        # and set(k, v) are one compiled call each (fbacache._core.GetOr / Put), and
        # any other argument falls through to the full method (chosen by _manager_fast).
        # A tagged write turns the fast set off for good: later plain writes must drop
        # the key's tags.
        d = self.__dict__
        for name in ("get", "get_or_set", "set"):
            d.pop(name, None)
        if self._running and not self._prefetcher.used and self._plain_class \
                and type(self)._decode is CacheManager._decode:
            for name, fn in fast_callables(
                    codec=self._codec, backend=self._backend, object_store=self._object_store,
                    store=self._store, core_store=self._core_store, tags_used=self._tags_used,
                    max_entry_size=self._max_entry_size, load_missed=self._load_missed,
                    full_get_or_set=MethodType(CacheManager.get_or_set, self),
                    full_set=MethodType(CacheManager.set, self)).items():
                setattr(self, name, fn)

    def _prefetch_in_use(self) -> None:
        with self._state_lock:
            self._install_fast_path()  # prefetch hits are counted by the checking get()

    def _check(self) -> None:
        if not self._running:
            raise ManagerNotRunning("the CacheManager is stopped; call start() first")

    # ------------------------------------------------------------------ encoding
    def _resolve_ttl(self, ttl: Optional[float], grace: Optional[float] = None) -> Optional[float]:
        if ttl is None:
            seconds = self.config.default_ttl
        else:  # math.inf = never; 0, NaN, bool, 1e300 and 10**400 are refused here
            seconds = check_duration(ttl, "ttl")
        if seconds is not None:
            if self._jitter is not None:
                seconds = self._jitter(seconds)
            if grace is not None:
                seconds += check_grace(grace)
        return seconds

    def _context(self, key: Hashable) -> bytes:
        # The signature covers the namespace, the key's type and the key: a signed value
        # cannot be moved to another key, type or namespace (the sdist's docs/threat-model.md).
        if self._codec is None or self._codec.signer is None:
            return b""
        return self._backend.signing_context(key)

    def _encode(self, value: Any, key: Hashable,
                metadata: Optional[Mapping[str, Any]] = None) -> tuple[Any, int]:
        codec = self._codec
        if codec is None:
            size = sys.getsizeof(value)  # shallow: the documented estimate for 'none'
            if size > self._max_entry_size:
                raise EntryTooLarge(f"object of {size} bytes exceeds max_entry_size "
                                    f"{self._max_entry_size}")
            return value, size
        context = self._context(key)
        # Signed entries also carry the digest of their metadata (checked by get_metadata).
        bound = metadata_digest(metadata) if context else b""
        blob = codec.encode(value, context, bound)  # raises SerializationError / EntryTooLarge
        return blob, len(blob)

    def _decode(self, key: Hashable, item: Any) -> Any:
        """Value of a stored item, or MISSING for a corrupt one (dropped from the store)."""
        codec = self._codec
        if codec is None:
            return item
        value = codec.decode(item, self._context(key))
        if value is MISSING:
            self._backend.discard_if(key, item)
        return value

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """Cached value of ``key`` or ``default``. A corrupt entry is a counted miss.

        >>> c = CacheManager(); c.set("k", [1]); c.get("k"), c.get("nope", 0)
        True
        ([1], 0)
        """
        self._check()
        item = self._backend.get(key, MISSING)
        if item is MISSING:
            return default
        value = self._decode(key, item)
        if value is MISSING:
            return default
        if self._prefetched:
            self._prefetcher.served(key)
        return value

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """``{key: value}`` for the keys present (missing and corrupt ones omitted)."""
        self._check()
        out = read_many(self._backend, self._codec, keys, self._decode,
                        plain=type(self)._decode is CacheManager._decode)
        if self._prefetched:
            for key in out:
                self._prefetcher.served(key)
        return out

    def exists(self, key: Hashable) -> bool:
        """True if ``key`` is cached and not expired (no hit/miss counted)."""
        self._check()
        return self._backend.contains(key)

    def __contains__(self, key: Hashable) -> bool:
        return self.exists(key)

    def __len__(self) -> int:
        self._check()
        return int(self._backend.stats()["current_entries"])

    def ttl(self, key: Hashable) -> Optional[float]:
        """Remaining seconds of ``key``; ``math.inf`` if it never expires; None if missing."""
        self._check()
        return self._backend.ttl(key)

    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Cached keys, optionally filtered by a glob ``pattern`` (``*``, ``?``, ``[ab]``)."""
        self._check()
        return self._backend.keys(pattern)

    def get_metadata(self, key: Hashable) -> Optional[dict[str, Any]]:
        """Copy of the metadata stored with ``key`` ({} if none), None if missing.

        With a signing key, the metadata must match the digest signed into the value;
        anything else (rewritten in the store, or a value signed for another key) is
        None and counts in ``signature_failures``.
        """
        self._check()
        codec = self._codec
        if codec is None or codec.signer is None:
            return self._backend.get_metadata(key)
        entry = self._backend.get_entry(key)
        if entry is None:
            return None
        item, meta = entry
        if not codec.verify_bound(item, self._context(key), metadata_digest(meta)):
            return None
        return meta

    # ------------------------------------------------------------------ writes
    def set(self, key: Hashable, value: Any, ttl: Optional[float] = None,
            metadata: Optional[Mapping[str, Any]] = None, *,
            tags: Optional[Iterable[str]] = None, grace: Optional[float] = None) -> bool:
        """Cache ``value`` for ``ttl`` seconds (None = ``default_ttl``; ``math.inf`` = never).

        ``tags`` replace the key's tags (see :meth:`invalidate_tags`); ``grace`` keeps
        the entry ``grace`` seconds longer as stale (see :meth:`get_or_set`).
        Raises EntryTooLarge above ``max_entry_size`` (stored bytes) or ``max_bytes``,
        SerializationError if the serializer rejects the value, and ConfigError for a
        ``ttl`` that is not a positive number up to 1e11 seconds or ``math.inf``
        (bool, NaN, ``1e300``, ``10**400``). Returns True.
        """
        self._check()
        tagset = normalize_tags(tags) if tags else frozenset()
        if tagset and not self._tags_used:
            with self._state_lock:
                self._tags_used = True
                self._install_fast_path()  # plain writes must now drop the key's tags
        seconds = self._resolve_ttl(ttl, grace)
        item, size = self._encode(value, key, metadata)
        self._backend.set(key, item, seconds, size, metadata)
        self._sets.inc()
        self._tags.after_set(key, tagset, self._backend)
        if self._prefetched:
            self._prefetched.pop(key, None)
        return True

    def set_many(self, mapping: Mapping[Hashable, Any], ttl: Optional[float] = None) -> bool:
        """Cache every item of ``mapping`` with one ``ttl``: all of them or none.

        Every item is encoded before any is stored and the backend refuses the
        batch before storing any of it when one item is over ``max_bytes``, so an
        :class:`EntryTooLarge` or :class:`SerializationError` leaves the cache as it was.
        """
        self._check()
        seconds = self._resolve_ttl(ttl)
        items = {key: self._encode(value, key) for key, value in mapping.items()}
        self._backend.set_many(items, seconds)  # all or nothing (the backend contract)
        if self._tags:
            self._tags.forget_many(items)
        for _ in range(len(items)):
            self._sets.inc()
        if self._prefetched:
            for key in items:
                self._prefetched.pop(key, None)
        return True

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was cached."""
        self._check()
        removed = self._backend.delete(key)
        if self._tags:
            self._tags.forget(key)
        if removed:
            self._deletes.inc()
        return removed

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys``; the number that were cached."""
        self._check()
        keys = list(keys)
        n = self._backend.delete_many(keys)
        if self._tags:
            self._tags.forget_many(keys)
        for _ in range(n):
            self._deletes.inc()
        return n

    def invalidate(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern``; the number removed."""
        return self.delete_many(self.keys(pattern))

    def invalidate_tags(self, *tags: str) -> int:
        """Remove every key stored with any of ``tags`` by this manager; the number removed.

        >>> c = CacheManager(); _ = c.set("p:1", 1, tags=["products"]); c.invalidate_tags("products")
        1
        """
        self._check()
        n = self._tags.invalidate(tags, self._backend)
        for _ in range(n):
            self._deletes.inc()
        return n

    def clear(self) -> None:
        """Remove every entry (for shared backends: this manager's prefix only)."""
        self._check()
        self._backend.clear()
        self._tags.clear()
        self._prefetched.clear()

    def touch(self, key: Hashable, ttl: Optional[float] = None) -> bool:
        """Restart the expiry of ``key`` with ``ttl`` (None = ``default_ttl``); False if missing."""
        self._check()
        return self._backend.touch(key, self._resolve_ttl(ttl))

    # ------------------------------------------------------------------ single flight
    def get_or_set(self, key: Hashable, factory: Callable[[], Any], ttl: Optional[float] = None,
                   timeout: Optional[float] = None,
                   metadata: Optional[Mapping[str, Any]] = None, *,
                   tags: Optional[Iterable[str]] = None, grace: Optional[float] = None,
                   background: bool = False) -> Any:
        """Cached value of ``key``, else ``factory()`` stored with ``ttl`` (and ``tags``).

        However many threads miss ``key`` at once, ``factory`` runs once (in one of
        them, with no manager lock held); the others wait up to ``timeout``
        (default ``lock_timeout``; ``math.inf`` = as long as it takes) and get its
        value, or raise :class:`SingleFlightTimeout`. A ``timeout`` that is not a
        positive number up to ``threading.TIMEOUT_MAX`` (or inf) is a ConfigError. A factory exception reaches every waiter and
        nothing is cached. With ``grace`` the value is served stale for ``grace``
        seconds after ``ttl`` while one caller refreshes it (on a daemon thread
        with ``background=True``); see :mod:`fbacache.swr`.
        """
        if timeout is not None:  # NaN, 0, 1e300: refused now, not in a waiting thread
            check_duration(timeout, "timeout", wait=True)
        if grace is not None:
            grace = check_grace(grace)
            return self._swr.serve(
                key, factory, grace=grace, background=background,
                wait=self.config.lock_timeout if timeout is None else timeout,
                get=lambda: self.get(key, MISSING), remaining=lambda: self.ttl(key),
                load=lambda: self._load_once(key, factory, ttl, timeout, metadata, tags, grace),
                store=lambda v: self.set(key, v, ttl, metadata, tags=tags, grace=grace),
                single_flight=self._flight.do)
        value = self.get(key, MISSING)
        if value is not MISSING:
            return value
        return self._load_once(key, factory, ttl, timeout, metadata, tags, None, False)

    def _load_missed(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        # The compiled get_or_set's miss (already counted): load once with the defaults.
        return self._load_once(key, factory, None, None, None, None, None, False)

    def _load_once(self, key: Hashable, factory: Callable[[], Any], ttl: Optional[float],
                   timeout: Optional[float], metadata: Optional[Mapping[str, Any]],
                   tags: Optional[Iterable[str]], grace: Optional[float],
                   look_first: bool = True) -> Any:
        if look_first:  # False: the caller has just missed (count the miss once)
            value = self.get(key, MISSING)
            if value is not MISSING:
                return value

        def compute() -> Any:
            # Re-check without counting: a leader may have stored it just before we led.
            item = self._backend.peek(key, MISSING)
            if item is not MISSING:
                found = self._decode(key, item)
                if found is not MISSING:
                    return found
            fresh = factory()
            self.set(key, fresh, ttl, metadata, tags=tags, grace=grace)
            return fresh

        # SingleFlight turns math.inf into "no limit" (both were validated already).
        wait = self.config.lock_timeout if timeout is None else timeout
        return self._flight.do(key, compute, wait)

    # ------------------------------------------------------------------ prefetch
    def prefetch(self, endpoint: str, params: Optional[Mapping[str, Any]] = None,
                 priority: float = 0.5) -> bool:
        """Queue ``endpoint``/``params`` for loading; False if the bounded queue rejected it.

        Raises ConfigError('priority') unless ``priority`` is a number in [0, 1]; loading goes
        through :meth:`get_or_set`, so never twice and never over a fresh value.
        """
        self._check()
        return self._prefetcher.push(endpoint, params, priority)

    def prefetch_many(self, items: Iterable[Any]) -> int:
        """Queue many requests: dicts with endpoint/params/priority or tuples; number accepted."""
        n = 0
        for it in items:
            n += self.prefetch(*Prefetcher.request_args(it))
        return n

    def get_prefetch_queue(self) -> list[dict[str, Any]]:
        """Queued requests (endpoint, params, priority), highest priority first."""
        return self._prefetcher.queue.snapshot()

    def process_prefetch_queue(self, loader: Loader, max_items: Optional[int] = None) -> int:
        """Load queued requests in this thread with ``loader(endpoint, params)``; number loaded."""
        self._check()
        return self._prefetcher.process(loader, max_items)

    def start_prefetch_worker(self, loader: Loader) -> None:
        """Start a background thread that loads queued requests with ``loader``.

        Raises RuntimeError if a worker is already running.
        """
        self._check()
        with self._state_lock:
            self._prefetcher.start_worker(loader)

    def stop_prefetch_worker(self) -> None:
        """Stop the background prefetch worker, if any."""
        self._prefetcher.stop_worker()

    # ------------------------------------------------------------------ eviction control
    def evict_lru(self, count: int = 1) -> int:
        """Evict ``count`` entries in the policy's victim order (LRU order for 'lru')."""
        self._check()
        return len(self._backend.evict(count))

    def evict_low_probability(self, predictions: Mapping[Hashable, float], count: int = 1) -> int:
        """Evict the ``count`` cached keys with the lowest predicted probability of reuse."""
        self._check()
        ranked = sorted(predictions.items(), key=lambda kv: kv[1])
        victims: list[Hashable] = []
        for key, _ in ranked:
            if len(victims) >= count:
                break
            if self._backend.contains(key):
                victims.append(key)
        return self._backend.evict_keys(victims)

    def set_probabilities(self, predictions: Mapping[Hashable, float]) -> int:
        """Rank resident keys for the 'probability' policy; the number of keys updated."""
        self._check()
        return self._backend.set_probabilities(predictions)

    # ------------------------------------------------------------------ metrics
    def get_metrics(self) -> ManagerMetrics:
        """Counters, rates, sizes and codec timings (each key: docs/manager.md in the sdist)."""
        return manager_metrics(
            backend=self._backend, codec=self._codec, core_store=self._core_store,
            sets=self._sets, deletes=self._deletes, prefetcher=self._prefetcher,
            flight=self._flight, tags=self._tags, swr=self._swr, running=self._running)

    def check(self) -> None:
        """Verify the backend's and the tag index's invariants.

        Raises :class:`fbacache.errors.InvariantViolation` (an AssertionError) if one
        is broken; it is a real check under ``python -O`` too.
        """
        self._backend.check()
        self._tags.check()

    # seed-compatible aliases
    get_multi = get_many
    batch_set = set_many
    batch_delete = delete_many
    get_stats = get_metrics
