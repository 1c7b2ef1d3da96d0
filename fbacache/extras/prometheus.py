"""Prometheus exposition of CacheManagers (optional extra: ``pip install fbacache[prometheus]``).

One :class:`FbaCacheCollector` serves any number of managers, each under its own ``cache``
label, so a process that runs several caches exposes one well-formed family per metric (two
collectors in one registry would write ``# TYPE`` twice, which the OpenMetrics parser
rejects). :func:`register` adds a manager to the one collector of a registry (the process-wide
default registry unless told otherwise); :func:`start_metrics_server` serves managers on a
``/metrics`` endpoint of its own. Figures are read from ``manager.get_metrics()`` at scrape
time: no background thread, nothing to keep in sync. Managers are held weakly: a manager
that is garbage collected drops out of the next scrape.

Every per-cache sample has the labels ``cache`` (a name you choose) and ``backend``.

==============================================  =========  ====================================
metric                                          type       meaning
==============================================  =========  ====================================
``fbacache_info{version,core}``                 info       library version, core ``c``/``py``
``fbacache_up``                                 gauge      1 if the metrics could be read and
                                                           the manager is running, else 0
``fbacache_hits_total`` / ``_misses_total``     counter    lookups served / not served
``fbacache_evictions_total``                    counter    entries evicted by the policy
``fbacache_expirations_total``                  counter    entries dropped at expiry
``fbacache_sets_total`` / ``_deletes_total``    counter    writes and deletes
``fbacache_corrupt_entries_total``              counter    unreadable entries read as misses
``fbacache_stale_served_total``                 counter    stale values served in a grace period
``fbacache_single_flight_waits_total``          counter    get_or_set callers that waited for a
                                                           leader's load
``fbacache_single_flight_timeouts_total``       counter    waiters that gave up
``fbacache_prefetch_rejected_total``            counter    prefetch requests refused (queue full)
``fbacache_entries``, ``fbacache_size_bytes``   gauge      entries and bytes currently stored
``fbacache_capacity_entries`` / ``_bytes``      gauge      configured bounds (absent: unbounded)
``fbacache_prefetch_queue_depth``               gauge      prefetch requests waiting
``fbacache_codec_seconds_total{stage}``         counter    codec time (serialize, deserialize,
                                                           compress, decompress)
``fbacache_backend_state{state}``               stateset   shared backends only: ``redis``,
                                                           ``probing`` or ``fallback``
``fbacache_backend_errors_total``               counter    failed backend calls
``fbacache_backend_fallbacks_total``            counter    calls served by the local fallback
``fbacache_backend_circuit_opens_total``        counter    circuit breaker openings
``fbacache_operation_duration_seconds``         histogram  CacheMonitor samples, ``operation``
``fbacache_operation_errors_total``             counter    CacheMonitor errors, ``operation``
==============================================  =========  ====================================

There is no hit-ratio gauge: a lifetime ratio hides what happens now. Compute it over a window
from the counters, e.g. ``rate(fbacache_hits_total[5m]) / (rate(fbacache_hits_total[5m]) +
rate(fbacache_misses_total[5m]))``.

``start_metrics_server(manager, port)`` takes the port explicitly: the exporter port range that
Prometheus allocates (9100-9999) is exhausted, and the 9464 this function used to default to is
OpenTelemetry's exporter default, so two exporters in one process collided. It binds
``127.0.0.1`` unless given ``addr``: cache figures (key counts, sizes) are not published to the
network by accident.

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
import weakref
from typing import Any, Iterator, Mapping, NamedTuple, Optional, Union

from fbacache.errors import MissingDependency
from fbacache.log import get_logger

__all__ = ["FbaCacheCollector", "MetricsServer", "register", "unregister",
           "start_metrics_server"]

log = get_logger("prometheus")

# (metric name without the _total suffix, get_metrics() key, help)
_COUNTERS = (
    ("hits", "hits", "Lookups served from the cache."),
    ("misses", "misses", "Lookups not served from the cache (corrupt entries included)."),
    ("evictions", "evictions", "Entries evicted by the eviction policy."),
    ("expirations", "expirations", "Entries dropped because their TTL passed."),
    ("sets", "sets", "Values written."),
    ("deletes", "deletes", "Entries deleted."),
    ("corrupt_entries", "corrupt_entries", "Unreadable entries read as misses."),
    ("stale_served", "swr_stale_served", "Stale values served during a grace period."),
    ("single_flight_waits", "single_flight_waits",
     "get_or_set callers that waited for another caller's load."),
    ("single_flight_timeouts", "single_flight_timeouts",
     "get_or_set waiters that gave up before the load finished."),
    ("prefetch_rejected", "prefetch_rejected", "Prefetch requests refused (queue full)."),
)
_GAUGES = (
    ("entries", "current_entries", "Entries currently stored."),
    ("size_bytes", "current_size_bytes", "Bytes currently stored."),
    ("prefetch_queue_depth", "prefetch_queue_size", "Prefetch requests waiting to load."),
)
# shared backends only (present in get_metrics() when the backend reports them)
_BACKEND_COUNTERS = (
    ("backend_errors", "backend_errors", "Backend calls that failed."),
    ("backend_fallbacks", "backend_fallbacks", "Calls served by the local fallback store."),
    ("backend_circuit_opens", "backend_circuit_opens", "Times the circuit breaker opened."),
)
_BACKEND_STATES = ("redis", "probing", "fallback")
_CAPACITY = (("capacity_entries", "max_entries", "Configured bound on entries."),
             ("capacity_bytes", "max_bytes", "Configured bound on stored bytes."))
_CODEC = (("serialize", "serialization_time_ms"), ("deserialize", "deserialization_time_ms"),
          ("compress", "compression_time_ms"), ("decompress", "decompression_time_ms"))
_LABELS = ["cache", "backend"]


def _client() -> Any:
    try:
        import prometheus_client
        from prometheus_client import core
    except ImportError as exc:
        raise MissingDependency("the Prometheus exporter needs prometheus-client: "
                                "pip install 'fbacache[prometheus]'") from exc
    return prometheus_client, core


class _Source(NamedTuple):
    manager: "weakref.ReferenceType[Any]"
    monitor: Any


class _Read(NamedTuple):
    values: list[str]
    snap: Optional[dict[str, Any]]
    config: Any
    monitor: Any


class FbaCacheCollector:
    """A prometheus-client collector for any number of named CacheManagers.

    ``FbaCacheCollector(manager, cache_name="x")`` starts with one manager; :meth:`add` and
    :meth:`remove` change the set later. Register ONE collector per registry (or use
    :func:`register`, which does that for you): its ``describe()`` names every family, so a
    second collector in the same registry is refused at registration instead of producing
    duplicate families. Raises MissingDependency when prometheus-client is not installed.
    """

    def __init__(self, manager: Any = None, *, cache_name: str = "default",
                 monitor: Any = None) -> None:
        _, self._core = _client()
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        if manager is not None:
            self.add(manager, cache_name=cache_name, monitor=monitor)

    def add(self, manager: Any, *, cache_name: str = "default", monitor: Any = None) -> None:
        """Expose ``manager`` (and optionally a CacheMonitor) under ``cache=cache_name``.

        Raises ValueError if the name is already taken by another live manager (two caches
        under one label would merge their series), TypeError for a non-string name.
        """
        if not isinstance(cache_name, str) or not cache_name:
            raise TypeError(f"cache_name must be a non-empty str, got {cache_name!r}")
        with self._lock:
            old = self._sources.get(cache_name)
            if old is not None and old.manager() not in (None, manager):
                raise ValueError(f"cache name {cache_name!r} is already exported by another "
                                 "manager; choose another cache_name")
            self._sources[cache_name] = _Source(weakref.ref(manager), monitor)

    def remove(self, cache_name: str) -> bool:
        """Stop exposing ``cache_name``; False if it was not exported."""
        with self._lock:
            return self._sources.pop(cache_name, None) is not None

    def names(self) -> list[str]:
        """Names of the live managers exported, sorted."""
        with self._lock:
            return sorted(n for n, s in self._sources.items() if s.manager() is not None)

    def describe(self) -> Iterator[Any]:
        """Every family this collector can emit, without samples (for duplicate checks)."""
        core = self._core
        yield core.InfoMetricFamily("fbacache", "fbacache library.")
        yield core.GaugeMetricFamily("fbacache_up", "up")
        for name, _, doc in _COUNTERS + _BACKEND_COUNTERS:
            yield core.CounterMetricFamily(f"fbacache_{name}", doc)
        for name, _, doc in _GAUGES + _CAPACITY:
            yield core.GaugeMetricFamily(f"fbacache_{name}", doc)
        yield core.CounterMetricFamily("fbacache_codec_seconds", "codec")
        yield core.StateSetMetricFamily("fbacache_backend_state", "state")
        yield core.HistogramMetricFamily("fbacache_operation_duration_seconds", "duration")
        yield core.CounterMetricFamily("fbacache_operation_errors", "errors")

    def _read_all(self) -> list[_Read]:
        with self._lock:
            items = sorted(self._sources.items())
            for name, src in items:
                if src.manager() is None:  # collected: forget it
                    del self._sources[name]
        reads = []
        for name, src in items:
            manager = src.manager()
            if manager is None:
                continue
            backend = getattr(getattr(manager, "backend", None), "name", "unknown")
            try:
                snap: Optional[dict[str, Any]] = manager.get_metrics()
            except Exception:
                log.warning("reading metrics of cache %r failed", name, exc_info=True)
                snap = None
            reads.append(_Read([name, str(backend)], snap, getattr(manager, "config", None),
                               src.monitor))
        return reads

    def collect(self) -> Iterator[Any]:
        """Metric families for one scrape (called by the registry)."""
        core = self._core
        from fbacache import CORE_IMPLEMENTATION, __version__
        info = core.InfoMetricFamily("fbacache", "fbacache library version and core.")
        info.add_metric([], {"version": __version__, "core": CORE_IMPLEMENTATION})
        yield info
        reads = self._read_all()
        up = core.GaugeMetricFamily("fbacache_up", "1 if the cache's metrics could be read and "
                                    "the manager is running.", labels=_LABELS)
        for r in reads:
            running = r.snap is not None and bool(r.snap.get("running", True))
            up.add_metric(r.values, 1.0 if running else 0.0)
        yield up
        live = [r for r in reads if r.snap is not None]
        yield from self._snapshot_families(live)
        yield from self._backend_families(live)
        yield from self._capacity_families(reads)
        monitored = [r for r in reads if r.monitor is not None]
        if monitored:
            yield from self._monitor_families(monitored)

    def _snapshot_families(self, live: list[_Read]) -> Iterator[Any]:
        core = self._core
        for name, key, doc in _COUNTERS:
            c = core.CounterMetricFamily(f"fbacache_{name}", doc, labels=_LABELS)
            for r in live:
                c.add_metric(r.values, float(r.snap.get(key, 0)))  # type: ignore[union-attr]
            yield c
        for name, key, doc in _GAUGES:
            g = core.GaugeMetricFamily(f"fbacache_{name}", doc, labels=_LABELS)
            for r in live:
                g.add_metric(r.values, float(r.snap.get(key, 0)))  # type: ignore[union-attr]
            yield g
        c = core.CounterMetricFamily("fbacache_codec_seconds", "Time spent in the codec.",
                                     labels=[*_LABELS, "stage"])
        for r in live:
            for stage, key in _CODEC:
                c.add_metric([*r.values, stage],
                             float(r.snap.get(key, 0.0)) / 1000.0)  # type: ignore[union-attr]
        yield c

    def _backend_families(self, live: list[_Read]) -> Iterator[Any]:
        core = self._core
        shared = [r for r in live if "backend_state" in r.snap]  # type: ignore[operator]
        if not shared:
            return
        s = core.StateSetMetricFamily("fbacache_backend_state",
                                      "What serves the calls of a shared backend.",
                                      labels=_LABELS)
        for r in shared:
            state = r.snap["backend_state"]  # type: ignore[index]
            s.add_metric(r.values, {name: name == state for name in _BACKEND_STATES})
        yield s
        for name, key, doc in _BACKEND_COUNTERS:
            c = core.CounterMetricFamily(f"fbacache_{name}", doc, labels=_LABELS)
            for r in shared:
                c.add_metric(r.values, float(r.snap.get(key, 0)))  # type: ignore[union-attr]
            yield c

    def _capacity_families(self, reads: list[_Read]) -> Iterator[Any]:
        core = self._core
        for name, attr, doc in _CAPACITY:
            g = core.GaugeMetricFamily(f"fbacache_{name}", doc, labels=_LABELS)
            for r in reads:
                bound = getattr(r.config, attr, None)
                if bound is not None:
                    g.add_metric(r.values, float(bound))
            yield g

    def _monitor_families(self, monitored: list[_Read]) -> Iterator[Any]:
        core = self._core
        h = core.HistogramMetricFamily("fbacache_operation_duration_seconds",
                                       "Duration of cache operations recorded by the monitor.",
                                       labels=[*_LABELS, "operation"])
        e = core.CounterMetricFamily("fbacache_operation_errors",
                                     "Failed cache operations recorded by the monitor.",
                                     labels=[*_LABELS, "operation"])
        for r in monitored:
            for op, data in sorted(r.monitor.histograms().items()):
                buckets = [("+Inf" if le == float("inf") else repr(le), float(n))
                           for le, n in data["buckets"]]
                h.add_metric([*r.values, op], buckets, data["sum"])
                e.add_metric([*r.values, op], float(data["errors"]))
        yield h
        yield e


# one collector per registry, so managers registered one by one share its families
_collectors: "weakref.WeakKeyDictionary[Any, FbaCacheCollector]" = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()


def register(manager: Any, *, cache_name: str = "default", monitor: Any = None,
             registry: Any = None) -> FbaCacheCollector:
    """Expose ``manager`` as ``cache=cache_name`` in ``registry`` (default: the process-wide
    ``prometheus_client.REGISTRY``); returns the registry's one fbacache collector.

    Call it once per manager, with distinct names: the managers share one family per metric.
    Raises ValueError for a name already exported by another manager, MissingDependency
    without prometheus-client.
    """
    prometheus_client, _ = _client()
    if registry is None:
        registry = prometheus_client.REGISTRY
    with _collectors_lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = FbaCacheCollector()
            registry.register(collector)
            _collectors[registry] = collector
    collector.add(manager, cache_name=cache_name, monitor=monitor)
    return collector


def unregister(cache_name: str, *, registry: Any = None) -> bool:
    """Stop exposing ``cache_name`` in ``registry`` (default: the process-wide one); the
    collector leaves the registry with its last manager. False if it was not exported."""
    prometheus_client, _ = _client()
    if registry is None:
        registry = prometheus_client.REGISTRY
    with _collectors_lock:
        collector = _collectors.get(registry)
        if collector is None or not collector.remove(cache_name):
            return False
        if not collector.names():
            registry.unregister(collector)
            del _collectors[registry]
    return True


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


def start_metrics_server(managers: Union[Any, Mapping[str, Any]], port: int,
                         addr: str = "127.0.0.1", *, cache_name: str = "default",
                         monitor: Any = None, registry: Optional[Any] = None) -> MetricsServer:
    """Serve the metrics of one manager, or of a ``{cache_name: manager}`` mapping, at
    ``http://addr:port/metrics`` on a daemon thread.

    ``port=0`` picks a free port (read it from ``.port``); there is no default port (see the
    module docstring). ``cache_name``/``monitor`` apply to a single manager. ``registry``: a
    ``prometheus_client.CollectorRegistry`` to serve (default: a new one, so the process-wide
    default registry is left alone); the managers are added with :func:`register`.
    Raises MissingDependency without prometheus-client, OSError if the port is taken,
    ValueError for a cache name exported twice.
    """
    prometheus_client, _ = _client()
    if registry is None:
        registry = prometheus_client.CollectorRegistry(auto_describe=True)
    if isinstance(managers, Mapping):
        if monitor is not None:
            raise TypeError("monitor= applies to a single manager; register() monitors "
                            "of several managers one by one")
        named = dict(managers)
    else:
        named = {cache_name: managers}
    for name, manager in named.items():
        register(manager, cache_name=name, monitor=monitor, registry=registry)
    httpd, thread = prometheus_client.start_http_server(port, addr=addr, registry=registry)
    server = MetricsServer(httpd, thread, registry)
    log.info("serving metrics of cache(s) %s at %s", ", ".join(map(repr, named)), server.url)
    return server
