"""CacheMonitor: operation timings, hit/error rates, alerts and plain-language advice.

Record operations with :meth:`CacheMonitor.record_metric` (or the
:meth:`CacheMonitor.measure` context manager) and read
:meth:`CacheMonitor.get_performance_report`:

- ``stats``: operations, hits, misses, hit_rate, errors, error_rate, per operation;
- ``latency_ms``: p50/p90/p95/p99/max/mean over the last ``window`` samples,
  overall and per operation (nearest-rank percentiles);
- ``alerts``: thresholds from :class:`AlertThresholds` (defaults: hit rate
  < 0.8, error rate > 0.1, p95 response time > 100 ms), checked only once
  ``min_samples`` operations were seen;
- ``recommendations``: sentences derived from the figures and, when the
  monitor has a manager, from its metrics (evictions, expirations, corrupt
  entries, single-flight timeouts, rejected prefetches);
- ``status``: ``ok``, ``warning`` or ``critical``; ``cache``: the manager's metrics.

Counts are cumulative; latencies are a sliding window. The monitor also keeps
cumulative latency histograms that :mod:`fbacache.extras.prometheus` exports.

>>> from fbacache import CacheMonitor
>>> mon = CacheMonitor()
>>> for i in range(100):
...     mon.record_metric("get", 2.0 + i % 5, hit=i % 10 != 0)
>>> report = mon.get_performance_report()
>>> report["stats"]["hit_rate"], report["latency_ms"]["p95"], report["status"]
(0.9, 6.0, 'ok')
>>> report["recommendations"]
['No action needed: hit rate 90.0%, p95 latency 6.0 ms, error rate 0.0%.']
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from fbacache.errors import ConfigError
from fbacache.log import get_logger

__all__ = ["CacheMonitor", "AlertThresholds", "DEFAULT_BUCKETS"]

log = get_logger("monitor")

#: Upper bounds (seconds) of the cumulative latency histogram buckets.
DEFAULT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   math.inf)
_PCTS = (50, 90, 95, 99)


@dataclass(frozen=True)
class AlertThresholds:
    """When ``get_performance_report`` raises alerts.

    ``min_hit_rate`` (alert below), ``max_error_rate`` (alert above),
    ``max_response_time_ms`` (alert when p95 is above), ``min_samples``
    (no alerts before this many operations).
    """

    min_hit_rate: float = 0.8
    max_error_rate: float = 0.1
    max_response_time_ms: float = 100.0
    min_samples: int = 20

    def __post_init__(self) -> None:
        for name in ("min_hit_rate", "max_error_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ConfigError(name, f"must be a rate in [0, 1], got {v!r}")
        v = self.max_response_time_ms
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConfigError("max_response_time_ms", f"must be a positive number, got {v!r}")
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, int) \
                or self.min_samples < 0:
            raise ConfigError("min_samples", f"must be a non-negative integer, "
                              f"got {self.min_samples!r}")


class _OpStats:
    __slots__ = ("count", "errors", "hits", "misses", "total_s", "buckets")

    def __init__(self, n_buckets: int) -> None:
        self.count = self.errors = self.hits = self.misses = 0
        self.total_s = 0.0
        self.buckets = [0] * n_buckets  # per bucket, not cumulative


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def _latency(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    out = {f"p{p}": _percentile(s, p) for p in _PCTS}
    out["max"] = s[-1] if s else 0.0
    out["mean"] = sum(s) / len(s) if s else 0.0
    out["count"] = len(s)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


class CacheMonitor:
    """Collects operation samples and reports on them (see the module docstring).

    Args:
        manager: optional CacheManager whose metrics enrich the report.
        thresholds: :class:`AlertThresholds` (defaults per the issue).
        window: number of latest samples kept for percentiles.
        buckets: histogram bucket upper bounds in seconds (ending with inf).
    """

    def __init__(self, manager: Any = None, *, thresholds: Optional[AlertThresholds] = None,
                 window: int = 10_000, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
            raise ConfigError("window", f"must be a positive integer, got {window!r}")
        if not buckets or list(buckets) != sorted(buckets) or buckets[-1] != math.inf:
            raise ConfigError("buckets", "must be increasing and end with math.inf")
        self.manager = manager
        self.thresholds = thresholds or AlertThresholds()
        self.buckets = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        self._samples: collections.deque[tuple[str, float]] = collections.deque(maxlen=window)
        self._ops: dict[str, _OpStats] = {}

    # ------------------------------------------------------------------ recording
    def record_metric(self, operation: str, duration_ms: float, *, hit: Optional[bool] = None,
                      error: bool = False) -> None:
        """Record one ``operation`` that took ``duration_ms`` milliseconds.

        ``hit`` is True/False for lookups (None: not a lookup); ``error`` marks a failure.
        """
        if not isinstance(operation, str) or not operation:
            raise ConfigError("operation", f"must be a non-empty str, got {operation!r}")
        if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float)) \
                or not duration_ms >= 0 or duration_ms == math.inf:
            raise ConfigError("duration_ms", f"must be a finite number >= 0, got {duration_ms!r}")
        seconds = duration_ms / 1000.0
        with self._lock:
            st = self._ops.get(operation)
            if st is None:
                st = self._ops[operation] = _OpStats(len(self.buckets))
            st.count += 1
            st.total_s += seconds
            st.buckets[bisect.bisect_left(self.buckets, seconds)] += 1
            if error:
                st.errors += 1
            if hit is True:
                st.hits += 1
            elif hit is False:
                st.misses += 1
            self._samples.append((operation, float(duration_ms)))

    @contextmanager
    def measure(self, operation: str) -> Iterator[dict[str, Any]]:
        """Time the block as ``operation``; set ``ctx["hit"]`` inside for lookups.
        An exception is recorded as an error and re-raised."""
        ctx: dict[str, Any] = {"hit": None}
        t0 = time.perf_counter()
        try:
            yield ctx
        except BaseException:
            self.record_metric(operation, (time.perf_counter() - t0) * 1000.0,
                               hit=ctx["hit"], error=True)
            raise
        self.record_metric(operation, (time.perf_counter() - t0) * 1000.0, hit=ctx["hit"])

    def reset(self) -> None:
        """Forget every sample and count."""
        with self._lock:
            self._samples.clear()
            self._ops.clear()

    def histograms(self) -> dict[str, dict[str, Any]]:
        """Per operation: cumulative bucket counts (``[(le, count)]``), sum (s), count, errors."""
        with self._lock:
            out = {}
            for op, st in self._ops.items():
                running, cum = 0, []
                for le, n in zip(self.buckets, st.buckets):
                    running += n
                    cum.append((le, running))
                out[op] = {"buckets": cum, "sum": st.total_s, "count": st.count,
                           "errors": st.errors}
            return out

    # ------------------------------------------------------------------ report
    def get_performance_report(self) -> dict[str, Any]:
        """Stats, latency percentiles, alerts, recommendations and status (module doc)."""
        with self._lock:
            samples = list(self._samples)
            ops = {op: (st.count, st.errors, st.hits, st.misses) for op, st in self._ops.items()}
        cache = None
        if self.manager is not None:
            try:
                cache = self.manager.get_metrics()
            except Exception as exc:  # the report must still come out when the backend is down
                cache = {"error": f"{type(exc).__name__}: {exc}"}
        count = sum(v[0] for v in ops.values())
        errors = sum(v[1] for v in ops.values())
        hits = sum(v[2] for v in ops.values())
        misses = sum(v[3] for v in ops.values())
        if hits + misses == 0 and cache and "hits" in cache:
            hits, misses = int(cache["hits"]), int(cache["misses"])
        lookups = hits + misses
        stats = {
            "operations": count, "hits": hits, "misses": misses,
            "hit_rate": hits / lookups if lookups else None,
            "errors": errors, "error_rate": errors / count if count else 0.0,
            "by_operation": {op: {"count": c, "errors": e, "hits": h, "misses": m}
                             for op, (c, e, h, m) in sorted(ops.items())},
        }
        latency: dict[str, Any] = _latency([d for _, d in samples])
        latency["by_operation"] = {op: _latency([d for o, d in samples if o == op])
                                   for op in sorted({o for o, _ in samples})}
        alerts = self._alerts(stats, latency, max(count, lookups))
        recommendations = self._recommend(stats, latency, alerts, cache)
        severities = {a["severity"] for a in alerts}
        status = "critical" if "critical" in severities else ("warning" if alerts else "ok")
        for a in alerts:
            log.debug("alert %s: %s", a["name"], a["message"])
        return {"generated_at": time.time(), "stats": stats, "latency_ms": latency,
                "alerts": alerts, "recommendations": recommendations, "status": status,
                "thresholds": dataclasses.asdict(self.thresholds), "cache": cache}

    def _alerts(self, stats: dict[str, Any], latency: dict[str, Any],
                seen: int) -> list[dict[str, Any]]:
        th = self.thresholds
        if seen < th.min_samples:
            return []
        alerts = []
        rate = stats["hit_rate"]
        if rate is not None and rate < th.min_hit_rate:
            alerts.append({"name": "low_hit_rate",
                           "severity": "critical" if rate < th.min_hit_rate / 2 else "warning",
                           "value": rate, "threshold": th.min_hit_rate,
                           "message": f"hit rate {_pct(rate)} is below {_pct(th.min_hit_rate)}"})
        if stats["operations"] and stats["error_rate"] > th.max_error_rate:
            alerts.append({"name": "high_error_rate", "severity": "critical",
                           "value": stats["error_rate"], "threshold": th.max_error_rate,
                           "message": f"{_pct(stats['error_rate'])} of operations failed "
                                      f"(threshold {_pct(th.max_error_rate)})"})
        if latency["count"] and latency["p95"] > th.max_response_time_ms:
            severe = latency["p95"] > 5 * th.max_response_time_ms
            alerts.append({"name": "slow_responses", "severity": "critical" if severe else "warning",
                           "value": latency["p95"], "threshold": th.max_response_time_ms,
                           "message": f"p95 response time {latency['p95']:.1f} ms is above "
                                      f"{th.max_response_time_ms:g} ms"})
        return alerts

    def _recommend(self, stats: dict[str, Any], latency: dict[str, Any],
                   alerts: list[dict[str, Any]], cache: Optional[dict[str, Any]]) -> list[str]:
        out = []
        names = {a["name"] for a in alerts}
        c = cache if cache and "error" not in cache else {}
        sets = max(1, int(c.get("sets", 0)))
        if "low_hit_rate" in names:
            evictions, expirations = int(c.get("evictions", 0)), int(c.get("expirations", 0))
            rate = _pct(stats["hit_rate"])
            if evictions > 0.1 * sets:
                out.append(f"The hit rate is {rate} and the cache evicted {evictions} entries "
                           f"for {sets} writes: it is too small for the working set; raise "
                           f"max_entries or max_bytes.")
            if expirations > max(1, stats["hits"]) * 0.1 and expirations > 0:
                out.append(f"The hit rate is {rate} and {expirations} entries expired before "
                           f"being reused: lengthen the TTL, or warm the keys with CacheWarmer.")
            if not out:
                out.append(f"The hit rate is {rate} although little is evicted or expires: most "
                           f"lookups are for keys never cached; check that keys do not include "
                           f"volatile arguments (timestamps, request ids), or warm the cache.")
        if "high_error_rate" in names:
            out.append(f"{_pct(stats['error_rate'])} of operations failed: check the backend's "
                       f"health and connectivity, and the application's error logs.")
        if "slow_responses" in names:
            by_op = latency.get("by_operation", {})
            slowest = max(by_op.items(), key=lambda kv: kv[1]["p95"], default=None)
            where = f" (slowest: {slowest[0]!r}, p95 {slowest[1]['p95']:.1f} ms)" if slowest else ""
            out.append(f"Responses are slow{where}: large values cost serialization time; "
                       f"enable compression for big values or cache smaller objects, and check "
                       f"the backend's latency.")
        if int(c.get("corrupt_entries", 0)) + int(c.get("signature_failures", 0)):
            out.append(f"{int(c.get('corrupt_entries', 0))} corrupt entries and "
                       f"{int(c.get('signature_failures', 0))} signature failures were read as "
                       f"misses: another writer uses different settings or a different key.")
        if int(c.get("single_flight_timeouts", 0)):
            out.append("Some callers gave up waiting for another thread's computation: raise "
                       "lock_timeout or make the factory faster.")
        if int(c.get("prefetch_rejected", 0)):
            out.append("Prefetch requests were rejected by the full queue: raise "
                       "prefetch_queue_size or lower the request rate.")
        if not out:
            rate = "n/a" if stats["hit_rate"] is None else _pct(stats["hit_rate"])
            out.append(f"No action needed: hit rate {rate}, p95 latency "
                       f"{latency['p95']:.1f} ms, error rate {_pct(stats['error_rate'])}.")
        return out
