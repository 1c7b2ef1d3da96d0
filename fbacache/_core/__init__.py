"""Selects the compiled core or its pure-Python twin.

``CORE_IMPLEMENTATION`` is ``"c"`` when the Cython extension loaded and
``"py"`` when the reference twin is in use (no compiler at install time, or
``FBACACHE_NO_EXTENSIONS=1`` in the environment).  ``NATIVE`` is the same
fact as a bool.  Both implementations expose the same names.
"""
from __future__ import annotations

import os

from . import _index_py, _store_py

CORE_IMPLEMENTATION: str
NATIVE: bool

if os.environ.get("FBACACHE_NO_EXTENSIONS"):
    _impl = _index_py
    _store = _store_py
    CORE_IMPLEMENTATION = "py"
else:
    try:
        # mypy reads no extension modules: it sees the twin, which has the same names
        from . import _index_c as _impl  # type: ignore[attr-defined, no-redef]
        from . import _store_c as _store  # type: ignore[attr-defined, no-redef]

        CORE_IMPLEMENTATION = "c"
    except ImportError:  # no compiled core: fall back to the twin (both halves of it)
        _impl = _index_py
        _store = _store_py
        CORE_IMPLEMENTATION = "py"

NATIVE = CORE_IMPLEMENTATION == "c"
Index = _impl.Index
POLICIES = _impl.POLICIES
PyIndex = _index_py.Index
Store = _store.Store
Put = _store.Put
GetOr = _store.GetOr
MemoCall = _store.MemoCall
DEFAULT_TTL = _store.DEFAULT
PyStore = _store_py.Store

__all__ = ["CORE_IMPLEMENTATION", "NATIVE", "Index", "POLICIES", "PyIndex", "Store", "Put", "GetOr",
           "MemoCall", "DEFAULT_TTL",
           "PyStore"]
