"""The backend seam: what a storage engine must do for :class:`fbacache.CacheManager`.

Backends only store and fetch (dogpile.cache's region/backend split). The
manager owns everything else: default TTLs, single-flight regeneration,
codecs and signing, size limits, prefetch and metrics. A backend receives
already-encoded *items* (bytes, or the objects themselves when it declares
``stores_objects`` and the manager runs with serialization ``none``) and a
relative ``ttl`` in seconds (None = no expiry) computed by the manager.

Contract for every backend:

- every method is thread-safe (the backend owns whatever lock it needs; the
  manager holds no lock while calling it);
- ``get``/``peek`` return ``default`` for a missing or expired key, never raise
  for a missing key; ``get`` counts a hit or miss, ``peek`` does not;
- ``ttl`` returns remaining seconds, ``math.inf`` for a key without expiry and
  None for a missing key;
- ``stats()`` returns at least hits, misses, evictions, expirations,
  current_entries and current_size_bytes;
- ``shared`` is True when processes other than this one can write the stored
  bytes (e.g. Redis): the manager then refuses plain pickle unless payloads are
  signed, and refuses serialization ``none``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Hashable, Iterable, Mapping, Optional

from fbacache._util import MISSING
from fbacache.signing import key_context

__all__ = ["Backend", "BackendSettings"]


@dataclass(frozen=True)
class BackendSettings:
    """What the manager passes to a backend constructor (derived from the config).

    ``options`` is ``CacheManagerConfig.backend_config`` (backend specific);
    ``timer`` is the manager's monotonic clock (expiry deadlines use it).
    """

    max_entries: Optional[int] = None
    max_bytes: Optional[int] = None
    eviction_policy: str = "lru"
    key_prefix: str = ""
    timer: Callable[[], float] = field(default=lambda: 0.0)
    seed: Optional[int] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Largest stored item the manager can decode (``max_decompressed_size``); a backend
    #: reading sizes it does not control (files) stops reading beyond it.
    max_item_size: Optional[int] = None


class Backend(ABC):
    """Abstract storage engine. Subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str] = "abstract"
    #: Other processes can write the stored bytes (they are untrusted input).
    shared: ClassVar[bool] = False
    #: Can hold live Python objects (needed by serialization ``none``).
    stores_objects: ClassVar[bool] = False

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ reads
    @abstractmethod
    def get(self, key: Hashable, default: Any = None) -> Any:
        """Stored item of ``key`` or ``default``; counts a hit or a miss."""

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Like :meth:`get` without touching policy order or hit/miss counters."""
        return self.get(key, default)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """``{key: item}`` for the keys present (one round trip where the engine allows)."""
        out = {}
        for k in keys:
            item = self.get(k, MISSING)
            if item is not MISSING:
                out[k] = item
        return out

    @abstractmethod
    def contains(self, key: Hashable) -> bool:
        """True if ``key`` is resident and not expired (no hit/miss counted)."""

    @abstractmethod
    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Resident keys, optionally only the str keys matching a glob ``pattern``."""

    @abstractmethod
    def ttl(self, key: Hashable) -> Optional[float]:
        """Remaining seconds, ``math.inf`` without expiry, None if missing."""

    def get_metadata(self, key: Hashable) -> Optional[dict[str, Any]]:
        """Metadata stored with ``key`` ({} if none), or None if the key is missing."""
        return {} if self.contains(key) else None

    def get_entry(self, key: Hashable) -> Optional[tuple[Any, dict[str, Any]]]:
        """``(item, metadata)`` of ``key`` without counting, or None if missing.

        The manager checks signed metadata against its item with this. The default
        reads the two apart; a shared backend should read both at once (one ``GET``).
        """
        missing = object()
        item = self.peek(key, missing)
        meta = self.get_metadata(key) if item is not missing else None
        return None if meta is None else (item, meta)

    def signing_context(self, key: Hashable) -> bytes:
        """What a signature binds a stored item to: this backend's namespace, the key's
        type and the key (:func:`fbacache.signing.key_context`). Shared backends whose
        namespace is not ``key_prefix`` override it."""
        return key_context(self.settings.key_prefix, key)

    # ------------------------------------------------------------------ writes
    @abstractmethod
    def set(self, key: Hashable, item: Any, ttl: Optional[float], size: int,
            metadata: Optional[Mapping[str, Any]] = None) -> None:
        """Store ``item`` (``size`` bytes) for ``ttl`` seconds (None = no expiry)."""

    def set_many(self, items: Mapping[Hashable, tuple[Any, int]], ttl: Optional[float]) -> None:
        """Store ``{key: (item, size)}`` with one ``ttl``."""
        for k, (item, size) in items.items():
            self.set(k, item, ttl, size)

    @abstractmethod
    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was present."""

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys``; the number that were present."""
        return sum(1 for k in keys if self.delete(k))

    def discard_if(self, key: Hashable, item: Any) -> bool:
        """Remove ``key`` only if it still holds ``item`` (drop a corrupt entry
        without racing a concurrent rewrite). Default: unconditional delete."""
        return self.delete(key)

    @abstractmethod
    def touch(self, key: Hashable, ttl: Optional[float]) -> bool:
        """Reset the expiry of ``key`` to ``ttl`` seconds from now (None = never)."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every entry this backend owns (for shared stores: our prefix only)."""

    # ------------------------------------------------------------------ eviction control
    def evict(self, count: int) -> list[Hashable]:
        """Evict up to ``count`` entries in policy order; the evicted keys.
        Engines that manage their own eviction (Redis) return []."""
        return []

    def evict_keys(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys`` counting them as evictions; the number removed."""
        return self.delete_many(keys)

    def set_probabilities(self, predictions: Mapping[Hashable, float]) -> int:
        """Rank resident keys for the probability policy; number of keys updated."""
        return 0

    # ------------------------------------------------------------------ housekeeping
    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Counters and sizes (see the module docstring for the required keys)."""

    def expire(self) -> int:
        """Drop expired entries now (engines that expire by themselves return 0)."""
        return 0

    def check(self) -> None:
        """Verify internal invariants; raise :class:`~fbacache.errors.InvariantViolation`
        (an AssertionError, raised explicitly so ``python -O`` keeps the check) if broken."""

    def suspend(self) -> None:
        """Stop background work (threads) while the manager is stopped; data is kept.

        ``resume()`` starts it again. Backends without background work do nothing.
        """

    def resume(self) -> None:
        """Restart what ``suspend()`` stopped (a no-op if it runs)."""

    def close(self) -> None:
        """Release connections and threads. The backend is unusable afterwards."""

    def __len__(self) -> int:
        return int(self.stats()["current_entries"])

