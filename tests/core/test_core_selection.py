"""Which core loads: ``FBACACHE_NO_EXTENSIONS=1`` forces the twin, and the in-run twin copy of the
mapping classes (tests/core_impls.py) really runs on the twin."""
from __future__ import annotations

import os
import subprocess
import sys

import fbacache
from fbacache import _core
from fbacache._core import _index_py


def test_the_env_var_forces_the_twin() -> None:
    code = ("import fbacache, fbacache._core as c, fbacache._core._index_py as t; "
            "assert fbacache.CORE_IMPLEMENTATION == 'py' and not fbacache.NATIVE; "
            "assert c.Index is t.Index and issubclass(fbacache.LRUCache, t.Index); print('ok')")
    env = {**os.environ, "FBACACHE_NO_EXTENSIONS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_each_core_fixture_builds_its_caches_on_its_own_index(core) -> None:
    assert issubclass(core.caches.LRUCache, core.Index)
    assert core.caches.LRUCache(2).policy == "lru"
    if core.name == "py":
        assert core.Index is _index_py.Index
    else:
        assert _core.NATIVE and core.caches is fbacache.caches and core.Index is _core.Index
