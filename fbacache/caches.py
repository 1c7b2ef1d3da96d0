"""cachetools-compatible mapping classes on the native core.

Switching from cachetools is one import::

    from fbacache import LRUCache, TTLCache   # was: from cachetools import ...

Constructor signatures, attributes (``maxsize``, ``currsize``, ``getsizeof``,
``ttl``, ``timer``), ``expire()``, ``popitem()`` and ``__missing__`` behave as
in cachetools 6+.  Deliberate differences (docs/caches.md lists them all):

* Eviction happens inside the core: overriding ``popitem()`` in a subclass
  does not change which key is evicted; use the ``on_evict`` hook to observe
  evictions.
* A read of an expired key removes it at once (cachetools waits for the next
  write or ``expire()``).
* ``RRCache`` uses the core's seedable generator unless a custom ``choice``
  is given (then eviction costs O(n), as in cachetools).
* ``keys()``, ``values()`` and ``items()`` are views over a snapshot taken in
  eviction order; iterating them never touches recency.
* ``timer`` is the clock callable itself, not a nesting context manager.
* ``pickle`` and ``copy`` rebuild a cache from its constructor arguments and its
  entries in eviction order (weights, deadlines and probabilities included); LFU
  counts and the adaptive policy's learned state start afresh.
* Instances are not thread-safe (as in cachetools); use ``CacheManager`` or a lock.
"""
from __future__ import annotations

import random
import time
from collections.abc import ItemsView, KeysView, MutableMapping, ValuesView
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterator, List, Mapping, Optional, Tuple

from fbacache._core import Index

__all__ = [
    "LRUCache", "LFUCache", "FIFOCache", "RRCache", "TTLCache", "TLRUCache",
    "ProbabilityCache", "AdaptiveCache",
]

_MARKER: Any = object()


class _SnapshotKeys(KeysView):
    _mapping: _Cache  # set by MappingView.__init__

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._mapping._core_keys())


class _SnapshotItems(ItemsView):
    _mapping: _Cache

    def __iter__(self) -> Iterator[Tuple[Hashable, Any]]:
        return iter(self._mapping._core_items())


class _SnapshotValues(ValuesView):
    _mapping: _Cache

    def __iter__(self) -> Iterator[Any]:
        return iter([v for _, v in self._mapping._core_items()])


