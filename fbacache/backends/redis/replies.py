"""Redis replies to blobs, counted: what ``GET``/``MGET`` returned becomes a hit or a miss.

A reply is an envelope (:mod:`fbacache.backends.redis.envelope`) around the manager's blob.
Reads are untrusted: an envelope that does not parse is a counted corrupt envelope and a
miss; the manager verifies the blob's signature before decoding it. The counters are the
backend's (its ``stats()`` reports them); :class:`Replies` only adds to them.

>>> from fbacache.backends.redis.envelope import wrap_entry
>>> replies = Replies(Counter(), Counter(), Counter())
>>> replies.blobs(["a", "b", "c", "d"],
...               [wrap_entry(b"1"), None, b"junk", wrap_entry(b"2", {"tags": ["t"]})])
{'a': b'1', 'd': b'2'}
>>> replies.hits.value, replies.misses.value, replies.corrupt.value
(2, 2, 1)
"""
from __future__ import annotations

from typing import Any, Hashable, Iterable, Optional

from fbacache._core import strip_marker
from fbacache._util import MISSING
from fbacache.backends.redis.envelope import split_entry
from fbacache.metrics import Counter

__all__ = ["Replies"]


class Replies:
    """Reads replies into blobs, counting ``hits``, ``misses`` and ``corrupt`` envelopes."""

    def __init__(self, hits: Counter, misses: Counter, corrupt: Counter) -> None:
        self.hits = hits
        self.misses = misses
        self.corrupt = corrupt

    def item(self, raw: Optional[bytes], default: Any, count: bool) -> Any:
        """The blob in the envelope ``raw``, or ``default`` when missing or unreadable; counts
        a hit or a miss when ``count`` (a corrupt envelope always)."""
        if raw is None:
            if count:
                self.misses.inc()
            return default
        parts = split_entry(raw)
        if parts is None:
            self.corrupt.inc()
            if count:
                self.misses.inc()
            return default
        if count:
            self.hits.inc()
        return parts[0]

    def blobs(self, keys: list[Hashable], raws: Iterable[Optional[bytes]]) -> dict[Hashable, Any]:
        """``{key: blob}`` of one batch of replies (in the order of ``keys``), counted."""
        # envelopes without metadata (what set() writes) unwrapped in one compiled call,
        # the rest one by one
        out, misses, rest = strip_marker(keys, raws)
        self.hits.add(len(out))
        self.misses.add(misses)
        for key, raw in rest:
            item = self.item(raw, MISSING, True)  # counts itself
            if item is not MISSING:
                out[key] = item
        return out
