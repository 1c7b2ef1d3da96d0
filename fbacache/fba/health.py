"""``health``: per-type status with issues and recommendations, plus system resources.

Statuses, from best to worst: ``healthy``, ``warning``, ``degraded``,
``critical``, ``error``; the overall status is the worst of them.

Example:
    >>> worst_health(["healthy", "degraded", "warning"])
    'degraded'
"""
from __future__ import annotations

import os
import shlex
import shutil
from typing import Any, Iterable, Optional

from fbacache.errors import CorruptFile, UnsafePath
from fbacache.fba.atomic import read_json
from fbacache.fba.backup import list_backups
from fbacache.fba.context import Context
from fbacache.fba.inspect import collect_metrics
from fbacache.fba.render import human_bytes
from fbacache.fba.results import TypeMetrics
from fbacache.fba.results_ops import HealthReport, TypeHealth
from fbacache.fba.issues import issue

__all__ = ["HEALTH_LEVELS", "worst_health", "system_resources", "check_health"]

HEALTH_LEVELS = ("healthy", "warning", "degraded", "critical", "error")


def worst_health(levels: Iterable[str]) -> str:
    """The most severe of the given health levels (``healthy`` when empty)."""
    return max(levels, key=HEALTH_LEVELS.index, default="healthy")


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def system_resources(path: str) -> dict[str, Any]:
    """Disk usage of the volume holding ``path``, memory, and load per CPU."""
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    du = shutil.disk_usage(probe)
    mem = _meminfo()
    res: dict[str, Any] = {
        "disk_path": probe, "disk_total_bytes": du.total, "disk_free_bytes": du.free,
        "disk_used_percent": round(100.0 * (du.total - du.free) / du.total, 1) if du.total else 0.0,
    }
    if "MemTotal" in mem:
        avail = mem.get("MemAvailable", mem.get("MemFree", 0))
        res.update(memory_total_bytes=mem["MemTotal"], memory_available_bytes=avail,
                   memory_used_percent=round(100.0 * (1 - avail / mem["MemTotal"]), 1))
    try:
        res["load_per_cpu"] = round(os.getloadavg()[0] / (os.cpu_count() or 1), 2)
    except OSError:  # pragma: no cover
        pass
    return res


def _judge(ctx: Context, m: TypeMetrics, h: TypeHealth) -> None:
    levels = ["healthy"]
    if m.error is not None:
        h.issues.append(issue("dir.unreadable", m.error))
        h.recommendations.append(f"ls -ld {shlex.quote(m.directory)}  # check its type and "
                                 "permissions")
        h.status = "error"
        return
    if not m.exists:
        h.issues.append(issue("dir.missing", f"directory {m.directory} does not exist"))
        h.recommendations.append(f"mkdir -p {shlex.quote(m.directory)}  # or fix "
                                 "cache.directories / --root")
        h.status = "warning"
        return
    if m.corrupt_count:
        ratio = m.corrupt_count / max(1, m.file_count)
        levels.append("critical" if ratio >= 0.25 else "degraded" if ratio >= 0.05 else "warning")
        h.issues.append(issue("type.corrupt_files", f"{m.corrupt_count} of {m.file_count} file(s) corrupt"))
        h.recommendations.append(ctx.command("repair", "--cache-type", m.cache_type))
    if m.max_size_bytes and m.total_bytes > m.max_size_bytes:
        levels.append("degraded")
        h.issues.append(issue("size.type_over", f"size {human_bytes(m.total_bytes)} exceeds "
                              f"max_size_mb ({human_bytes(m.max_size_bytes)})"))
        h.recommendations.append(ctx.command("clear", "--strategy", "size_based",
                                             "--cache-type", m.cache_type))
    elif m.max_size_bytes and m.total_bytes > 0.8 * m.max_size_bytes:
        levels.append("warning")
        h.issues.append(issue("size.type_near", "size above 80% of max_size_mb"))
    if m.file_count and m.expired_count > 0.5 * m.file_count:
        levels.append("warning")
        h.issues.append(issue("age.expired", f"{m.expired_count} of {m.file_count} entries expired"))
        h.recommendations.append(ctx.command("clear", "--strategy", "selective",
                                             "--cache-type", m.cache_type)
                                 + "  # the FBA system re-fetches stale entries anyway")
    if m.symlinks_skipped:
        levels.append("warning")
        h.issues.append(issue("file.symlink", f"{m.symlinks_skipped} symlink(s) skipped (never followed)"))
    if m.special_skipped:
        levels.append("warning")
        h.issues.append(issue("file.special", f"{m.special_skipped} FIFO/socket/device file(s) skipped (never opened)"))
    h.status = worst_health(levels)


