"""Trace loading and Belady's optimum for ``benchmarks/hitratio.py``.

A trace is a text file (optionally gzip-compressed) holding one key per line.
Blank lines are skipped.  When every token is an integer the keys are the
integers themselves (what the published traces use); otherwise each distinct
token becomes a dense integer in order of first appearance, so that replays are
deterministic across processes (``str`` hashes are randomized per process).
"""
from __future__ import annotations

import gzip
import heapq
from pathlib import Path
from typing import Dict, List, Sequence

NEVER = 1 << 62  # "next use" of a key that is never requested again


def load_trace(path: str | Path) -> List[int]:
    """Return the keys of the trace at ``path`` (``.gz`` is decompressed).

    Raises ``ValueError`` when the file holds no key at all.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
        tokens = [line.strip() for line in fh]
    tokens = [t for t in tokens if t]
    if not tokens:
        raise ValueError(f"{path}: empty trace")
    try:
        return [int(t) for t in tokens]
    except ValueError:
        ids: Dict[str, int] = {}
        setdefault = ids.setdefault
        return [setdefault(t, len(ids)) for t in tokens]


def next_uses(keys: Sequence[int]) -> List[int]:
    """Return, for each position, the position of the next request of the same key (or NEVER)."""
    nxt = [NEVER] * len(keys)
    last: Dict[int, int] = {}
    for i in range(len(keys) - 1, -1, -1):
        k = keys[i]
        nxt[i] = last.get(k, NEVER)
        last[k] = i
    return nxt


def belady_hits(keys: Sequence[int], size: int, nxt: Sequence[int] | None = None) -> int:
    """Return the hits of Belady's clairvoyant optimum with ``size`` entries.

    On a miss with a full cache the key whose next request lies farthest in the
    future leaves; that may be the requested key itself (the optimum may decline
    to admit).  A max-heap of next-use times with lazy deletion makes this
    O(n log n).
    """
    if size <= 0:
        return 0
    if nxt is None:
        nxt = next_uses(keys)
    resident: Dict[int, int] = {}  # key -> its next use
    heap: List[tuple] = []  # (-next_use, key); stale when resident[key] differs
    push, pop = heapq.heappush, heapq.heappop
    hits = 0
    for i, k in enumerate(keys):
        n = nxt[i]
        if k in resident:
            hits += 1
            resident[k] = n
            push(heap, (-n, k))
            continue
        if n == NEVER:
            continue  # never requested again: admitting it cannot help
        if len(resident) >= size:
            while True:
                neg, v = heap[0]
                if resident.get(v) == -neg:
                    break
                pop(heap)
            if -neg <= n:
                continue  # every resident is needed sooner: bypass
            pop(heap)
            del resident[v]
        resident[k] = n
        push(heap, (-n, k))
        if len(heap) > 4 * size + 1024:
            heap = [(-u, key) for key, u in resident.items()]
            heapq.heapify(heap)
    return hits
