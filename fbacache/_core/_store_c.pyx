# cython: language_level=3
"""The compiled store, re-exported: its code is ``_store.pxi``, built into ``_index_c``.

Living in the index's module lets each store operation call the index's C
methods directly (no Python call, no boxing of the weight and the deadline);
this module keeps the ``_store_c`` / ``_store_py`` pair that the selector in
``fbacache._core`` and the tests name. Read ``_store.pxi`` for the locking rules
and ``_store_py.py`` for the semantics.
"""
from fbacache._core._index_c import (DEFAULT, GetOr, MemoCall, Put, Reader, Store, SWEEP_EVERY,
                                     load_frames, strip_marker, KeywordCall)

__all__ = ["Store", "Put", "GetOr", "Reader", "MemoCall", "DEFAULT", "SWEEP_EVERY", "load_frames",
           "strip_marker", "KeywordCall"]
