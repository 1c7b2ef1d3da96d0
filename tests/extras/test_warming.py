"""CacheWarmer (queued warm-up on a worker thread, batched bulk loads) and StaticDataCache."""
from __future__ import annotations

import threading
import time

import pytest

from fbacache import CacheWarmer, ConfigError, StaticDataCache


def test_warmup_queue_is_applied_by_the_worker(manager):
    worker_threads = set()

    def loader():
        worker_threads.add(threading.current_thread().name)
        return {"loaded": True}

    with CacheWarmer(manager) as w:
        assert w.warmup_cache("a", 1, ttl=30, tags=["warm"])
        assert w.warmup_cache("b", loader=loader)
        assert w.join(timeout=10)
        assert w.stats() == {"applied": 2, "rejected": 0, "errors": 0, "queued": 0}
    assert manager.get("a") == 1 and manager.get("b") == {"loaded": True}
    assert worker_threads == {"fbacache-warmer"}
    assert manager.ttl("a") == pytest.approx(30)
    assert manager.invalidate_tags("warm") == 1


def test_overwrite_false_keeps_cached_values_and_runs_no_loader(manager):
    manager.set("k", "cached")
    runs = []
    with CacheWarmer(manager) as w:
        w.warmup_cache("k", "new", overwrite=False)
        w.warmup_cache("k", loader=lambda: runs.append(1) or "x", overwrite=False)
        w.warmup_cache("fresh", "v", overwrite=False)
        assert w.join(10)
    assert manager.get("k") == "cached" and runs == [] and manager.get("fresh") == "v"


def test_full_queue_rejects_and_errors_do_not_stop_the_worker(manager):
    gate = threading.Event()
    w = CacheWarmer(manager, queue_size=2)
    try:
        w.warmup_cache("block", loader=lambda: gate.wait(10) and "done")
        # the worker holds "block"; two more fit in the queue, the next is rejected
        accepted = [w.warmup_cache(f"k{i}", i) for i in range(4)]
        assert accepted.count(False) >= 1
        gate.set()
        assert w.join(10)
        w.warmup_cache("bad", loader=lambda: 1 / 0)
        w.warmup_cache("after", 2)
        assert w.join(10)
        stats = w.stats()
        assert stats["errors"] == 1 and stats["rejected"] == accepted.count(False)
        assert manager.get("after") == 2 and "bad" not in manager
    finally:
        gate.set()
        w.stop()


def test_warmup_argument_checks(manager):
    w = CacheWarmer(manager, start=False)
    with pytest.raises(ConfigError):
        w.warmup_cache("k")
    with pytest.raises(ConfigError):
        w.warmup_cache("k", 1, loader=lambda: 2)
    with pytest.raises(ConfigError):
        CacheWarmer(manager, queue_size=0)


@pytest.mark.parametrize("size, batches", [(100, 3), (1, 250), (250, 1), (1000, 1)])
def test_warm_cache_from_a_mapping_in_batches(manager, size, batches):
    data = {i: {"id": i} for i in range(250)}
    w = CacheWarmer(manager, start=False)
    result = w.warm_cache(data, "product:{key}", batch_size=size)
    assert result == (250, batches)
    assert manager.get("product:17") == {"id": 17} and len(manager) == 250


def test_warm_cache_from_a_paginated_callable_and_pairs(manager):
    rows = [(f"B{i:03d}", i) for i in range(205)]
    pages = []

    def query(offset, limit):
        pages.append((offset, limit))
        return dict(rows[offset:offset + limit])

    w = CacheWarmer(manager, start=False)
    assert w.warm_cache(query, "asin:{}", batch_size=100, ttl=60) == (205, 3)
    assert pages == [(0, 100), (100, 100), (200, 100)]
    assert manager.get("asin:B204") == 204 and manager.ttl("asin:B204") == pytest.approx(60)
    assert w.warm_cache(iter(rows[:7]), "pair:{key}", batch_size=3) == (7, 3)
    assert w.warm_cache({}, "none:{}") == (0, 0)


def test_warm_cache_validation(manager):
    w = CacheWarmer(manager, start=False)
    for pattern in ("no-field", "x:{1}", "x:{other}", 5):
        with pytest.raises(ConfigError):
            w.warm_cache({1: 1}, pattern)
    with pytest.raises(ConfigError):
        w.warm_cache({1: 1}, "x:{}", batch_size=0)


def test_static_data_cache(manager, clock):
    static = StaticDataCache(manager, namespace="ref")
    assert static.cache_static_data("fees", {"fba": 2.5})
    assert static.get_static_data("fees") == {"fba": 2.5}
    clock.advance(10 ** 7)
    assert static.get_static_data("fees") == {"fba": 2.5}  # never expires by default
    assert static.get_static_data("missing", "dflt") == "dflt"
    assert static.keys() == ["fees"]
    assert manager.keys() == ["ref:fees"]
    assert static.invalidate_static_data("fees") == 1
    assert static.get_static_data("fees") is None
    static.cache_static_data("a", 1, ttl=5)
    static.cache_static_data("b", 2)
    assert static.invalidate_static_data() == 2


def test_static_refresh_reload_and_failure(make_manager):
    m = make_manager(max_entries=2)
    static = StaticDataCache(m)
    versions = iter(range(100))
    src = lambda: {"v": next(versions)}  # noqa: E731
    assert static.refresh_static_data("cats", src) == {"v": 0}
    m.set("x", 1)
    m.set("y", 2)  # evicts static:cats
    assert "static:cats" not in m
    assert static.get_static_data("cats") == {"v": 1}  # reloaded from the remembered source

    def broken():
        raise RuntimeError("source down")

    with pytest.raises(RuntimeError):
        static.refresh_static_data("cats", broken)
    assert static.get_static_data("cats") == {"v": 1}  # old value kept
    assert static.refresh_static_data("plain", [1, 2]) == [1, 2]
    with pytest.raises(ConfigError):
        static.cache_static_data("", 1)


def test_concurrent_refreshes_run_the_source_once(manager):
    entered, release = threading.Event(), threading.Event()
    runs = []

    def slow():
        runs.append(1)
        entered.set()
        release.wait(10)
        return "new"

    static = StaticDataCache(manager)
    out = []
    threads = [threading.Thread(target=lambda: out.append(static.refresh_static_data("k", slow)))
               for _ in range(5)]
    threads[0].start()
    assert entered.wait(10)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while manager.get_metrics()["single_flight_waits"] < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for t in threads:
        t.join(10)
    assert out == ["new"] * 5 and runs == [1]