def _linking_map_state(ctx: Context) -> tuple[Optional[str], str]:
    """``(state, why)``: state is None (no linking map type), missing, corrupt, unreadable or ok."""
    lm = ctx.config.cache_types.get("linking_map")
    if lm is None:
        return None, ""
    try:
        # read_json opens regular files only: a symlink or FIFO here is "corrupt", not followed
        doc = read_json(os.path.join(lm.directory, "linking_map.json"))
    except FileNotFoundError:
        return "missing", ""
    except CorruptFile as exc:
        return "corrupt", exc.reason
    except OSError as exc:
        # not corrupt: a permission or file-type problem, reported as such
        return "unreadable", exc.strerror or str(exc)
    return ("ok", "") if isinstance(doc, list) else ("corrupt", "not a JSON list")


def check_health(ctx: Context, names: Optional[Iterable[str]] = None) -> HealthReport:
    """Judge every selected type and the host; see the module docstring for levels."""
    report = HealthReport()
    metrics = collect_metrics(ctx, names)
    report.errors += metrics.errors  # unreadable directories: each also marks its type "error"
    lm_state, lm_why = _linking_map_state(ctx)
    now = ctx.clock()
    for name, m in metrics.types.items():
        h = TypeHealth(cache_type=name, status="healthy", metrics=m)
        try:
            _judge(ctx, m, h)
        except OSError as exc:
            h.status = "error"
            h.issues.append(issue("linking_map.unreadable", f"cannot inspect: {exc}"))
        if name == "linking_map" and lm_state == "corrupt":
            h.status = "critical"
            h.issues.append(issue("linking_map.corrupt", f"linking_map.json is corrupt ({lm_why}): "
                                  "the FBA system would re-process (and re-pay for) every product"))
            h.recommendations.append(ctx.command("restore", "--cache-type", "linking_map"))
            h.recommendations.append(ctx.command("repair", "--cache-type", "linking_map"))
        elif name == "linking_map" and lm_state == "unreadable" and m.error is None:
            h.status = "error"
            h.issues.append(issue("linking_map.unreadable",
                                  f"linking_map.json cannot be read: {lm_why}"))
        elif name == "linking_map" and lm_state == "missing":
            h.status = worst_health([h.status, "warning"])
            h.issues.append(issue("linking_map.missing", "linking_map.json is missing"))
        t = ctx.config.cache_types[name]
        if t.backup_enabled and m.exists and m.file_count:
            try:
                backups = list_backups(ctx, name)
            except UnsafePath as exc:
                h.status = worst_health([h.status, "critical"])
                h.issues.append(issue("backup.unsafe_dir", f"backup directory unsafe: {exc}"))
                report.types[name] = h
                continue
            if not backups or now - backups[-1].created > 2 * 86400:
                h.status = worst_health([h.status, "warning"])
                h.issues.append(issue("backup.stale", "no backup in the last 2 days"))
                h.recommendations.append(ctx.command("backup", "--cache-type", name))
        report.types[name] = h
    report.system = system_resources(ctx.config.root)
    levels = [h.status for h in report.types.values()]
    free = report.system["disk_free_bytes"] / max(1, report.system["disk_total_bytes"])
    if free < 0.05:
        levels.append("critical")
        report.warnings.append(issue("disk.critical", "less than 5% disk space free"))
    elif free < 0.10:
        levels.append("warning")
        report.warnings.append(issue("disk.low", "less than 10% disk space free"))
    limit = ctx.config.max_total_bytes
    total = sum(m.total_bytes for m in metrics.types.values())
    if limit is not None and total > limit:
        # the global cap spans every type: one report-level issue, fixed by size_based
        levels.append("degraded")
        report.warnings.append(issue(
            "size.total_over", f"all types together hold {human_bytes(total)}, over "
            f"global_settings.max_total_size_gb ({human_bytes(limit)})"))
        report.recommendations.append(ctx.command("clear", "--strategy", "size_based"))
    report.total_bytes, report.max_total_bytes = total, limit
    report.overall = worst_health(levels)
    return report
