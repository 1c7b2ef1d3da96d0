"""cachetools-style call keys: ``hashkey``, ``methodkey``, ``typedkey``, ``typedmethodkey``.

Re-exported by ``fbacache.keys``.  A key is a tuple (of type :class:`CallKey`) built
from the call's arguments, for the mapping form of ``fbacache.cached`` and for
``fbacache.cachedmethod``: equal arguments give equal keys (``1`` and ``1.0`` too,
unless typed), keyword arguments are keyed by name whatever their order, and an
unhashable argument makes the key unhashable (``TypeError`` when it is used).

>>> from fbacache.keys import hashkey, typedkey
>>> hashkey(1, x=2) == hashkey(1.0, x=2), typedkey(1) == typedkey(1.0)
(True, False)
"""
from __future__ import annotations

from typing import Any, Hashable, Tuple

__all__ = ["CallKey", "hashkey", "methodkey", "typedkey", "typedmethodkey"]


class CallKey(Tuple[Hashable, ...]):
    """A call key: a tuple whose hash is computed once (keys are hashed on every lookup)."""

    _hash: int

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            self._hash = h = tuple.__hash__(self)
            return h

    def __add__(self, other: Any) -> "CallKey":
        return CallKey(tuple(self) + tuple(other))

    def __radd__(self, other: Any) -> "CallKey":
        return CallKey(tuple(other) + tuple(self))

    def __reduce__(self) -> Any:
        # not the cached hash: a str's hash differs between processes
        return CallKey, (tuple(self),)


class _KeywordMark:
    """Separates positional from keyword arguments in a key (pickles as itself)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_KEYWORDS"

    def __repr__(self) -> str:
        return "<keywords>"


_KEYWORDS = _KeywordMark()
_EMPTY = CallKey()


def hashkey(*args: Hashable, **kwargs: Hashable) -> CallKey:
    """The key of a call with these arguments (``1`` and ``1.0`` give equal keys)."""
    if not kwargs:
        return CallKey(args) if args else _EMPTY
    return CallKey(args + (_KEYWORDS,) + tuple(sorted(kwargs.items())))


def methodkey(self: Any, /, *args: Hashable, **kwargs: Hashable) -> CallKey:
    """:func:`hashkey` without the first positional argument (the instance)."""
    return hashkey(*args, **kwargs)


def typedkey(*args: Hashable, **kwargs: Hashable) -> CallKey:
    """:func:`hashkey` that tells arguments of different types apart (``1``, ``1.0``, ``True``)."""
    key = hashkey(*args, **kwargs)
    key += tuple(type(v) for v in args)
    key += tuple(type(v) for _, v in sorted(kwargs.items()))
    return key


def typedmethodkey(self: Any, /, *args: Hashable, **kwargs: Hashable) -> CallKey:
    """:func:`typedkey` without the first positional argument (the instance)."""
    return typedkey(*args, **kwargs)
