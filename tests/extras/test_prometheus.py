"""Prometheus collector and /metrics server, scraped over HTTP on loopback."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from fbacache import CacheManager, CacheMonitor, start_metrics_server
from fbacache.backends import register_backend
from fbacache.backends.memory import MemoryBackend

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_scrape_counters_gauges_and_histograms(manager):
    mon = CacheMonitor(manager)
    manager.set("a", "x" * 100)
    manager.get("a"), manager.get("a"), manager.get("missing")
    mon.record_metric("get", 3.0, hit=True)
    mon.record_metric("get", 40.0, hit=False, error=True)
    server = start_metrics_server(manager, port=0, cache_name="products", monitor=mon)
    try:
        assert server.addr == "127.0.0.1" and server.port > 0
        text, s = scrape(server.url)
        lab = {"cache": "products", "backend": "memory"}
        assert value(s, "fbacache_up", **lab) == 1.0
        assert value(s, "fbacache_hits_total", **lab) == 2.0
        assert value(s, "fbacache_misses_total", **lab) == 1.0
        assert value(s, "fbacache_sets_total", **lab) == 1.0
        assert value(s, "fbacache_entries", **lab) == 1.0
        assert value(s, "fbacache_size_bytes", **lab) > 100
        # no lifetime hit-ratio gauge: the ratio is computed from the counters in PromQL
        assert not any(k[0] == "fbacache_hit_ratio" for k in s)
        assert value(s, "fbacache_capacity_entries", **lab) == float(manager.config.max_entries)
        assert value(s, "fbacache_prefetch_queue_depth", **lab) == 0.0
        assert value(s, "fbacache_single_flight_waits_total", **lab) == 0.0
        import fbacache
        assert value(s, "fbacache_info", version=fbacache.__version__,
                     core=fbacache.CORE_IMPLEMENTATION) == 1.0
        assert not any(k[0].startswith("fbacache_backend_") for k in s)  # memory: no shared state
        assert value(s, "fbacache_evictions_total", **lab) == 0.0
        assert ("fbacache_codec_seconds_total",
                tuple(sorted({**lab, "stage": "serialize"}.items()))) in s
        op = {**lab, "operation": "get"}
        assert value(s, "fbacache_operation_duration_seconds_count", **op) == 2.0
        assert value(s, "fbacache_operation_duration_seconds_bucket", **op, le="0.005") == 1.0
        assert value(s, "fbacache_operation_duration_seconds_bucket", **op, le="+Inf") == 2.0
        assert value(s, "fbacache_operation_duration_seconds_sum", **op) == pytest.approx(0.043)
        assert value(s, "fbacache_operation_errors_total", **op) == 1.0
        assert "# TYPE fbacache_hits_total counter" in text
        # a later scrape sees new activity (read at scrape time)
        manager.get("a")
        _, s2 = scrape(server.url)
        assert value(s2, "fbacache_hits_total", **lab) == 3.0
    finally:
        server.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_down_manager_reports_up_zero(manager):
    with start_metrics_server(manager, port=0) as server:
        manager.stop()
        _, s = scrape(server.url)
        assert value(s, "fbacache_up", cache="default", backend="memory") == 0.0


class UnreachableStats(MemoryBackend):
    """A backend whose stats call fails, like a store that went away."""

    name = "unreachable-stats"

    def stats(self):
        raise ConnectionError("backend unreachable")


def test_broken_backend_reports_up_zero():
    register_backend("unreachable-stats", UnreachableStats, replace=True)
    manager = CacheManager(backend_type="unreachable-stats")
    manager.set("k", 1)
    with start_metrics_server(manager, port=0) as server:
        _, s = scrape(server.url)
        assert value(s, "fbacache_up", cache="default", backend="unreachable-stats") == 0.0
        assert not any(k[0] == "fbacache_hits_total" for k in s)


def test_two_caches_on_one_registry_and_port_in_use():
    a, b = CacheManager(), CacheManager()
    a.set("k", 1)
    reg = prometheus_client.CollectorRegistry()
    with start_metrics_server(a, port=0, cache_name="a", registry=reg) as s1:
        from fbacache.extras.prometheus import register
        register(b, cache_name="b", registry=reg)
        text, s = scrape(s1.url)
        assert value(s, "fbacache_entries", cache="a", backend="memory") == 1.0
        assert value(s, "fbacache_entries", cache="b", backend="memory") == 0.0
        assert text.count("# TYPE fbacache_hits_total counter") == 1
        with pytest.raises(OSError):
            start_metrics_server(b, port=s1.port, registry=prometheus_client.CollectorRegistry())


def _families(text, parser):
    return {f.name: f for f in parser(text)}


def test_many_managers_parse_as_text_and_openmetrics():
    """Several managers in one registry: one family per metric, accepted by both parsers."""
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

    managers = {name: CacheManager(max_entries=10 + i) for i, name in enumerate("xyz")}
    for m in managers.values():
        m.set("k", 1)
    reg = prometheus_client.CollectorRegistry()
    with start_metrics_server(managers, port=0, registry=reg) as server:
        text, s = scrape(server.url)
    for name, m in managers.items():
        assert value(s, "fbacache_capacity_entries", cache=name, backend="memory") == \
            float(m.config.max_entries)
    om_text = om_latest(reg).decode()
    fams = _families(om_text, om_parse)  # raises on a clashing or duplicated family
    assert {s.labels["cache"] for s in fams["fbacache_hits"].samples} == set("xyz")
    assert "fbacache_up" in fams and "fbacache" in fams  # fbacache_info is an info family
    assert text.count("# HELP fbacache_up ") == 1


def test_a_second_collector_in_a_registry_is_refused_not_duplicated():
    from fbacache.extras.prometheus import FbaCacheCollector
    reg = prometheus_client.CollectorRegistry(auto_describe=True)
    reg.register(FbaCacheCollector(CacheManager(), cache_name="a"))
    with pytest.raises(ValueError, match="Duplicated"):
        reg.register(FbaCacheCollector(CacheManager(), cache_name="b"))


def test_register_in_the_default_registry_and_unregister():
    from fbacache.extras.prometheus import register, unregister
    a, b = CacheManager(), CacheManager()
    register(a, cache_name="default-reg-a")
    try:
        register(b, cache_name="default-reg-b")  # no DuplicateTimeseries: one shared collector
        with pytest.raises(ValueError, match="already exported"):
            register(CacheManager(), cache_name="default-reg-a")
        text = prometheus_client.generate_latest().decode()
        assert 'cache="default-reg-a"' in text and 'cache="default-reg-b"' in text
        assert text.count("# TYPE fbacache_entries gauge") == 1
    finally:
        assert unregister("default-reg-a") and unregister("default-reg-b")
    assert not unregister("default-reg-a")
    assert "fbacache_entries" not in prometheus_client.generate_latest().decode()


def test_collected_manager_drops_out_of_the_scrape():
    import gc
    from fbacache.extras.prometheus import FbaCacheCollector
    keep, gone = CacheManager(), CacheManager()
    collector = FbaCacheCollector(keep, cache_name="keep")
    collector.add(gone, cache_name="gone")
    reg = prometheus_client.CollectorRegistry()
    reg.register(collector)
    assert collector.names() == ["gone", "keep"]
    del gone
    gc.collect()
    text = prometheus_client.generate_latest(reg).decode()
    assert 'cache="keep"' in text and 'cache="gone"' not in text
    assert collector.names() == ["keep"]


def test_port_must_be_given(manager):
    with pytest.raises(TypeError):
        start_metrics_server(manager)  # type: ignore[call-arg]


def test_default_address_is_loopback_only(manager):
    with start_metrics_server(manager, port=0) as server:
        assert server.addr == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass


def test_missing_prometheus_client_is_a_typed_error():
    code = textwrap.dedent("""
        import sys
        sys.modules["prometheus_client"] = None  # as if not installed
        import fbacache
        from fbacache.errors import MissingDependency
        try:
            fbacache.start_metrics_server(fbacache.CacheManager(), port=0)
        except MissingDependency as exc:
            print("missing:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "fbacache[prometheus]" in out
