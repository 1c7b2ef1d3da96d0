"""Selects the compiled core or its pure-Python twin.

``CORE_IMPLEMENTATION`` is ``"c"`` when the Cython extension loaded and
``"py"`` when the reference twin is in use (no compiler at install time, or
``FBACACHE_NO_EXTENSIONS=1`` in the environment).  Without the extension and without
``FBACACHE_NO_EXTENSIONS``, importing warns once (:class:`fbacache.errors.PurePythonCoreWarning`);
with ``FBACACHE_REQUIRE_EXTENSIONS=1`` a missing extension is an ImportError.  ``NATIVE`` is the same
fact as a bool.  Both implementations expose the same names.

Files pair by concept and by name (compiled | twin):

====================  =================================  ==================================
concept               compiled (one extension module)    pure-Python twin
====================  =================================  ==================================
index, LRU/FIFO/RR    ``_index_c.pyx``                   ``_index_py.py``, ``_policies_py.py``
LFU buckets           ``_lfu.pxi``                       ``_lfu_py.py``
PROBABILITY heap      ``_heaps.pxi``                     ``_heaps_py.py``
expiry queue          ``_expiry.pxi``                    in ``_index_py.Index`` (a heapq)
adaptive policy       ``_adaptive.pxi``                  ``_adaptive_py.py``
store + front ends    ``_store.pxi``                     ``_store_py.py``
codec reader          ``_reader.pxi``                    ``_reader_py.py``
batch of replies      ``_batch.pxi``                     ``_batch_py.py``
memoized call         ``_memo.pxi``                      ``_memo_py.py``
====================  =================================  ==================================

The policy names are written once, in :data:`fbacache._util.POLICIES`.
"""
from __future__ import annotations

import os

from . import _batch_py, _index_py, _store_py

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
    except ImportError:  # no compiled core (installed without a C compiler): use the twin
        if os.environ.get("FBACACHE_REQUIRE_EXTENSIONS", "") not in ("", "0"):
            raise
        import warnings

        from fbacache.errors import PurePythonCoreWarning

        warnings.warn("fbacache's compiled core is not installed (no C compiler when it was "
                      "installed?): using the pure-Python core, same results but slower. "
                      "Reinstall with a C compiler, or set FBACACHE_NO_EXTENSIONS=1 to choose "
                      "the pure-Python core and silence this warning.",
                      PurePythonCoreWarning, stacklevel=2)
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
Reader = _store.Reader
MemoCall = _store.MemoCall
DEFAULT_TTL = _store.DEFAULT
PyStore = _store_py.Store
PyReader = _store_py.Reader  # defined in _reader_py
load_frames = _store.load_frames
strip_marker = _store.strip_marker
KeywordCall = _store.KeywordCall
load_replies = _batch_py.load_replies
prefix_keys = _batch_py.prefix_keys
msgpack_extent = _batch_py.msgpack_extent
if CORE_IMPLEMENTATION == "c":  # compiled into _index_c (_batch.pxi); mypy sees the twin
    load_replies = _impl.load_replies  # type: ignore[attr-defined]
    prefix_keys = _impl.prefix_keys  # type: ignore[attr-defined]
    msgpack_extent = _impl.msgpack_extent  # type: ignore[attr-defined]

__all__ = ["CORE_IMPLEMENTATION", "NATIVE", "Index", "POLICIES", "PyIndex", "Store", "Put", "GetOr",
           "Reader", "MemoCall", "DEFAULT_TTL",
           "PyStore", "PyReader", "load_frames", "strip_marker", "load_replies", "prefix_keys",
           "msgpack_extent",
           "KeywordCall"]
