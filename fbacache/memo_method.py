"""cachetools' ``@cachedmethod``: memoize a method in a cache its instance provides.

``cachedmethod(cache, key=methodkey, lock=None, condition=None, info=False)``
takes callables of the instance: ``cache(self)`` returns the mapping to use,
``lock(self)`` and ``condition(self)`` the lock and condition (see fbacache.memo
for what each does).  The key leaves ``self`` out by default, so instances
sharing a cache share results; hits and misses are counted per instance.

Reached through an instance, the method is a per-instance wrapper with
``cache``, ``cache_key``, ``cache_lock``, ``cache_condition``, ``cache_clear()``
(and ``cache_info()`` with ``info=True``).  It is made on first use and kept in
the instance's ``__dict__`` under the method's name (a ``__slots__`` class
without ``__dict__`` is a TypeError), or, when reached through ``super()`` or
an alias, in a dict under ``"__cachetools_cachedmethods"`` (cachetools' name,
so code that looks there keeps working).  Copies and pickles of an instance get
wrappers of their own, with fresh counts.  Reached through the class, it is the
descriptor itself: callable with the instance first (``Cls.method(obj, ...)``)
and pickled by reference.

>>> from fbacache import LRUCache, cachedmethod
>>> class Prices:
...     def __init__(self):
...         self.cache = LRUCache(maxsize=100)
...     @cachedmethod(lambda self: self.cache, info=True)
...     def price(self, asin):
...         return len(asin)
>>> p = Prices()
>>> p.price("B01"), p.price("B01"), p.price.cache_info()
(3, 3, CacheInfo(hits=1, misses=1, maxsize=100, currsize=1))
"""
from __future__ import annotations

import copy
import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Optional

from fbacache._callkeys import methodkey
from fbacache.memo import _NO_LOCK, MemoizedFunction

__all__ = ["cachedmethod", "CachedMethod", "BoundCachedMethod"]

REGISTRY = "__cachetools_cachedmethods"  # instance-dict key of wrappers not stored by name

_UNNAMED = ("cachedmethod must be the outermost decorator of a method defined in a class "
            "body, and cannot decorate a class method (its __set_name__ was not called)")


def _store(obj: Any, name: str, make: Callable[[], Any], registry: Any = None) -> Any:
    """The wrapper kept in ``obj.__dict__`` (under ``name``, or in the registry under
    the descriptor ``registry``); made with ``make()`` and stored on first use."""
    try:
        space = obj.__dict__
    except AttributeError:
        raise TypeError(f"No '__dict__' attribute on {type(obj).__name__!r} instance "
                        f"to cache the {name!r} cachedmethod") from None
    if registry is None:
        found = space.get(name)
    else:
        found = space.get(REGISTRY, {}).get(registry)
    if isinstance(found, BoundCachedMethod):
        return found
    wrapper = make()
    try:
        if registry is None:
            # another thread may have stored one meanwhile: the first stored wins
            return space.setdefault(name, wrapper)
        return space.setdefault(REGISTRY, {}).setdefault(registry, wrapper)
    except TypeError:
        raise TypeError(f"The '__dict__' attribute on {type(obj).__name__!r} instance does not "
                        f"support item assignment for the {name!r} cachedmethod") from None