def _cache_base(core: Any) -> Any:
    """The cachetools ``Cache`` contract on top of ``core`` (compiled index or twin)."""

    class _Cache(core, MutableMapping):
        """Shared base: cachetools' ``Cache`` contract on top of a core index."""

        _core_keys = core.keys
        _core_items = core.items

        _policy_name = "lru"

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            # remember the constructor call: pickle and copy rebuild the cache from it
            if core.__new__ is object.__new__:
                self = core.__new__(cls)
            else:
                self = core.__new__(cls, *args, **kwargs)
            self._init_args = (args, kwargs)
            return self

        @staticmethod
        def getsizeof(value: Any) -> float:
            """Return the size of a cache element's value (1 unless overridden)."""
            return 1

        def __init__(
            self,
            maxsize: float,
            getsizeof: Optional[Callable[[Any], float]] = None,
            *,
            timer: Callable[[], float] = time.monotonic,
            seed: Optional[int] = None,
            **options: Any,
        ) -> None:
            if maxsize < 0:
                raise ValueError("maxsize must be non-negative")
            if getsizeof is not None:
                # as in cachetools: an instance attribute shadows the method
                self.getsizeof = getsizeof  # type: ignore[method-assign, assignment]
            weighted = getsizeof is not None or type(self).getsizeof is not _Cache.getsizeof
            capacity = int(maxsize) if maxsize != float("inf") else None
            core.__init__(
                self,
                self._policy_name,
                max_entries=None if weighted else capacity,
                max_weight=capacity if weighted else None,
                timer=timer,
                seed=seed,
                **options,
            )
            self._maxsize = maxsize
            if weighted:
                self._sizeof = self._checked_size

        def _checked_size(self, value: Any) -> int:
            size = self.getsizeof(value)
            if size < 0:
                raise ValueError("value size must be non-negative")
            return size if type(size) is int else int(size)  # the core counts in integers

        @property
        def maxsize(self) -> float:
            """The maximum size of the cache."""
            return self._maxsize

        def __repr__(self) -> str:
            return "%s(%r, maxsize=%r, currsize=%r)" % (
                type(self).__name__, dict(core.items(self)), self.maxsize, self.currsize,
            )

        # get() and pop() are the core's own (it comes first in the MRO): no Python
        # frame on the hot path, and neither calls __missing__, as in cachetools.

        def setdefault(self, key: Hashable, default: Any = None) -> Any:
            """Return the value of ``key``; insert ``default`` first if absent."""
            value = core.get(self, key, _MARKER)
            if value is _MARKER:
                self[key] = value = default
            return value

        def keys(self) -> KeysView:
            """A view of the keys (iteration: eviction order, next victim first)."""
            return _SnapshotKeys(self)

        def items(self) -> ItemsView:
            """A view of the ``(key, value)`` pairs, without touching recency."""
            return _SnapshotItems(self)

        def values(self) -> ValuesView:
            """A view of the values, without touching recency."""
            return _SnapshotValues(self)

        def update(self, other: Any = (), /, **kwargs: Any) -> None:
            """Insert every pair of ``other`` and ``kwargs``."""
            pairs = other.items() if isinstance(other, Mapping) else other
            for key, value in pairs:
                self[key] = value
            for key, value in kwargs.items():
                self[key] = value

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, Mapping):
                return NotImplemented
            return dict(core.items(self)) == dict(other.items())

        __hash__ = None  # type: ignore[assignment]

        def __reduce__(self) -> Tuple[Any, ...]:
            """Pickle and ``copy`` support: the constructor call, then the live entries.

            Entries are ``(key, value, weight, deadline)`` in eviction order (next
            victim first), so replaying them rebuilds the same eviction order for the
            LRU, FIFO and TTL caches; a ProbabilityCache keeps every probability.
            Deadlines are values of ``timer`` and mean something only on the same
            clock (as in cachetools).  ``on_evict`` and attributes set after
            construction are not kept; LFU counts and adaptive state start afresh.
            """
            cls = getattr(type(self), "_pickle_class", type(self))
            entries = [(k, v, core.weight(self, k), core.expiry(self, k)) for k, v in core.items(self)]
            probabilities = None
            if self.policy == "probability":
                probabilities = [core.probability(self, k) for k, _, _, _ in entries]
            return (_rebuild, (cls, self._init_args, entries, probabilities))

    return _Cache


def _rebuild(cls: type, init_args: Tuple[tuple, dict], entries: list, probabilities: Optional[list]) -> Any:
    """Unpickle a cache pickled by ``_Cache.__reduce__``."""
    args, kwargs = init_args
    cache = cls(*args, **kwargs)
    for key, value, weight, deadline in entries:
        cache.set(key, value, weight, deadline)
    if probabilities is not None:
        cache.set_probabilities(zip([e[0] for e in entries], probabilities))
    return cache


