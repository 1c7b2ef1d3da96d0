"""CacheMonitor: stats, percentiles, alerts with configurable thresholds, recommendations."""
from __future__ import annotations

import threading

import pytest

from fbacache import AlertThresholds, CacheMonitor, ConfigError

from fbacache.testing.clock import stress


def names(report):
    return {a["name"] for a in report["alerts"]}


def test_stats_and_percentiles():
    mon = CacheMonitor()
    for ms in range(1, 101):  # 1..100 ms
        mon.record_metric("get", float(ms), hit=ms > 10)
    mon.record_metric("set", 5.0)
    mon.record_metric("set", 7.0, error=True)
    r = mon.get_performance_report()
    s = r["stats"]
    assert (s["operations"], s["hits"], s["misses"], s["errors"]) == (102, 90, 10, 1)
    assert s["hit_rate"] == pytest.approx(0.9) and s["error_rate"] == pytest.approx(1 / 102)
    get = r["latency_ms"]["by_operation"]["get"]
    assert (get["p50"], get["p90"], get["p95"], get["p99"], get["max"]) == (50, 90, 95, 99, 100)
    assert get["mean"] == pytest.approx(50.5)
    assert r["latency_ms"]["by_operation"]["set"]["count"] == 2
    assert s["by_operation"]["set"] == {"count": 2, "errors": 1, "hits": 0, "misses": 0}


def test_default_thresholds_raise_alerts_with_advice():
    mon = CacheMonitor()
    for i in range(100):
        mon.record_metric("get", 250.0, hit=i % 2 == 0, error=i % 5 == 0)
    r = mon.get_performance_report()
    assert names(r) == {"low_hit_rate", "high_error_rate", "slow_responses"}
    assert r["status"] == "critical"
    low = next(a for a in r["alerts"] if a["name"] == "low_hit_rate")
    assert (low["value"], low["threshold"], low["severity"]) == (0.5, 0.8, "warning")
    text = " ".join(r["recommendations"])
    assert "hit rate is 50.0%" in text and "20.0% of operations failed" in text
    assert "slowest: 'get'" in text


def test_thresholds_are_configurable_and_validated():
    mon = CacheMonitor(thresholds=AlertThresholds(min_hit_rate=0.4, max_error_rate=0.5,
                                                  max_response_time_ms=500, min_samples=10))
    for i in range(20):
        mon.record_metric("get", 250.0, hit=i % 2 == 0)
    r = mon.get_performance_report()
    assert r["alerts"] == [] and r["status"] == "ok"
    assert r["thresholds"]["max_response_time_ms"] == 500
    few = CacheMonitor()
    for _ in range(5):
        few.record_metric("get", 999.0, hit=False)
    assert few.get_performance_report()["alerts"] == []  # below min_samples
    for bad in ({"min_hit_rate": 2}, {"max_error_rate": -1}, {"max_response_time_ms": 0},
                {"min_samples": -1}):
        with pytest.raises(ConfigError):
            AlertThresholds(**bad)
    with pytest.raises(ConfigError):
        CacheMonitor().record_metric("get", -1)
    with pytest.raises(ConfigError):
        CacheMonitor().record_metric("", 1)


def test_recommendations_use_the_manager_metrics(make_manager, clock):
    small = make_manager(max_entries=10)
    mon = CacheMonitor(small)
    for i in range(200):
        with mon.measure("get") as ctx:
            ctx["hit"] = small.get(f"k{i % 50}") is not None
        small.set(f"k{i % 50}", i)
    r = mon.get_performance_report()
    assert "low_hit_rate" in names(r)
    assert any("too small for the working set" in t for t in r["recommendations"])
    assert r["cache"]["evictions"] > 0

    short = make_manager()
    mon2 = CacheMonitor(short)
    for i in range(100):
        with mon2.measure("get") as ctx:
            ctx["hit"] = short.get("k") is not None
        if not ctx["hit"]:
            short.set("k", i, ttl=1)
        clock.advance(2)
    r2 = mon2.get_performance_report()
    assert any("expired before being reused" in t for t in r2["recommendations"])


def test_hit_rate_falls_back_to_manager_counters(manager):
    mon = CacheMonitor(manager)
    manager.set("a", 1)
    for _ in range(30):
        manager.get("a")
        manager.get("b")
    mon.record_metric("request", 3.0)
    r = mon.get_performance_report()
    assert r["stats"]["hit_rate"] == pytest.approx(0.5)
    assert "low_hit_rate" in names(r)


def test_measure_records_errors_and_reraises():
    mon = CacheMonitor()
    with pytest.raises(KeyError):
        with mon.measure("load"):
            raise KeyError("x")
    assert mon.get_performance_report()["stats"]["errors"] == 1


def test_healthy_report_and_window():
    mon = CacheMonitor(window=50)
    for i in range(500):
        mon.record_metric("get", 1.0 if i < 450 else 2.0, hit=True)
    r = mon.get_performance_report()
    assert r["latency_ms"]["count"] == 50 and r["latency_ms"]["p50"] == 2.0
    assert r["stats"]["operations"] == 500
    assert r["recommendations"][0].startswith("No action needed")
    mon.reset()
    assert mon.get_performance_report()["stats"]["operations"] == 0


def test_concurrent_recording():
    mon = CacheMonitor()
    n = stress(2000, 200)

    def work():
        for i in range(n):
            mon.record_metric("get", float(i % 7), hit=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert mon.get_performance_report()["stats"]["operations"] == 4 * n
    h = mon.histograms()["get"]
    assert h["count"] == 4 * n and h["buckets"][-1][1] == 4 * n
