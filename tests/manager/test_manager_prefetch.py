"""Prefetch queue (bounded, coalescing, ordered), worker, and prefetch_hits accounting."""
from __future__ import annotations

import threading
import time

import pytest

from fbacache import ConfigError, generate_cache_key


def loader_factory(log):
    def loader(endpoint, params):
        log.append((endpoint, params))
        return {"endpoint": endpoint, "params": params}
    return loader


def test_queue_order_coalescing_and_bound(make_manager):
    m = make_manager(prefetch_queue_size=3)
    assert m.prefetch("/a", {"id": 1}, 0.2)
    assert m.prefetch("/b", None, 0.9)
    assert m.prefetch("/a", {"id": 1}, 0.6)  # duplicate: coalesced, priority raised
    assert m.prefetch("/a", {"id": 1}, 0.1)  # duplicate with lower priority: unchanged
    assert m.prefetch("/c", None, 0.4)
    assert m.get_prefetch_queue() == [
        {"endpoint": "/b", "params": None, "priority": 0.9},
        {"endpoint": "/a", "params": {"id": 1}, "priority": 0.6},
        {"endpoint": "/c", "params": None, "priority": 0.4},
    ]
    assert not m.prefetch("/d", None, 0.3)  # full, lower than everything queued
    assert m.prefetch("/e", None, 0.95)  # full, displaces the lowest (/c)
    assert [d["endpoint"] for d in m.get_prefetch_queue()] == ["/e", "/b", "/a"]
    metrics = m.get_metrics()
    assert metrics["prefetch_queue_size"] == 3 and metrics["prefetch_requests"] == 6  # accepted calls, coalesced included


def test_priority_is_validated(make_manager):
    m = make_manager()
    with pytest.raises(ConfigError) as info:
        m.prefetch("/a", None, 1.5)
    assert info.value.field == "priority"


def test_process_queue_and_prefetch_hits(make_manager):
    m = make_manager(serialization_format="none")
    log = []
    m.prefetch_many([{"endpoint": "/a", "params": {"p": 1}, "priority": 0.9},
                     ("/b", None, 0.1), {"endpoint": "/c"}])
    assert m.process_prefetch_queue(loader_factory(log)) == 3
    assert [e for e, _ in log] == ["/a", "/c", "/b"]
    key_a = generate_cache_key("/a", {"p": 1})
    assert m.get(key_a) == {"endpoint": "/a", "params": {"p": 1}}
    m.get(key_a)  # a second read of the same entry is not a second prefetch hit
    assert m.get_many([generate_cache_key("/b")]) != {}
    snap = m.get_metrics()
    assert snap["prefetch_hits"] == 2 and snap["prefetch_loads"] == 3
    assert snap["prefetch_hit_rate"] == pytest.approx(2 / 3)


def test_already_cached_items_are_not_reloaded(make_manager):
    m = make_manager()
    key = generate_cache_key("/a")
    m.set(key, "fresh")
    log = []
    m.prefetch("/a")
    m.process_prefetch_queue(loader_factory(log))
    assert log == [] and m.get(key) == "fresh"
    assert m.get_metrics()["prefetch_hits"] == 0


def test_overwritten_prefetched_entry_is_not_a_prefetch_hit(make_manager):
    m = make_manager()
    m.prefetch("/a")
    m.process_prefetch_queue(loader_factory([]))
    m.set(generate_cache_key("/a"), "user value")
    m.get(generate_cache_key("/a"))
    assert m.get_metrics()["prefetch_hits"] == 0


def test_background_worker_loads_queued_items(make_manager):
    log = []
    m = make_manager(prefetch_loader=loader_factory(log))
    for i in range(20):
        m.prefetch("/item", {"id": i}, priority=i / 20)
    deadline = time.monotonic() + 10
    while len(log) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(log) == 20
    assert m.get(generate_cache_key("/item", {"id": 3})) == {"endpoint": "/item",
                                                              "params": {"id": 3}}
    m.stop()  # joins the worker
    assert not any(t.name == "fbacache-prefetch" and t.is_alive()
                   for t in threading.enumerate())


def test_worker_survives_loader_errors(make_manager):
    m = make_manager()
    calls = []

    def loader(endpoint, params):
        calls.append(endpoint)
        if endpoint == "/bad":
            raise RuntimeError("upstream 500")
        return 1

    m.start_prefetch_worker(loader)
    with pytest.raises(RuntimeError):
        m.start_prefetch_worker(loader)
    m.prefetch("/bad", None, 0.9)
    m.prefetch("/good", None, 0.1)
    deadline = time.monotonic() + 10
    while not m.exists(generate_cache_key("/good")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m.get(generate_cache_key("/good")) == 1 and calls == ["/bad", "/good"]
    m.stop_prefetch_worker()