if TYPE_CHECKING:
    from fbacache._core._index_py import Index as _TwinIndex

    class _Cache(_TwinIndex, MutableMapping[Any, Any]):
        """The class ``_cache_base(Index)`` builds, as type checkers see it.

        mypy cannot use a class made at run time as a base, so this declares its
        interface: the twin's (the compiled core has the same names) plus the
        cachetools ``Cache`` contract.  Keys and values are whatever the caller
        stored, as in an unparametrized cachetools ``Cache``.
        """

        _policy_name: str
        _init_args: Tuple[tuple, dict]
        _maxsize: float

        def __init__(self, maxsize: float, getsizeof: Optional[Callable[[Any], float]] = None,
                     *, timer: Callable[[], float] = time.monotonic,
                     seed: Optional[int] = None, **options: Any) -> None: ...
        def _core_keys(self) -> List[Hashable]: ...
        def _core_items(self) -> List[Tuple[Hashable, Any]]: ...
        def _checked_size(self, value: Any) -> int: ...
        @staticmethod
        def getsizeof(value: Any) -> float: ...
        # cachetools' maxsize is the number given; the core's is its integer capacity
        @property
        def maxsize(self) -> float: ...  # type: ignore[override]
        def setdefault(self, key: Hashable, default: Any = None) -> Any: ...
        def __iter__(self) -> Iterator[Any]: ...
        # views, where the core returns lists
        def keys(self) -> KeysView[Any]: ...  # type: ignore[override]
        def items(self) -> ItemsView[Any, Any]: ...  # type: ignore[override]
        def values(self) -> ValuesView[Any]: ...
        def update(self, other: Any = (), /, **kwargs: Any) -> None: ...
        def __reduce__(self) -> Tuple[Any, ...]: ...
else:
    _Cache = _cache_base(Index)


class LRUCache(_Cache):
    """Least Recently Used cache: evicts the entry unused for the longest time.

    >>> c = LRUCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2; _ = c["a"]; c["c"] = 3
    >>> sorted(c)
    ['a', 'c']
    """

    _policy_name = "lru"


class LFUCache(_Cache):
    """Least Frequently Used cache: evicts the least used entry (ties: least recent).

    >>> c = LFUCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2; _ = c["a"]; _ = c["a"]; c["c"] = 3
    >>> sorted(c)
    ['a', 'c']
    """

    _policy_name = "lfu"


class FIFOCache(_Cache):
    """First In First Out cache: evicts the oldest insertion, whatever its use.

    >>> c = FIFOCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2; _ = c["a"]; c["c"] = 3
    >>> sorted(c)
    ['b', 'c']
    """

    _policy_name = "fifo"


