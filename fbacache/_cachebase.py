"""The cachetools ``Cache`` contract on top of a core index: the base of ``fbacache.caches``.

``_cache_base(core)`` builds the shared base class over the compiled index or its
twin; ``_Cache`` is that class over the loaded core.  Pickle and ``copy`` support
live here too (``__reduce__`` and ``_rebuild``).
"""
from __future__ import annotations

import time
import types
from collections.abc import ItemsView, KeysView, MutableMapping, ValuesView
from typing import (TYPE_CHECKING, Any, Callable, Generic, Hashable, Iterator, List, Mapping,
                    Optional, Tuple, TypeVar, Union, overload)

from fbacache._core import Index

_KT = TypeVar("_KT")
_VT = TypeVar("_VT")
_T = TypeVar("_T")

_MARKER: Any = object()


class _SnapshotKeys(KeysView):
    _mapping: Any  # set by MappingView.__init__

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._mapping._ordered_keys())


class _SnapshotItems(ItemsView):
    _mapping: Any

    def __iter__(self) -> Iterator[Tuple[Hashable, Any]]:
        return iter(self._mapping._ordered_items())


class _SnapshotValues(ValuesView):
    _mapping: Any

    def __iter__(self) -> Iterator[Any]:
        return iter([v for _, v in self._mapping._ordered_items()])


