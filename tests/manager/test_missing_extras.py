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


@pytest.mark.parametrize("module, extra, call", [
    ("msgpack", "msgpack", "CacheManager(serialization_format='msgpack')"),
    ("zstandard", "zstd", "CacheManager(serialization_format='pickle', compression='zstd')"),
    ("msgpack", "msgpack", "CacheManager(signing_key=b'k' * 32, serialization_format='pickle')"
                           ".set('k', 1, metadata={'m': 1})"),
])
def test_optional_codecs_name_their_extra(module, extra, call):
    out = _run_without(module, call)
    assert "MissingDependency:" in out and f"pip install 'fbacache[{extra}]'" in out, out


def test_the_default_manager_needs_no_optional_package():
    code = textwrap.dedent("""
        import sys
        for name in ("msgpack", "zstandard", "redis", "filelock", "prometheus_client"):
            sys.modules[name] = None  # as if not installed
        from fbacache import CacheManager, LRUCache, cached
        with CacheManager(default_ttl=60) as cache:
            cache.set("k", {"v": 1})
            assert cache.get("k") == {"v": 1}
            assert cache.get_or_set("n", lambda: 2) == 2
        @cached(ttl=60)
        def f(x):
            return x * 2
        assert f(2) == 4 and f(2) == 4
        c = LRUCache(maxsize=2); c["a"] = 1
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
