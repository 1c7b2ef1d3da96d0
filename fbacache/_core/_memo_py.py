"""The pure-Python twin of the compiled memoized call: the reference for ``_memo.pxi``.

(``_memo.pxi`` is compiled into ``_index_c`` and re-exported by ``_store_c``; this
module's class is re-exported by ``_store_py``.)

A :class:`MemoCall` is the hit path of a memoizing front end (``@cached``): a call
whose arguments can key an in-process memo finds the call's cache key there (the
key was computed once, by ``key_of``), reads ``source.get(key)`` and counts a hit;
everything else goes to the front end's own code.
"""
from __future__ import annotations

from itertools import count
from typing import Any, Callable, Dict, Hashable, Optional

from fbacache._util import MISSING

__all__ = ["MemoCall"]

_DISTINCT = (str, int, bytes, type(None))


class MemoCall:
    """A memoizing function's hit path: ``call(*args)`` -> the cached result in one call.

    ``MemoCall(key_of, source, missed, slow, limit=1024, namespace=None)``. A call
    whose positional arguments are all exact str, int, bytes or None (no two of those
    compare equal across types, so the arguments themselves key the memo: a lone
    argument as it is, several as their tuple) and that has no keyword argument:
    its cache key is ``key_of(args)`` (remembered, up to ``limit`` entries, then all
    forgotten at once; ``key_of`` returning None means "do not remember": ``slow``),
    its value ``source.get(key, MISSING)``, with ``source.get`` looked up at each call
    (so a front end may swap its ``get``); then the hit is counted (``memo_hits``) and the
    value returned, or ``missed(key, args)`` runs (the miss was counted by that
    lookup). With a ``namespace`` dict, ``source`` is a name looked up in it at each
    call (a module global that may be replaced; None there means "not yet": slow).
    Any other call, and every call while ``enabled`` is False, is
    ``slow(*args, **kwargs)``. A front end may subclass this class.

    The compiled twin reads a store directly when ``source.get`` is a
    :class:`~fbacache._core.Store`'s own ``get`` (same code, no Python call) and
    counts hits exactly under threads (as ``itertools.count`` does here).

    >>> data = {"f:1": "one"}
    >>> class Src:
    ...     get = staticmethod(data.get)
    >>> m = MemoCall(lambda a: f"f:{a[0]}", Src, lambda k, a: ("miss", k),
    ...              lambda *a, **k: "slow")
    >>> m(1), m(2), m(1.0), m(x=1), m.memo_hits, m.memo_size
    ('one', ('miss', 'f:2'), 'slow', 'slow', 1, 2)
    """

    # Private names carry the memo_ prefix: a subclass (the @cached wrapper) has its own.
    def __init__(self, key_of: Callable[[tuple], Optional[str]], source: Any,
                 missed: Callable[[str, tuple], Any], slow: Callable[..., Any],
                 limit: int = 1024, namespace: Optional[Dict[str, Any]] = None) -> None:
        self._memo_keys: Dict[Hashable, str] = {}
        self.key_of = key_of
        self.source = source
        self.namespace = namespace
        self.missed = missed
        self.slow = slow
        self._memo_limit = limit
        self._memo_count = count()
        self.enabled = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or not self.enabled or not all(type(a) in _DISTINCT for a in args):
            return self.slow(*args, **kwargs)
        source = self.source
        if self.namespace is not None:
            source = self.namespace.get(source)
            if source is None:
                return self.slow(*args)
        mkey = args[0] if len(args) == 1 else args
        key = self._memo_keys.get(mkey)
        if key is None:
            key = self.key_of(args)
            if key is None:
                return self.slow(*args)
            if len(self._memo_keys) >= self._memo_limit:
                self._memo_keys.clear()
            self._memo_keys[mkey] = key
        value = source.get(key, MISSING)
        if value is MISSING:
            return self.missed(key, args)
        next(self._memo_count)
        return value

    @property
    def memo_hits(self) -> int:
        """Calls answered through the memo since construction or :meth:`reset_memo_hits`."""
        return int(repr(self._memo_count)[6:-1])  # "count(N)": read without advancing

    def reset_memo_hits(self) -> None:
        """Set :attr:`memo_hits` back to 0."""
        self._memo_count = count()

    @property
    def memo_size(self) -> int:
        """How many argument tuples have their key remembered."""
        return len(self._memo_keys)

    def forget_keys(self) -> None:
        """Forget every remembered key."""
        self._memo_keys.clear()
