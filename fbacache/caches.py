"""cachetools-compatible mapping classes on the native core.

Switching from cachetools is one import::

    from fbacache import LRUCache, TTLCache   # was: from cachetools import ...

Constructor signatures, attributes (``maxsize``, ``currsize``, ``getsizeof``,
``ttl``, ``ttu``, ``timer``), ``expire()``, ``popitem()`` and ``__missing__``
behave as in cachetools 8: cachetools' own tests for these classes pass on both
cores (the sdist's scripts/cachetools-suite.sh).  The differences that remain (its docs/caches.md
gives the reasons):

* Eviction happens inside the core: overriding ``popitem()`` in a subclass
  does not change which key is evicted; use the ``on_evict`` hook to observe
  evictions.  (``RRCache(choice=...)`` is honoured, at O(n) as in cachetools.)
* A read of an expired key removes it at once (cachetools waits for the next
  write or ``expire()``).
* ``keys()``, ``values()`` and ``items()`` are views over a snapshot, in eviction
  order (timed caches: expiry order, as cachetools' TTLCache); iterating them
  never touches recency.
* ``pickle`` and ``copy`` rebuild a cache from its constructor call, its entries
  (eviction and expiry order, weights, deadlines, probabilities) and the
  attributes its subclass added; LFU counts and adaptive state start afresh.
* Instances are not thread-safe (as in cachetools); use ``CacheManager`` or a lock.

The base class and copying live in ``fbacache._cachebase``; ``TTLCache`` and
``TLRUCache`` (and their clock view) in ``fbacache._timed``.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Callable, Hashable, Optional, TypeVar

from fbacache._cachebase import _Cache, _cache_base, _rebuild, _variant
from fbacache._timed import TLRUCache, TTLCache

_KT = TypeVar("_KT")
_VT = TypeVar("_VT")

__all__ = [
    "LRUCache", "LFUCache", "FIFOCache", "RRCache", "TTLCache", "TLRUCache",
    "ProbabilityCache", "AdaptiveCache",
]

# _cache_base and _rebuild stay importable from here (tests; caches pickled before the split)
_ = (_cache_base, _rebuild)


class LRUCache(_Cache[_KT, _VT]):
    """Least Recently Used cache: evicts the entry unused for the longest time.

    >>> c = LRUCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2; _ = c["a"]; c["c"] = 3
    >>> sorted(c)
    ['a', 'c']
    """

    _policy_name = "lru"


class LFUCache(_Cache[_KT, _VT]):
    """Least Frequently Used cache: evicts the least used entry (ties: least recent).

    >>> c = LFUCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2; _ = c["a"]; _ = c["a"]; c["c"] = 3
    >>> sorted(c)
    ['a', 'c']
    """

    _policy_name = "lfu"


class FIFOCache(_Cache[_KT, _VT]):
    """First In First Out cache: evicts the oldest insertion, whatever its use.

    >>> c = FIFOCache(maxsize=2)
    >>> c["a"] = 1; c["b"] = 2; _ = c["a"]; c["c"] = 3
    >>> sorted(c)
    ['b', 'c']
    """

    _policy_name = "fifo"


class RRCache(_Cache[_KT, _VT]):
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
            self.__class__ = _variant(type(self), _ChoosingRRCache)

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
        size = self._sizeof(value) if self._sizeof is not None else 1
        if size > self.maxsize:
            raise ValueError("value too large")  # before any eviction: a refusal changes nothing
        if self._sizeof is None:
            if key not in self:
                while len(self) >= self.maxsize:
                    self.delete(self._choice(self._core_keys()))
        else:
            # as cachetools: room for the difference; the key itself may be chosen
            kept = self.weight(key) if key in self else 0
            while self.currsize - kept + size > self.maxsize:
                victim = self._choice(self._core_keys())
                if victim == key:
                    kept = 0
                self.delete(victim)
        super().__setitem__(key, value)

    def popitem(self) -> Any:
        """Remove and return the pair of the key ``choice`` picks; KeyError when empty."""
        if not len(self):
            raise KeyError(f"{type(self).__name__} is empty") from None
        key = self._choice(self._core_keys())
        return key, self.pop(key)


class ProbabilityCache(_Cache[_KT, _VT]):
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


class AdaptiveCache(_Cache[_KT, _VT]):
    """Adaptive cache: balances recency and frequency on its own (the sdist's docs/adaptive.md).

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
