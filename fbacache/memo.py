"""cachetools' ``@cached(cache, ...)``: memoize a function in any mutable mapping.

``fbacache.cached(cache, key=hashkey, lock=None, condition=None, info=False)``
comes here when its first argument is a mapping (an fbacache cache, a cachetools
cache, a dict, or anything with ``__getitem__``/``__setitem__``); it behaves as
``cachetools.cached``:

* ``key(*args, **kwargs)`` makes the cache key (``fbacache.keys.hashkey``).
* ``lock``: held around every use of the cache, never while the function runs;
  when two threads miss together, the value stored first wins.
* ``condition`` (its lock unless ``lock`` is given): a caller that misses a key
  another thread is computing waits for it instead of computing it too.
* ``info=True``: ``cache_info()`` returns ``CacheInfo(hits, misses, maxsize,
  currsize)``; ``cache_clear()`` empties the cache (and the counts).
* A value the cache refuses (``ValueError``: too large) is returned, not stored.

The wrapper has ``cache``, ``cache_key``, ``cache_lock`` and ``cache_condition``;
it binds as a method, and pickles and copies as a reference to itself.

>>> from fbacache import LRUCache, cached
>>> @cached(LRUCache(maxsize=32), info=True)
... def square(x):
...     return x * x
>>> square(3), square(3), square.cache_info()
(9, 9, CacheInfo(hits=1, misses=1, maxsize=32, currsize=1))
"""
from __future__ import annotations

import functools
import types
import sys
from typing import Any, Callable, Generic, NamedTuple, Optional, TypeVar

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover - 3.9
    from typing_extensions import ParamSpec

from fbacache._callkeys import hashkey

__all__ = ["CacheInfo", "MemoizedFunction", "is_cache_mapping", "memoize"]


class CacheInfo(NamedTuple):
    """``cache_info()`` of a memoized function, as ``functools.lru_cache``'s."""

    hits: int
    misses: int
    maxsize: Optional[float]
    currsize: int


def is_cache_mapping(obj: Any) -> bool:
    """True for an object ``cached`` can store results in (item get and set)."""
    return (obj is not None and not isinstance(obj, (str, bytes))
            and hasattr(type(obj), "__getitem__") and hasattr(type(obj), "__setitem__"))


class _NoLock:
    """The lock of a wrapper without one: entering it costs one call, counts nothing."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_NO_LOCK = _NoLock()


P = ParamSpec("P")
R = TypeVar("R")


class MemoizedFunction(Generic[P, R]):
    """A function memoized in a mapping (see the module docstring)."""

    __qualname__: str  # from the function, by functools.update_wrapper
    cache_info: Callable[[], CacheInfo]  # only with info=True

    def __init__(self, func: Callable[P, R], cache: Any, key: Callable[..., Any],
                 lock: Any, condition: Any, info: bool) -> None:
        # __dict__ not copied: a wrapped wrapper's attributes are not this one's
        functools.update_wrapper(self, func, updated=())
        self.cache = cache
        self.cache_key = key
        self.cache_lock = lock if lock is not None else condition
        self.cache_condition = condition
        self._func = func
        self._guard = self.cache_lock if self.cache_lock is not None else _NO_LOCK
        self._pending: set = set()
        self._hits = self._misses = 0
        if info:
            self.cache_info = self._cache_info

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> R:
        key = self.cache_key(*args, **kwargs)
        cache = self.cache
        if self.cache_condition is None:
            with self._guard:
                try:
                    value = cache[key]
                except KeyError:
                    self._misses += 1
                else:
                    self._hits += 1
                    return value
            value = self._func(*args, **kwargs)
            if self.cache_lock is None:
                try:
                    cache[key] = value
                except ValueError:
                    pass  # too large for the cache: returned, not stored
                return value
            with self._guard:
                try:
                    # another thread may have stored a value meanwhile: it wins
                    return cache.setdefault(key, value)
                except ValueError:
                    return value
        return self._call_once(key, args, kwargs)

    def _call_once(self, key: Any, args: Any, kwargs: Any) -> Any:
        """The ``condition`` path: one computation per key at a time."""
        cache, condition = self.cache, self.cache_condition
        with self._guard:
            while key in self._pending:
                condition.wait()
            try:
                value = cache[key]
            except KeyError:
                self._misses += 1
                self._pending.add(key)
            else:
                self._hits += 1
                return value
        try:
            value = self._func(*args, **kwargs)
            with self._guard:
                try:
                    cache[key] = value
                except ValueError:
                    pass
            return value
        finally:
            with self._guard:
                self._pending.discard(key)
                condition.notify_all()

    def _cache_info(self) -> CacheInfo:
        """Hits, misses, the cache's ``maxsize`` (None for a plain mapping) and its size."""
        with self._guard:
            cache = self.cache
            maxsize = getattr(cache, "maxsize", None)
            currsize = cache.currsize if hasattr(cache, "currsize") else len(cache)
            return CacheInfo(self._hits, self._misses, maxsize, currsize)

    def cache_clear(self) -> None:
        """Empty the cache and zero the counts."""
        with self._guard:
            self.cache.clear()
            self._hits = self._misses = 0

    def __get__(self, instance: Any, owner: Optional[type] = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __repr__(self) -> str:
        return f"<cached {self._func!r}>"

    def __reduce__(self) -> str:
        # pickled by reference, as a function is (module + qualified name)
        try:
            return self.__qualname__
        except AttributeError:
            raise TypeError(f"cannot pickle {self!r}: the function has no qualified name") from None

    def __copy__(self) -> "MemoizedFunction[P, R]":
        return self

    def __deepcopy__(self, memo: dict) -> "MemoizedFunction[P, R]":
        return self


def memoize(cache: Any, key: Callable[..., Any] = hashkey, lock: Any = None,
            condition: Any = None,
            info: bool = False) -> Callable[[Callable[P, R]], MemoizedFunction[P, R]]:
    """The decorator ``cached(cache, key, lock, condition, info)`` returns (see the module)."""
    if not is_cache_mapping(cache):
        raise TypeError(f"cached() needs a mutable mapping to store results in, got {cache!r}")

    def decorate(func: Callable[P, R]) -> MemoizedFunction[P, R]:
        return MemoizedFunction(func, cache, key, lock, condition, info)
    return decorate
