"""Prometheus exposition of a CacheManager (optional extra: ``pip install fbacache[prometheus]``).

:class:`FbaCacheCollector` reads ``manager.get_metrics()`` at scrape time (no
background thread, nothing to keep in sync) and, if given, a
:class:`~fbacache.extras.monitor.CacheMonitor`'s latency histograms. Every sample has
the labels ``cache`` (a name you choose) and ``backend``.

==========================================  =========  =====================================
metric                                      type       meaning
==========================================  =========  =====================================
``fbacache_up``                             gauge      1 if the metrics could be read (backend
                                                       reachable, manager running), else 0
``fbacache_hits_total``                     counter    lookups served from the cache
``fbacache_misses_total``                   counter    lookups not served (corrupt included)
``fbacache_evictions_total``                counter    entries evicted by the policy
``fbacache_expirations_total``              counter    entries dropped at expiry
``fbacache_sets_total``/``_deletes_total``  counter    writes and deletes
``fbacache_corrupt_entries_total``          counter    unreadable entries read as misses
``fbacache_stale_served_total``             counter    stale values served during a grace period
``fbacache_entries``                        gauge      entries currently stored
``fbacache_size_bytes``                     gauge      stored bytes
``fbacache_hit_ratio``                      gauge      hits / (hits + misses)
``fbacache_codec_seconds_total``            counter    codec time, label ``stage`` (serialize,
                                                       deserialize, compress, decompress)
``fbacache_operation_duration_seconds``     histogram  monitor samples, label ``operation``
``fbacache_operation_errors_total``         counter    monitor errors, label ``operation``
==========================================  =========  =====================================

``start_metrics_server(manager, port=9464, addr="127.0.0.1")`` serves
``/metrics`` on a daemon thread from a registry of its own (so several caches
or servers never clash) and returns a :class:`MetricsServer` (``.port``,
``.url``, ``.close()``).

>>> from fbacache import CacheManager, start_metrics_server
>>> import urllib.request
>>> cache = CacheManager(); _ = cache.set("k", 1); _ = cache.get("k")
>>> server = start_metrics_server(cache, port=0)
>>> text = urllib.request.urlopen(server.url, timeout=5).read().decode()
>>> 'fbacache_hits_total{backend="memory",cache="default"} 1.0' in text
True
>>> server.close()
"""
from __future__ import annotations

import threading
from typing import Any, Iterator, Optional

from fbacache.errors import MissingDependency
from fbacache.log import get_logger

__all__ = ["FbaCacheCollector", "MetricsServer", "start_metrics_server"]

log = get_logger("prometheus")

_COUNTERS = (
    ("hits", "hits", "Lookups served from the cache."),
    ("misses", "misses", "Lookups not served from the cache (corrupt entries included)."),
    ("evictions", "evictions", "Entries evicted by the eviction policy."),
    ("expirations", "expirations", "Entries dropped because their TTL passed."),
    ("sets", "sets", "Values written."),
    ("deletes", "deletes", "Entries deleted."),
    ("corrupt_entries", "corrupt_entries", "Unreadable entries read as misses."),
    ("stale_served", "swr_stale_served", "Stale values served during a grace period."),
)
_GAUGES = (
    ("entries", "current_entries", "Entries currently stored."),
    ("size_bytes", "current_size_bytes", "Bytes currently stored."),
)
_CODEC = (("serialize", "serialization_time_ms"), ("deserialize", "deserialization_time_ms"),
          ("compress", "compression_time_ms"), ("decompress", "decompression_time_ms"))


def _client() -> Any:
    try:
        import prometheus_client
        from prometheus_client import core
    except ImportError as exc:
        raise MissingDependency("the Prometheus exporter needs prometheus-client: "
                                "pip install 'fbacache[prometheus]'") from exc
    return prometheus_client, core


