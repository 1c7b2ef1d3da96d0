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

Files pair with the compiled core by concept: LRU, FIFO, random and the policy switch are here
and in ``_index_c.pyx`` itself; LFU is ``_lfu_py.py`` / ``_lfu.pxi``; PROBABILITY is
``_heaps_py.py`` / ``_heaps.pxi``; the adaptive policy is ``_adaptive_py.py`` / ``_adaptive.pxi``.
"""
from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any, Dict, Hashable, List, Optional, Set

from ._heaps_py import ProbabilityPolicy
from ._lfu_py import LFUPolicy


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