def _cache_base(core: Any) -> Any:
    """The cachetools ``Cache`` contract on top of ``core`` (compiled index or twin)."""

    class _Cache(core, MutableMapping):
        """Shared base: cachetools' ``Cache`` contract on top of a core index."""

        _core_keys = core.keys
        _core_items = core.items
        # the order of iteration and of the views (the timed caches: expiry order)
        _ordered_keys = core.keys
        _ordered_items = core.items

        _policy_name = "lru"

        # LRUCache[str, int] at run time, as cachetools allows (type checkers: see below)
        __class_getitem__: Any = classmethod(types.GenericAlias)

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            # remember the constructor call: pickle and copy rebuild the cache from it
            if core.__new__ is object.__new__:
                self = core.__new__(cls)
            else:
                self = core.__new__(cls, *args, **kwargs)
            self._init_args = (args, kwargs)
            return self

        @staticmethod
        def getsizeof(value: Any) -> float:
            """Return the size of a cache element's value (1 unless overridden)."""
            return 1

        def __init__(
            self,
            maxsize: float,
            getsizeof: Optional[Callable[[Any], float]] = None,
            *,
            timer: Callable[[], float] = time.monotonic,
            seed: Optional[int] = None,
            **options: Any,
        ) -> None:
            if maxsize < 0:
                raise ValueError("maxsize must be non-negative")
            if getsizeof is not None:
                # as in cachetools: an instance attribute shadows the method
                self.getsizeof = getsizeof  # type: ignore[method-assign, assignment]
            weighted = getsizeof is not None or type(self).getsizeof is not _Cache.getsizeof
            capacity = int(maxsize) if maxsize != float("inf") else None
            core.__init__(
                self,
                self._policy_name,
                max_entries=None if weighted else capacity,
                max_weight=capacity if weighted else None,
                timer=timer,
                seed=seed,
                **options,
            )
            self._maxsize = maxsize
            if weighted:
                self._sizeof = self._checked_size
            self._setup()
            # what a subclass's __init__ adds after this point is its own state: a
            # copy shares it, as a shallow copy of a cachetools cache does
            self._own_attrs = frozenset(getattr(self, "__dict__", ())) | {"_own_attrs"}

        def _setup(self) -> None:
            """Hook for the base classes' state made before ``_own_attrs`` is taken."""

        def _checked_size(self, value: Any) -> int:
            size = self.getsizeof(value)
            if size < 0:
                raise ValueError("value size must be non-negative")
            return size if type(size) is int else int(size)  # the core counts in integers

        @property
        def maxsize(self) -> float:
            """The maximum size of the cache."""
            return self._maxsize

        def __repr__(self) -> str:
            return "%s(%r, maxsize=%r, currsize=%r)" % (
                type(self).__name__, dict(core.items(self)), self.maxsize, self.currsize,
            )

        # get() and pop() are the core's own (it comes first in the MRO): no Python
        # frame on the hot path, and neither calls __missing__, as in cachetools.

        def setdefault(self, key: Hashable, default: Any = None) -> Any:
            """Return the value of ``key``; insert ``default`` first if absent."""
            value = core.get(self, key, _MARKER)
            if value is _MARKER:
                self[key] = value = default
            return value

        def __iter__(self) -> Iterator[Any]:
            return iter(self._ordered_keys())

        def keys(self) -> KeysView:
            """A view of the keys (iteration: eviction order, next victim first)."""
            return _SnapshotKeys(self)

        def items(self) -> ItemsView:
            """A view of the ``(key, value)`` pairs, without touching recency."""
            return _SnapshotItems(self)

        def values(self) -> ValuesView:
            """A view of the values, without touching recency."""
            return _SnapshotValues(self)

        def update(self, other: Any = (), /, **kwargs: Any) -> None:
            """Insert every pair of ``other`` and ``kwargs``."""
            pairs = other.items() if isinstance(other, Mapping) else other
            for key, value in pairs:
                self[key] = value
            for key, value in kwargs.items():
                self[key] = value

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, Mapping):
                return NotImplemented
            return dict(core.items(self)) == dict(other.items())

        __hash__ = None  # type: ignore[assignment]

        def _replay(self) -> list:
            """Live entries ``(key, value, weight, deadline)`` in the order that rebuilds
            this cache: set in this order, the copy evicts and expires as this one."""
            return [(k, v, core.weight(self, k), core.expiry(self, k)) for k, v in core.items(self)]

        def _expiry_order(self) -> Optional[List[Hashable]]:
            """Keys in expiry order, when a copy must keep it (the timed caches)."""
            return None

        def __reduce__(self) -> Tuple[Any, ...]:
            """Pickle and ``copy`` support: the constructor call, the live entries, and
            the attributes a subclass added in its ``__init__``.

            Entries are replayed so that the copy has the same eviction order (and, for
            the timed caches, the same deadlines and expiry order); a ProbabilityCache
            keeps every probability.  Deadlines are values of ``timer`` and mean
            something only on the same clock (as in cachetools).  Attributes set by a
            subclass (say a lock) are shared by a shallow copy, as in cachetools; a
            deep copy copies them.  ``on_evict``, LFU counts and adaptive state are
            not kept.
            """
            cls = getattr(type(self), "_pickle_class", type(self))
            entries = self._replay()
            probabilities = None
            if self.policy == "probability":
                probabilities = [core.probability(self, k) for k, _, _, _ in entries]
            own: frozenset = getattr(self, "_own_attrs", frozenset())
            state = {k: v for k, v in getattr(self, "__dict__", {}).items() if k not in own}
            args = (cls, self._init_args, entries, probabilities, self._expiry_order())
            return (_rebuild, args, state or None)

        def __setstate__(self, state: dict) -> None:
            # the subclass's own attributes, after _rebuild (the compiled core's
            # default __setstate__ refuses: its internals are not state to restore)
            self.__dict__.update(state)

    return _Cache


def _rebuild(cls: type, init_args: Tuple[tuple, dict], entries: list, probabilities: Optional[list],
             expiry_order: Optional[list] = None) -> Any:
    """Unpickle a cache pickled by ``_Cache.__reduce__``."""
    args, kwargs = init_args
    cache = cls(*args, **kwargs)
    for key, value, weight, deadline in entries:  # eviction order
        cache.set(key, value, weight, deadline)
    if probabilities is not None:
        cache.set_probabilities(zip([e[0] for e in entries], probabilities))
    if expiry_order:
        # re-set the deadlines in the source's expiry order: equal deadlines then
        # expire (and iterate) in the same order as in the source
        deadlines = {key: deadline for key, _, _, deadline in entries}
        for key in expiry_order:
            cache.set_expiry(key, deadlines[key])
    return cache


