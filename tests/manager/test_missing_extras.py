"""An optional dependency that is not installed is a MissingDependency naming the extra."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _run_without(module: str, code: str) -> str:
    script = textwrap.dedent(f"""
        import sys
        sys.modules[{module!r}] = None  # as if not installed
        from fbacache import CacheManager
        from fbacache.errors import MissingDependency
        try:
            {code}
        except MissingDependency as exc:
            print("MissingDependency:", exc)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True).stdout


@pytest.mark.parametrize("backend", ["redis", "tiered"])
def test_redis_backend_without_redis_py_names_the_extra(backend):
    out = _run_without("redis", f"CacheManager(backend_type={backend!r}, "
                                "serialization_format='json')")
    assert "MissingDependency:" in out and "pip install 'fbacache[redis]'" in out, out
