"""Reference eviction policies for the pure-Python twin of the core.

A policy only decides *which key goes*; the index (``_index_py.Index``) owns
storage, weights, expiry and capacity.  Every policy implements the same small
protocol, called by the index:

``insert(key)``  a new resident key            ``access(key)``  a hit on a resident key
``miss(key)``    a lookup of an absent key      ``remove(key)``  a key left, for any reason
``victim()``     the next key to evict          ``order()``      residents, next victim first
``clear()``      forget everything              ``check(keys)``  assert internal invariants

These classes favour obvious correctness over speed: they are the reference
the compiled core is tested against (same victims for every deterministic
policy), and the fallback where no C compiler exists.
"""
from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from typing import Any, Dict, Hashable, List, Optional, Set, Tuple


class LRUPolicy:
    """Least recently used: victims in order of last access (insert or hit)."""

    def __init__(self) -> None:
        self._order: "OrderedDict[Hashable, None]" = OrderedDict()

    def insert(self, key: Hashable) -> None:
        self._order[key] = None

    def access(self, key: Hashable) -> None:
        self._order.move_to_end(key)

    def miss(self, key: Hashable) -> None:
        pass

    def remove(self, key: Hashable) -> None:
        del self._order[key]

    def victim(self) -> Hashable:
        return next(iter(self._order))

    def order(self) -> List[Hashable]:
        return list(self._order)

    def clear(self) -> None:
        self._order.clear()

    def check(self, keys: Set[Hashable]) -> None:
        assert set(self._order) == keys, "LRU order does not match residents"


class FIFOPolicy(LRUPolicy):
    """First in, first out: a hit or a replacement keeps the original position."""

    def access(self, key: Hashable) -> None:
        pass


class LFUPolicy:
    """Least frequently used with O(1)-style frequency buckets.

    Ties between keys of the lowest frequency go to the least recently used of
    them (a bucket is kept in access order).  A new key starts at frequency 1.
    """

    def __init__(self) -> None:
        self._freq: Dict[Hashable, int] = {}
        self._buckets: Dict[int, "OrderedDict[Hashable, None]"] = {}

    def _place(self, key: Hashable, freq: int) -> None:
        self._freq[key] = freq
        self._buckets.setdefault(freq, OrderedDict())[key] = None

    def _unplace(self, key: Hashable) -> int:
        freq = self._freq.pop(key)
        bucket = self._buckets[freq]
        del bucket[key]
        if not bucket:
            del self._buckets[freq]
        return freq

    def insert(self, key: Hashable) -> None:
        self._place(key, 1)

    def access(self, key: Hashable) -> None:
        self._place(key, self._unplace(key) + 1)

    def miss(self, key: Hashable) -> None:
        pass

    def remove(self, key: Hashable) -> None:
        self._unplace(key)

    def victim(self) -> Hashable:
        return next(iter(self._buckets[min(self._buckets)]))

    def order(self) -> List[Hashable]:
        return [k for f in sorted(self._buckets) for k in self._buckets[f]]

    def frequency(self, key: Hashable) -> int:
        """Return the access count of a resident key."""
        return self._freq[key]

    def clear(self) -> None:
        self._freq.clear()
        self._buckets.clear()

    def check(self, keys: Set[Hashable]) -> None:
        assert set(self._freq) == keys, "LFU frequencies do not match residents"
        total = 0
        for freq, bucket in self._buckets.items():
            assert bucket, "empty LFU bucket kept"
            for key in bucket:
                assert self._freq[key] == freq
            total += len(bucket)
        assert total == len(keys)


