"""Resolve policy names to the public cache classes for ``benchmarks/hitratio.py``.

Hit ratios are measured through the public classes only (``fbacache.LRUCache``
...), so the numbers are what a user of the library gets.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

PUBLIC = {"lru": "LRUCache", "lfu": "LFUCache", "fifo": "FIFOCache", "random": "RRCache",
          "adaptive": "AdaptiveCache"}


def resolve(name: str, allow_proto: bool = False) -> Tuple[str, Callable[[int], Any]]:
    """Return ``(label, factory)`` for a policy name.

    Raises ``KeyError`` for an unknown name.  ``allow_proto`` is accepted for the
    command line's sake; prototypes no longer exist (every policy is in the core).
    """
    if name not in PUBLIC:
        raise KeyError(f"unknown policy {name!r}; choose from {', '.join(PUBLIC)}")
    import fbacache

    return name, getattr(fbacache, PUBLIC[name])