class FbaCacheCollector:
    """A prometheus-client collector for one CacheManager (and optionally a CacheMonitor).

    Raises MissingDependency when prometheus-client is not installed.
    """

    def __init__(self, manager: Any, *, cache_name: str = "default", monitor: Any = None) -> None:
        _, self._core = _client()
        self.manager = manager
        self.cache_name = cache_name
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        """Metric families for one scrape (called by the registry)."""
        core = self._core
        backend = getattr(getattr(self.manager, "backend", None), "name", "unknown")
        labels = ["cache", "backend"]
        values = [self.cache_name, backend]
        try:
            snap = self.manager.get_metrics()
            up = 1.0 if snap.get("running", True) else 0.0
        except Exception:
            log.warning("reading metrics of cache %r failed", self.cache_name, exc_info=True)
            snap, up = None, 0.0
        g = core.GaugeMetricFamily("fbacache_up", "1 if the cache's metrics could be read and "
                                   "the manager is running.", labels=labels)
        g.add_metric(values, up)
        yield g
        if snap is not None:
            for name, key, doc in _COUNTERS:
                c = core.CounterMetricFamily(f"fbacache_{name}", doc, labels=labels)
                c.add_metric(values, float(snap.get(key, 0)))
                yield c
            for name, key, doc in _GAUGES:
                g = core.GaugeMetricFamily(f"fbacache_{name}", doc, labels=labels)
                g.add_metric(values, float(snap.get(key, 0)))
                yield g
            g = core.GaugeMetricFamily("fbacache_hit_ratio", "Hits / (hits + misses).",
                                       labels=labels)
            g.add_metric(values, float(snap.get("hit_rate", 0.0)))
            yield g
            c = core.CounterMetricFamily("fbacache_codec_seconds", "Time spent in the codec.",
                                         labels=[*labels, "stage"])
            for stage, key in _CODEC:
                c.add_metric([*values, stage], float(snap.get(key, 0.0)) / 1000.0)
            yield c
        if self.monitor is not None:
            yield from self._monitor_families(labels, values)

    def _monitor_families(self, labels: list[str], values: list[str]) -> Iterator[Any]:
        core = self._core
        hists = self.monitor.histograms()
        h = core.HistogramMetricFamily("fbacache_operation_duration_seconds",
                                       "Duration of cache operations recorded by the monitor.",
                                       labels=[*labels, "operation"])
        e = core.CounterMetricFamily("fbacache_operation_errors",
                                     "Failed cache operations recorded by the monitor.",
                                     labels=[*labels, "operation"])
        for op, data in sorted(hists.items()):
            buckets = [("+Inf" if le == float("inf") else repr(le), float(n))
                       for le, n in data["buckets"]]
            h.add_metric([*values, op], buckets, data["sum"])
            e.add_metric([*values, op], float(data["errors"]))
        yield h
        yield e


class MetricsServer:
    """A running ``/metrics`` HTTP server (from :func:`start_metrics_server`)."""

    def __init__(self, httpd: Any, thread: threading.Thread, registry: Any) -> None:
        self._httpd = httpd
        self._thread = thread
        self.registry = registry
        host, port = httpd.server_address[:2]
        self.addr = host
        self.port = int(port)

    @property
    def url(self) -> str:
        """``http://addr:port/metrics``."""
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def start_metrics_server(manager: Any, port: int = 9464, addr: str = "127.0.0.1", *,
                         cache_name: str = "default", monitor: Any = None,
                         registry: Optional[Any] = None) -> MetricsServer:
    """Serve ``manager``'s metrics at ``http://addr:port/metrics`` on a daemon thread.

    ``port=0`` picks a free port (read it from ``.port``). ``registry``: a
    ``prometheus_client.CollectorRegistry`` to add the collector to (default: a
    new one, so the process-wide default registry is left alone).
    Raises MissingDependency without prometheus-client, OSError if the port is taken.
    """
    prometheus_client, _ = _client()
    if registry is None:
        registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(FbaCacheCollector(manager, cache_name=cache_name, monitor=monitor))
    httpd, thread = prometheus_client.start_http_server(port, addr=addr, registry=registry)
    server = MetricsServer(httpd, thread, registry)
    log.info("serving metrics of cache %r at %s", cache_name, server.url)
    return server
