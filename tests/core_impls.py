"""The two core implementations side by side, for the session fixture ``core`` (tests/conftest.py).

fbacache binds its mapping classes to one core at import time (``fbacache._core.Index``). To run
the cache tests on both cores in one pytest run, :func:`load_core` executes ``fbacache/caches.py``
a second time, as the module ``fbacache._caches_twin``, with the twin's ``Index`` in place of the
selected one. The copy is registered in ``sys.modules`` so its instances pickle like the real ones.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional

import fbacache.caches
from fbacache import _core

TWIN_CACHES = "fbacache._caches_twin"


@dataclass(frozen=True)
class CoreImpl:
    """One core: its name ("c" or "py"), its ``Index`` class and the caches module built on it."""

    name: str
    Index: Any
    caches: ModuleType

    def __repr__(self) -> str:
        return f"<core {self.name}>"


def _twin_caches() -> ModuleType:
    if _core.CORE_IMPLEMENTATION == "py":
        return fbacache.caches  # the package already runs on the twin
    if TWIN_CACHES in sys.modules:
        return sys.modules[TWIN_CACHES]
    spec = importlib.util.spec_from_file_location(TWIN_CACHES, fbacache.caches.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    selected = _core.Index
    _core.Index = _core.PyIndex  # what `from fbacache._core import Index` picks up
    try:
        sys.modules[TWIN_CACHES] = module
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(TWIN_CACHES, None)
        raise
    finally:
        _core.Index = selected
    return module


def load_core(name: str) -> Optional[CoreImpl]:
    """The implementation ``name`` ("c" or "py"); None if "c" is not loaded."""
    if name == "c":
        if not _core.NATIVE:
            return None
        return CoreImpl("c", _core.Index, fbacache.caches)
    return CoreImpl("py", _core.PyIndex, _twin_caches())
