"""The Prometheus collector exports a shared backend's state, errors and fallbacks (real server)."""
from __future__ import annotations

import time

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def _samples(registry):
    text = prometheus_client.generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _state(samples, state):
    return samples[("fbacache_backend_state",
                    (("backend", "redis"), ("cache", "shared"), ("fbacache_backend_state", state)))]


def test_backend_state_errors_and_fallbacks_are_exported(redis_server_factory, make_manager):
    from fbacache.extras.prometheus import register
    server = redis_server_factory()
    cache = make_manager("redis", server.url)
    reg = prometheus_client.CollectorRegistry()
    register(cache, cache_name="shared", registry=reg)
    cache.set("k", 1)
    s = _samples(reg)
    assert _state(s, "redis") == 1.0 and _state(s, "fallback") == 0.0
    lab = (("backend", "redis"), ("cache", "shared"))
    assert s[("fbacache_backend_errors_total", lab)] == 0.0
    server.kill()
    deadline = time.monotonic() + 10
    while cache.get_metrics()["backend_state"] == "redis":
        assert time.monotonic() < deadline, "the breaker never opened"
        cache.get("k")  # served by the fallback, counted as an error
    cache.get("k")
    s = _samples(reg)
    assert _state(s, "redis") == 0.0
    assert s[("fbacache_backend_errors_total", lab)] > 0
    assert s[("fbacache_backend_fallbacks_total", lab)] > 0
    assert s[("fbacache_backend_circuit_opens_total", lab)] >= 1