class CachedMethod:
    """The class attribute ``@cachedmethod`` makes (a descriptor)."""

    __qualname__: str  # from the method, by functools.update_wrapper

    def __init__(self, method: Callable[..., Any], cache: Callable[[Any], Any],
                 key: Callable[..., Any], lock: Optional[Callable[[Any], Any]],
                 condition: Optional[Callable[[Any], Any]], info: bool) -> None:
        functools.update_wrapper(self, method, updated=())
        self._method = method
        self._cache_of = cache
        self._key = key
        self._lock_of = lock
        self._condition_of = condition
        self._info = info
        self._name: Optional[str] = None
        self._owner: Optional[type] = None
        # the receiver may be passed by keyword to the class attribute: Cls.m(self=obj)
        try:
            params = list(inspect.signature(method).parameters.values())
        except (TypeError, ValueError):
            params = []
        first = params[0] if params else None
        self._receiver = (first.name if first is not None
                          and first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else None)

    def __set_name__(self, owner: type, name: str) -> None:
        if self._name is None:
            self._owner, self._name = owner, name
        elif name != self._name and owner is self._owner:
            # its wrappers live under one name in the instance dict
            raise TypeError(f"cannot give one cachedmethod two names ({self._name!r} and {name!r})")
        # another class taking it as an alias (class Alias: alias = Base.method): it keeps its name

    def _bind(self, obj: Any) -> "BoundCachedMethod":
        return BoundCachedMethod(self, obj)

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if self._name is None:
            raise TypeError(_UNNAMED)
        if obj is None:
            return self
        return self._wrapper(obj)

    def _wrapper(self, obj: Any) -> "BoundCachedMethod":
        name = self._name
        assert name is not None
        for cls in type(obj).__mro__:
            if name in cls.__dict__:
                mine = cls.__dict__[name] is self
                break
        else:
            mine = False  # deleted from the class: kept as for super()
        # under its name when that is how the instance finds it, else in the registry
        return _store(obj, name, lambda: self._bind(obj), None if mine else self)

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        """``Cls.method(obj, ...)``: the call through ``obj``'s wrapper."""
        if self._name is None:
            raise TypeError(_UNNAMED)
        if args:
            obj, args = args[0], args[1:]
        elif self._receiver is not None and self._receiver in kwargs:
            obj = kwargs.pop(self._receiver)
        else:
            raise TypeError(f"{self.__qualname__}() needs the instance as its first argument")
        return self._wrapper(obj)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<cachedmethod {self._method!r}>"

    def __reduce__(self) -> Any:
        # by reference: the attribute of its class (its qualified name may be another's,
        # as for ``alias = cachedmethod(...)(_private)``)
        if self._owner is not None:
            return getattr, (self._owner, self._name)
        return self.__qualname__

    def __copy__(self) -> "CachedMethod":
        return self

    def __deepcopy__(self, memo: dict) -> "CachedMethod":
        return self


if TYPE_CHECKING:
    _Bound = MemoizedFunction[..., Any]
else:  # Python 3.9's Generic refuses ``...`` for a typing_extensions ParamSpec at run time
    _Bound = MemoizedFunction


class BoundCachedMethod(_Bound):
    """A cached method reached through its instance (one per instance and method)."""

    def __init__(self, descriptor: CachedMethod, obj: Any) -> None:
        if not callable(descriptor._key):
            raise TypeError(f"cachedmethod key must be callable, got {descriptor._key!r}")
        functools.update_wrapper(self, descriptor._method, updated=())
        self._descriptor = descriptor
        self._obj = obj
        self._func = functools.partial(descriptor._method, obj)
        self.cache_key = functools.partial(descriptor._key, obj)
        self._pending: set = set()
        self._hits = self._misses = 0
        if descriptor._info:
            self.cache_info = self._cache_info

    # resolved on each use: an instance may replace its cache or lock
    @property
    def cache(self) -> Any:
        """The mapping this instance's results go to: ``cache(self)``."""
        return self._descriptor._cache_of(self._obj)

    @property
    def cache_condition(self) -> Any:
        """``condition(self)``, or None."""
        of = self._descriptor._condition_of
        return None if of is None else of(self._obj)

    @property
    def cache_lock(self) -> Any:
        """``lock(self)``, else the condition, else None."""
        of = self._descriptor._lock_of
        return of(self._obj) if of is not None else self.cache_condition

    @property
    def _guard(self) -> Any:  # type: ignore[override]
        lock = self.cache_lock
        return _NO_LOCK if lock is None else lock

    def __repr__(self) -> str:
        return f"<cachedmethod {self._descriptor._method!r} of {object.__repr__(self._obj)}>"

    def __reduce__(self) -> Any:
        # a copy of the instance gets its own wrapper (fresh counts), bound to the copy
        return _rebind, (self._descriptor, self._obj)

    def __copy__(self) -> "BoundCachedMethod":
        return self  # copy.copy(instance) shares its __dict__'s values, this one too

    def __deepcopy__(self, memo: dict) -> "BoundCachedMethod":
        return _rebind(self._descriptor, copy.deepcopy(self._obj, memo))


def _rebind(descriptor: CachedMethod, obj: Any) -> BoundCachedMethod:
    """Unpickle (or copy) a per-instance wrapper: a new one for ``obj``."""
    return descriptor._bind(obj)


def cachedmethod(cache: Callable[[Any], Any], key: Callable[..., Any] = methodkey,
                 lock: Optional[Callable[[Any], Any]] = None,
                 condition: Optional[Callable[[Any], Any]] = None,
                 info: bool = False) -> Callable[[Callable[..., Any]], CachedMethod]:
    """Decorate a method to memoize it in ``cache(self)`` (see the module docstring).

    Raises TypeError if ``cache`` is not callable (pass ``lambda self: self.cache``).
    """
    if not callable(cache) or isinstance(cache, type(None)):
        raise TypeError(f"cachedmethod() needs a callable returning the cache, got {cache!r}")

    def decorate(method: Callable[..., Any]) -> CachedMethod:
        return CachedMethod(method, cache, key, lock, condition, info)
    return decorate
