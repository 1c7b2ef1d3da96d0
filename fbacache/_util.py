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

import inspect
from typing import Any

__all__ = ["MISSING", "POLICIES", "is_async"]

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


def is_async(func: Any) -> bool:
    """True for coroutine and async generator functions, also behind a partial or an object
    whose ``__call__`` is one (the decorators refuse them: fbacache is synchronous).

    >>> async def f(): ...
    >>> is_async(f), is_async(len)
    (True, False)
    """
    call = getattr(func, "__call__", None)
    return any(inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
               for f in (func, call) if f is not None)
