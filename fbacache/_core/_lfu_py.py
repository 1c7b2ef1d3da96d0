"""The LFU policy of the pure-Python twin; its compiled counterpart is ``_lfu.pxi``.

Same protocol as every twin policy (see ``_policies_py``); same victims as the compiled
frequency buckets: the lowest use count, ties to the least recently used.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Hashable, List, Set

__all__ = ["LFUPolicy"]


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