_VARIANTS: dict = {}


def _variant(cls: type, mixin: type) -> type:
    """``cls`` with ``mixin`` in front (one class per pair; it pickles as ``cls``).

    An instance switches to it when a constructor argument needs a Python-level
    path (a custom ``choice``, a ``timedelta`` ttl), so the common case keeps the
    core's own methods.
    """
    if (cls, mixin) not in _VARIANTS:
        _VARIANTS[cls, mixin] = type(cls.__name__, (mixin, cls),
                                     {"__module__": cls.__module__, "_pickle_class": cls})
    return _VARIANTS[cls, mixin]


if TYPE_CHECKING:
    from fbacache._core._index_py import Index as _TwinIndex

    class _Cache(_TwinIndex, MutableMapping[_KT, _VT], Generic[_KT, _VT]):
        """The class ``_cache_base(Index)`` builds, as type checkers see it.

        mypy cannot use a class made at run time as a base, so this declares its
        interface: the twin's (the compiled core has the same names) plus the
        cachetools ``Cache`` contract, generic in the key and value types.
        """

        _policy_name: str
        _init_args: Tuple[tuple, dict]
        _maxsize: float
        _own_attrs: frozenset

        def __init__(self, maxsize: float, getsizeof: Optional[Callable[[_VT], float]] = None,
                     *, timer: Callable[[], float] = time.monotonic,
                     seed: Optional[int] = None, **options: Any) -> None: ...
        def _setup(self) -> None: ...
        def _core_keys(self) -> List[Hashable]: ...
        def _core_items(self) -> List[Tuple[Hashable, Any]]: ...
        def _ordered_keys(self) -> List[Hashable]: ...
        def _ordered_items(self) -> List[Tuple[Hashable, Any]]: ...
        def _checked_size(self, value: Any) -> int: ...
        def _replay(self) -> list: ...
        def _expiry_order(self) -> Optional[List[Hashable]]: ...
        @staticmethod
        def getsizeof(value: Any) -> float: ...
        # cachetools' maxsize is the number given; the core's is its integer capacity
        @property
        def maxsize(self) -> float: ...  # type: ignore[override]
        # the mapping protocol in the key and value types (the core takes any Hashable)
        def __getitem__(self, key: _KT) -> _VT: ...  # type: ignore[override]
        def __setitem__(self, key: _KT, value: _VT) -> None: ...  # type: ignore[override]
        def __delitem__(self, key: _KT) -> None: ...  # type: ignore[override]
        def __contains__(self, key: object) -> bool: ...
        def __missing__(self, key: _KT) -> _VT: ...  # type: ignore[override]
        @overload  # type: ignore[override]
        def get(self, key: _KT) -> Optional[_VT]: ...
        @overload
        def get(self, key: _KT, default: Union[_VT, _T]) -> Union[_VT, _T]: ...
        def get(self, key: _KT, default: Any = None) -> Any: ...
        @overload  # type: ignore[override]
        def pop(self, key: _KT) -> _VT: ...
        @overload
        def pop(self, key: _KT, default: Union[_VT, _T]) -> Union[_VT, _T]: ...
        def pop(self, key: _KT, default: Any = None) -> Any: ...
        def popitem(self) -> Tuple[_KT, _VT]: ...
        def setdefault(self, key: _KT, default: _VT = ...) -> _VT: ...
        def __iter__(self) -> Iterator[_KT]: ...
        # views, where the core returns lists
        def keys(self) -> KeysView[_KT]: ...  # type: ignore[override]
        def items(self) -> ItemsView[_KT, _VT]: ...  # type: ignore[override]
        def values(self) -> ValuesView[_VT]: ...
        def update(self, other: Any = (), /, **kwargs: _VT) -> None: ...
        def __reduce__(self) -> Tuple[Any, ...]: ...
        def __setstate__(self, state: dict) -> None: ...
else:
    _Cache = _cache_base(Index)