class RandomPolicy:
    """Uniformly random victim among residents (seedable, 64-bit splitmix RNG)."""

    def __init__(self, seed: Optional[int] = None) -> None:
        self._keys: List[Hashable] = []
        self._pos: Dict[Hashable, int] = {}
        self._rng = SplitMix64(seed)

    def insert(self, key: Hashable) -> None:
        self._pos[key] = len(self._keys)
        self._keys.append(key)

    def access(self, key: Hashable) -> None:
        pass

    def miss(self, key: Hashable) -> None:
        pass

    def remove(self, key: Hashable) -> None:
        pos = self._pos.pop(key)
        last = self._keys.pop()
        if pos < len(self._keys):
            self._keys[pos] = last
            self._pos[last] = pos

    def victim(self) -> Hashable:
        return self._keys[self._rng.below(len(self._keys))]

    def predict(self, count: int) -> List[Hashable]:
        """Return the next ``count`` victims without consuming randomness."""
        rng = SplitMix64.from_state(self._rng.state)
        keys = list(self._keys)
        out: List[Hashable] = []
        while keys and len(out) < count:
            pos = rng.below(len(keys))
            out.append(keys[pos])
            last = keys.pop()
            if pos < len(keys):
                keys[pos] = last
        return out

    def order(self) -> List[Hashable]:
        return list(self._keys)

    def clear(self) -> None:
        self._keys.clear()
        self._pos.clear()

    def check(self, keys: Set[Hashable]) -> None:
        assert set(self._keys) == keys and len(self._keys) == len(keys)
        for pos, key in enumerate(self._keys):
            assert self._pos[key] == pos


class ProbabilityPolicy:
    """Evict the resident key with the lowest externally assigned probability.

    Ranks are ``(probability, stamp)``: ties go to the key whose rank was set
    earliest (insertion or last ``set_probability``).  Keys never assigned a
    probability rank at ``default``.
    """

    def __init__(self, default: float = 0.5) -> None:
        self.default = float(default)
        self._rank: Dict[Hashable, Tuple[float, int]] = {}
        self._heap: List[Tuple[float, int, Any]] = []
        self._stamp = 0

    def _push(self, key: Hashable, p: float) -> None:
        self._stamp += 1
        rank = (p, self._stamp)
        self._rank[key] = rank
        heapq.heappush(self._heap, (p, self._stamp, _Box(key)))
        if len(self._heap) > 2 * len(self._rank) + 16:
            self._heap = [(p, s, _Box(k)) for k, (p, s) in self._rank.items()]
            heapq.heapify(self._heap)

    def insert(self, key: Hashable) -> None:
        self._push(key, self.default)

    def set_probability(self, key: Hashable, p: float) -> None:
        self._push(key, p)

    def probability(self, key: Hashable) -> float:
        """Return the probability a resident key ranks by."""
        return self._rank[key][0]

    def access(self, key: Hashable) -> None:
        pass

    def miss(self, key: Hashable) -> None:
        pass

    def remove(self, key: Hashable) -> None:
        del self._rank[key]

    def _live(self, item: Tuple[float, int, Any]) -> bool:
        p, stamp, box = item
        return self._rank.get(box.key) == (p, stamp)

    def victim(self) -> Hashable:
        heap = self._heap
        while not self._live(heap[0]):
            heapq.heappop(heap)
        return heap[0][2].key

    def order(self) -> List[Hashable]:
        return sorted(self._rank, key=self._rank.__getitem__)

    def clear(self) -> None:
        self._rank.clear()
        self._heap.clear()

    def check(self, keys: Set[Hashable]) -> None:
        assert set(self._rank) == keys
        live = sum(1 for item in self._heap if self._live(item))
        assert live == len(keys), "probability heap lost a key"


class _Box:
    """Wraps a key in a heap item so that keys themselves are never compared."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key

    def __lt__(self, other: "_Box") -> bool:  # never reached: stamps are unique
        return False


MASK64 = (1 << 64) - 1


class SplitMix64:
    """The splitmix64 generator: tiny, fast, and identical in the C core."""

    def __init__(self, seed: Optional[int] = None) -> None:
        if seed is None:
            seed = random.getrandbits(64)
        self.state = seed & MASK64

    @classmethod
    def from_state(cls, state: int) -> "SplitMix64":
        rng = cls(0)
        rng.state = state
        return rng

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Return an integer in ``[0, n)`` (multiply-shift; bias < 2**-32 for n < 2**32)."""
        return ((self.next() >> 32) * n) >> 32


def make_policy(name: str, seed: Optional[int], default_probability: float, capacity: int) -> Any:
    """Build the reference policy called ``name``."""
    if name == "lru":
        return LRUPolicy()
    if name == "fifo":
        return FIFOPolicy()
    if name == "lfu":
        return LFUPolicy()
    if name == "random":
        return RandomPolicy(seed)
    if name == "probability":
        return ProbabilityPolicy(default_probability)
    if name == "adaptive":
        from ._adaptive_py import AdaptivePolicy

        return AdaptivePolicy(capacity, seed)
    raise ValueError(f"unknown eviction policy {name!r}")
