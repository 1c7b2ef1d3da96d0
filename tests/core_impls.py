"""The two core implementations side by side, for the session fixture ``core`` (tests/conftest.py).

fbacache binds its mapping classes to one core at import time (``fbacache._core.Index``). To run
the cache tests on both cores in one pytest run, :func:`load_core` executes ``fbacache/caches.py``
(and the private modules its classes are built in) a second time, as ``fbacache._caches_twin``,
with the twin's ``Index`` in place of the selected one. The copies are registered in
``sys.modules`` so their instances pickle like the real ones.
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


# The caches module and the private modules it builds its classes from, in import order: each is
# executed again under a twin name with the twin's Index, and sees the twin copies of the others.
_CACHE_MODULES = ("fbacache._cachebase", "fbacache._timed", "fbacache.caches")


def _twin_name(name: str) -> str:
    return TWIN_CACHES if name == "fbacache.caches" else name + "_twin"


def _twin_caches() -> ModuleType:
    if _core.CORE_IMPLEMENTATION == "py":
        return fbacache.caches  # the package already runs on the twin
    if TWIN_CACHES in sys.modules:
        return sys.modules[TWIN_CACHES]
    selected = _core.Index
    originals = {name: sys.modules[name] for name in _CACHE_MODULES}
    _core.Index = _core.PyIndex  # what `from fbacache._core import Index` picks up
    made: list[str] = []
    try:
        for name in _CACHE_MODULES:
            spec = importlib.util.spec_from_file_location(_twin_name(name),
                                                          originals[name].__file__)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[_twin_name(name)] = module  # instances pickle by this name
            made.append(_twin_name(name))
            sys.modules[name] = module  # the next module's `from fbacache.x import` sees it
            spec.loader.exec_module(module)
    except BaseException:
        for twin in made:
            sys.modules.pop(twin, None)
        raise
    finally:
        _core.Index = selected
        sys.modules.update(originals)
    return sys.modules[TWIN_CACHES]


def load_core(name: str) -> Optional[CoreImpl]:
    """The implementation ``name`` ("c" or "py"); None if "c" is not loaded."""
    if name == "c":
        if not _core.NATIVE:
            return None
        return CoreImpl("c", _core.Index, fbacache.caches)
    return CoreImpl("py", _core.PyIndex, _twin_caches())
