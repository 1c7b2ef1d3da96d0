"""Small primitives shared across the package; imports nothing from fbacache.

``MISSING`` is the one "no value" sentinel (distinct from a cached ``None``): the manager,
its components and the backends pass it as ``default`` and compare with ``is``.  It used to be
defined in :mod:`fbacache.codecs` (still re-exported there) with private copies in seven
modules.

>>> from fbacache._util import MISSING
>>> MISSING, {"k": 1}.get("x", MISSING) is MISSING
(MISSING, True)
>>> import pickle; pickle.loads(pickle.dumps(MISSING)) is MISSING
True
"""
from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "POLICIES"]

#: Eviction policy names, written once: the compiled core numbers its policies by their
#: position here (so append, never reorder), the twin and ``CacheManagerConfig`` validate
#: against it.
POLICIES = ("lru", "lfu", "fifo", "random", "probability", "adaptive")


class _Missing:
    """Sentinel type: "no value" (distinct from a cached ``None``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles as this module's singleton


MISSING: Any = _Missing()
