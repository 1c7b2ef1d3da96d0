"""Logging: under the `fbacache` logger, silent by default, never values."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from fbacache import (
    CacheMonitor, CacheWarmer, StaticDataCache, cache_invalidate, cached,
)

SECRET = "s3cr3t-value-7f1c"


def test_quiet_by_default_even_for_warnings():
    # A failing warm-up logs a WARNING; with no logging configured nothing is printed.
    code = textwrap.dedent("""
        import logging
        from fbacache import CacheManager, CacheWarmer
        w = CacheWarmer(CacheManager())
        w.warmup_cache("k", loader=lambda: 1 / 0)
        assert w.join(10) and w.stats()["errors"] == 1
        root = logging.getLogger("fbacache")
        assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
        print("done")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == "done"
    assert proc.stderr == ""


def test_every_component_logs_under_fbacache_without_values(make_manager, clock, caplog):
    m = make_manager(max_entries=8)
    with caplog.at_level(logging.DEBUG, logger="fbacache"):
        @cached(manager=m, ttl=10, grace=5, tags=["t"])
        def load(x):
            return {"secret": SECRET, "x": x}

        for i in range(100):
            load(i % 10)
        clock.advance(12)
        load(9)
        m.invalidate_tags("t")

        @cache_invalidate(keys=["*"], manager=m)
        def write():
            return SECRET
        write()

        with CacheWarmer(m) as w:
            w.warmup_cache("w", SECRET)
            w.warmup_cache("bad", loader=lambda: 1 / 0)
            w.warm_cache({1: SECRET}, "b:{}")
            w.join(10)
        static = StaticDataCache(m)
        static.refresh_static_data("s", lambda: SECRET)

        def failing():
            raise RuntimeError("refresh failed")
        m.get_or_set("g", lambda: SECRET, ttl=1, grace=5)
        clock.advance(2)
        m.get_or_set("g", failing, ttl=1, grace=5)
        mon = CacheMonitor(m)
        for _ in range(30):
            mon.record_metric("get", 500.0, hit=False)
        mon.get_performance_report()
    names = {r.name for r in caplog.records}
    assert names and all(n == "fbacache" or n.startswith("fbacache.") for n in names)
    assert {"fbacache.decorators", "fbacache.swr", "fbacache.warming", "fbacache.tags",
            "fbacache.monitor"} <= names
    assert any(r.exc_info for r in caplog.records)  # failures carry their traceback
    assert SECRET not in caplog.text  # cached values never reach a log message