class RRCache(_Cache):
    """Random Replacement cache: evicts a uniformly random entry.

    ``seed`` (an fbacache extension) makes the victims reproducible.  A custom
    ``choice(sequence)`` function is honoured as in cachetools (O(n) eviction).

    >>> c = RRCache(maxsize=2, seed=1)
    >>> c.update({"a": 1, "b": 2, "c": 3})
    >>> len(c)
    2
    """

    _policy_name = "random"

    def __init__(
        self,
        maxsize: float,
        choice: Callable[[Any], Any] = random.choice,
        getsizeof: Optional[Callable[[Any], float]] = None,
        *,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(maxsize, getsizeof, seed=seed)
        self._choice = choice
        if choice is not random.choice and not isinstance(self, _ChoosingRRCache):
            # only a custom choice pays for Python-level eviction
            self.__class__ = _choosing_class(type(self))

    @property
    def choice(self) -> Callable[[Any], Any]:
        """The ``choice`` function used by the cache."""
        return self._choice


if TYPE_CHECKING:
    _ChoosingBase = RRCache  # the mixin only ever sits in front of an RRCache class
else:
    _ChoosingBase = object


class _ChoosingRRCache(_ChoosingBase):
    """Mixin for an ``RRCache`` with a custom ``choice``: evicts in Python, O(n)."""

    def __setitem__(self, key: Hashable, value: Any) -> None:
        if key not in self:
            size = self._sizeof(value) if self._sizeof is not None else 1
            while len(self) and self.victims_for(size):
                victim = self._choice(self._core_keys())
                self.delete(victim)
        super().__setitem__(key, value)


_CHOOSING: dict[type, type] = {}


def _choosing_class(cls: type) -> type:
    """``cls`` with the custom-choice eviction mixed in (one class per ``cls``)."""
    if cls not in _CHOOSING:
        _CHOOSING[cls] = type(cls.__name__, (_ChoosingRRCache, cls),
                              {"__module__": cls.__module__, "_pickle_class": cls})
    return _CHOOSING[cls]


class ProbabilityCache(_Cache):
    """Evicts the entry with the lowest externally assigned access probability.

    Keys never assigned a probability rank at ``default_probability``; ties go
    to the key whose probability was set first.

    >>> c = ProbabilityCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2
    >>> c.set_probabilities({"a": 0.9, "b": 0.1})
    2
    >>> c["c"] = 3
    >>> sorted(c)
    ['a', 'c']
    """

    _policy_name = "probability"

    def __init__(
        self,
        maxsize: float,
        getsizeof: Optional[Callable[[Any], float]] = None,
        default_probability: float = 0.5,
    ) -> None:
        super().__init__(maxsize, getsizeof, default_probability=default_probability)


class AdaptiveCache(_Cache):
    """Adaptive cache: balances recency and frequency on its own (see docs/adaptive.md).

    W-TinyLFU with a self-tuning window: a scan of one-time keys does not flush
    keys in repeated use.  ``seed`` seeds the admission jitter (default fixed).

    >>> c = AdaptiveCache(maxsize=3)
    >>> c["a"] = 1; _ = c["a"]; _ = c["a"]
    >>> for k in "bcdefg": c[k] = k  # a scan of keys used once
    >>> "a" in c, len(c)
    (True, 3)
    """

    _policy_name = "adaptive"

    def __init__(
        self,
        maxsize: float,
        getsizeof: Optional[Callable[[Any], float]] = None,
        *,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(maxsize, getsizeof, seed=seed)


class _TimedCache(_Cache):
    """Shared parts of the caches whose entries expire."""

    def __len__(self) -> int:
        Index.expire(self)
        return Index.__len__(self)

    @property
    def currsize(self) -> int:
        """The current size of the cache, after removing expired entries."""
        Index.expire(self)
        return Index.currsize.__get__(self)

    def expire(self, time: Optional[float] = None) -> list:
        """Remove expired items and return them as ``(key, value)`` pairs."""
        return Index.expire(self, time)

    def __repr__(self) -> str:
        Index.expire(self)
        return super().__repr__()


class TTLCache(_TimedCache):
    """LRU cache whose items expire ``ttl`` seconds after they were set.

    >>> now = [0.0]
    >>> c = TTLCache(maxsize=10, ttl=5, timer=lambda: now[0])
    >>> c["a"] = 1; now[0] = 6
    >>> "a" in c
    False
    """

    _policy_name = "lru"

    def __init__(
        self,
        maxsize: float,
        ttl: float,
        timer: Callable[[], float] = time.monotonic,
        getsizeof: Optional[Callable[[Any], float]] = None,
    ) -> None:
        super().__init__(maxsize, getsizeof, timer=timer)
        self._ttl = ttl
        self.item_ttl = ttl  # the core stamps every item set through the mapping protocol

    @property
    def ttl(self) -> float:
        """The time-to-live value of the cache's items."""
        return self._ttl


class TLRUCache(_TimedCache):
    """LRU cache with a per-item expiry computed by ``ttu(key, value, now)``.

    >>> now = [0.0]
    >>> c = TLRUCache(maxsize=10, ttu=lambda k, v, t: t + v, timer=lambda: now[0])
    >>> c["short"] = 1; c["long"] = 10; now[0] = 5
    >>> list(c)
    ['long']
    """

    _policy_name = "lru"

    def __init__(
        self,
        maxsize: float,
        ttu: Callable[[Any, Any, float], float],
        timer: Callable[[], float] = time.monotonic,
        getsizeof: Optional[Callable[[Any], float]] = None,
    ) -> None:
        super().__init__(maxsize, getsizeof, timer=timer)
        self._ttu = ttu

    @property
    def ttu(self) -> Callable[[Any, Any, float], float]:
        """The function computing an item's expiry time."""
        return self._ttu

    def __setitem__(self, key: Hashable, value: Any) -> None:
        now = self.timer()
        expires = self._ttu(key, value, now)
        if not (now < expires):
            # an already expired item replaces nothing: it removes the old one
            Index.delete(self, key)
            return
        size = 1 if self._sizeof is None else self._sizeof(value)
        Index.set(self, key, value, size, expires)
