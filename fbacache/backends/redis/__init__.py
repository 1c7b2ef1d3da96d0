"""The Redis backend and its plumbing (needs the ``redis`` extra).

``backend`` (:class:`RedisBackend`), ``client`` (connection options, standalone and cluster
clients), ``invalidation`` (the pub/sub bus for tiered L1s), ``fallback`` (degrade to a local
store), ``retry``/``backoff``/``circuit`` (redis-py-shaped resilience), ``forksafe``.

``from fbacache.backends.redis import RedisBackend`` keeps working; it is resolved lazily so
that importing e.g. ``fbacache.backends.redis.backoff`` does not import redis-py.

>>> import fbacache.backends.redis as r
>>> r.__name__
'fbacache.backends.redis'
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["RedisBackend"]


def __getattr__(name: str) -> Any:
    """Resolve :class:`RedisBackend` on first use (keeps redis-py out of plain imports)."""
    if name == "RedisBackend":
        return importlib.import_module("fbacache.backends.redis.backend").RedisBackend
    raise AttributeError(f"module 'fbacache.backends.redis' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from fbacache.backends.redis.backend import RedisBackend as RedisBackend
