"""The PROBABILITY policy of the pure-Python twin: a heap of (probability, stamp).

Its compiled counterpart is ``_heaps.pxi`` (the indexed heap the compiled core uses for this
policy and, through ``_expiry.pxi``, for deadlines; the twin's deadline heap lives in
``_index_py.Index``).
"""
from __future__ import annotations

import heapq
from typing import Any, Dict, Hashable, List, Set, Tuple

__all__ = ["ProbabilityPolicy"]


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
