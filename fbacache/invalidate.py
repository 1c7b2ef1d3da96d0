"""``@cache_invalidate``: after a write succeeds, drop the cache entries it made stale.

Keys are glob patterns or exact keys with ``{name}`` fields filled from the call's arguments,
and/or ``@cached`` functions (cleared whole); tags likewise. A call that raises invalidates
nothing. Split from :mod:`fbacache.decorators` (which still re-exports it) to keep each
module small; it depends on that module, never the other way round.
"""
from __future__ import annotations

import functools
import inspect
import string
import sys
from typing import Any, Callable, Iterable, TypeVar

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover - 3.9
    from typing_extensions import ParamSpec

from fbacache._util import is_async
from fbacache.decorators import CachedFunction, ManagerRef, _resolve
from fbacache.errors import ConfigError
from fbacache.log import get_logger

__all__ = ["cache_invalidate"]

log = get_logger("decorators")

P = ParamSpec("P")
R = TypeVar("R")


def _fields(pattern: str) -> list[str]:
    names = []
    for _, field, _, _ in string.Formatter().parse(pattern):
        if field is not None:
            names.append(field.split(".")[0].split("[")[0])
    return names


def _is_glob(key: str) -> bool:
    return any(c in key for c in "*?[")


def cache_invalidate(keys: Iterable[Any] = (), *, tags: Iterable[str] = (),
                     manager: ManagerRef = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """After the decorated call *succeeds*, invalidate ``keys`` and ``tags``.

    ``keys`` holds glob patterns or exact keys (``"product:*"``), optionally with
    ``{name}`` fields filled from the call's arguments (``"product:{product_id}"``,
    ``"user:{self.user_id}:*"``), and/or ``@cached`` functions (cleared whole).
    ``tags`` may use the same fields. A call that raises invalidates nothing.
    Raises ConfigError at decoration time for a field that is not a parameter,
    and TypeError for an ``async def`` (or async generator) function: the
    library is synchronous, and the keys would be cleared before the write ran.

    >>> from fbacache import CacheManager, cache_invalidate
    >>> cache = CacheManager(); _ = cache.set("product:1", "old"); _ = cache.set("product:2", "x")
    >>> @cache_invalidate(keys=["product:{product_id}"], manager=cache)
    ... def update_product(product_id, data):
    ...     return "saved"
    >>> update_product(1, {}), cache.keys()
    ('saved', ['product:2'])
    """
    targets = list(keys)
    tag_patterns = list(tags)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        # Calling an async def only creates a coroutine: the wrapper would invalidate
        # before the write ran, and even when it then failed.
        if is_async(func):
            raise TypeError(f"@cache_invalidate cannot wrap the async function "
                            f"{getattr(func, '__qualname__', func)!r}: fbacache is "
                            "synchronous; invalidate after awaiting the write instead")
        sig = inspect.signature(func)
        for item in [*targets, *tag_patterns]:
            if isinstance(item, str):
                missing = [n for n in _fields(item) if n not in sig.parameters]
                if missing:
                    raise ConfigError("keys", f"{item!r} names {missing}, which are not "
                                      f"parameters of {func.__qualname__}")
            elif not isinstance(item, CachedFunction):
                raise ConfigError("keys", f"expected a key pattern or a @cached function, "
                                  f"got {item!r}")

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = func(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            mgr = _resolve(manager)
            removed = 0
            for item in targets:
                if isinstance(item, CachedFunction):
                    removed += item.cache_clear()
                    continue
                key = item.format_map(values) if _fields(item) else item
                removed += mgr.invalidate(key) if _is_glob(key) else int(mgr.delete(key))
            if tag_patterns:
                removed += mgr.invalidate_tags(
                    *(t.format_map(values) if _fields(t) else t for t in tag_patterns))
            log.debug("%s succeeded: %d entries invalidated", func.__qualname__, removed)
            return result
        return wrapper
    return decorate

