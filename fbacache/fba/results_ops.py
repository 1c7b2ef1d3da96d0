"""Reports of ``health`` and of the verbs that change or archive files.

Split from :mod:`fbacache.fba.results` so that ``metrics`` and ``validate`` do not create
these classes at every start; :mod:`fbacache.fba.results` still exports every name
(loaded from here on first use).

Example:
    >>> r = ClearReport(strategy="selective", dry_run=True)
    >>> r.status, r.to_dict()["strategy"]
    ('ok', 'selective')
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from fbacache.fba.results import Report, TypeMetrics, iso_utc

__all__ = ["Action", "ClearReport", "BackupInfo", "BackupReport", "BackupListReport",
           "RestoreReport", "RepairReport", "OptimizeReport", "TypeHealth", "HealthReport"]


@dataclass
class Action:
    """One change a strategy makes (or, in a dry run, would make)."""

    op: str  # delete | rewrite | archive | quarantine | rmdir | compress
    cache_type: str
    path: str
    size: int
    reason: str
    dest: Optional[str] = None
    detail: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    error: Optional[str] = None


@dataclass
class ClearReport(Report):
    """``clear``: the actions of one strategy."""

    strategy: str
    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        """Bytes removed from the cache directories (or that would be)."""
        return sum(a.size for a in self.actions if a.op in ("delete", "archive", "quarantine")
                   and (a.done or self.dry_run))

    def _legacy(self, d: dict[str, Any]) -> None:
        # a dry run frees nothing: its figure is named for what it is
        d["would_free_bytes" if self.dry_run else "freed_bytes"] = self.freed_bytes
        per: dict[str, dict[str, int]] = {}
        for a in self.actions:
            row = per.setdefault(a.cache_type, {"files_removed": 0, "files_rewritten": 0,
                                                "bytes_freed": 0})
            if not (a.done or self.dry_run):
                continue
            if a.op in ("delete", "archive", "quarantine"):
                row["files_removed"] += 1
                row["bytes_freed"] += a.size
            elif a.op == "rewrite":
                row["files_rewritten"] += 1
        if self.dry_run:  # the same counts, named as plans
            per = {t: {f"would_{k}" if k != "bytes_freed" else "would_free_bytes": v
                       for k, v in row.items()} for t, row in per.items()}
        d["cache_types"] = per


@dataclass
class BackupInfo:
    """One complete backup (its manifest exists and names its archive)."""

    id: str
    cache_type: str
    created: float
    archive: str
    manifest: str
    file_count: int
    total_bytes: int
    archive_bytes: int
    archive_sha256: str
    reason: str = "manual"
    #: files taken from earlier backups' archives (incremental), not stored in this one
    referenced_count: int = 0
    #: ids of the earlier backups this one needs to restore (retention keeps them)
    depends_on: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; ``created`` as ISO-8601 UTC (exact seconds in ``created_unix``)."""
        d = dataclasses.asdict(self)
        d["created"], d["created_unix"] = iso_utc(self.created), self.created
        d["backup_path"] = self.archive  # the old manager's key
        return d


@dataclass
class BackupReport(Report):
    """``backup``: backups made and backups removed by retention."""

    created: list[BackupInfo] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def _legacy(self, d: dict[str, Any]) -> None:
        d["created"] = [b.to_dict() for b in self.created]


@dataclass
class BackupListReport(Report):
    """``backups``: every complete backup per type, oldest first."""

    backups: dict[str, list[BackupInfo]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def _legacy(self, d: dict[str, Any]) -> None:
        d["backups"] = {t: [b.to_dict() for b in bs] for t, bs in self.backups.items()}


@dataclass
class RestoreReport(Report):
    """``restore``: which backup each type came back from and which files changed."""

    dry_run: bool
    restored: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    safety_backups: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class RepairReport(Report):
    """``repair``: corrupt files moved into quarantine."""

    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class OptimizeReport(Report):
    """``optimize``: compressed cold files, removed empty dirs and stray temp files."""

    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class TypeHealth:
    """Health of one cache type."""

    cache_type: str
    status: str  # healthy | warning | degraded | critical | error
    issues: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    metrics: Optional[TypeMetrics] = None


@dataclass
class HealthReport(Report):
    """``health``: per-type status, system resources, overall status."""

    types: dict[str, TypeHealth] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    overall: str = "healthy"
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: report-level advice (e.g. the global size cap), full command lines
    recommendations: list[str] = field(default_factory=list)
    total_bytes: int = 0
    max_total_bytes: Optional[int] = None

    def _legacy(self, d: dict[str, Any]) -> None:
        d["overall_status"] = self.overall
        res = dict(self.system)
        if "disk_used_percent" in res:
            res["disk_usage_percent"] = res["disk_used_percent"]
            res["disk_free_gb"] = round(res["disk_free_bytes"] / 1024 ** 3, 2)
        if "memory_used_percent" in res:
            res["memory_usage_percent"] = res["memory_used_percent"]
        d["system_resources"] = res
        d["cache_health"] = {n: {"status": h["status"], "issues": h["issues"],
                                 "recommendations": h["recommendations"]}
                             for n, h in d["types"].items()}

    @property
    def status(self) -> str:
        """Maps ``overall``: healthy -> ok, warning/degraded -> warning, critical/error -> error."""
        if self.errors or self.overall in ("critical", "error"):
            return "error"
        return "warning" if self.overall in ("warning", "degraded") or self.warnings else "ok"
