"""Typed results of the maintenance operations.

Every report has a ``status`` of ``"ok"``, ``"warning"`` or ``"error"`` (the CLI
maps them to exit codes 0, 1 and 2) and a ``to_dict()`` that is JSON-ready.

Example:
    >>> r = ClearReport(strategy="selective", dry_run=True)
    >>> r.status, r.to_dict()["strategy"]
    ('ok', 'selective')
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from fbacache.fba.issues import issue_dict

__all__ = [
    "Report", "FileCheck", "TypeMetrics", "MetricsReport", "ValidationReport", "Action",
    "ClearReport", "BackupInfo", "BackupReport", "RestoreReport", "RepairReport",
    "OptimizeReport", "TypeHealth", "HealthReport", "BackupListReport", "worst",
    "action_summary", "iso_utc",
]

_RANK = {"ok": 0, "warning": 1, "error": 2}


def iso_utc(ts: float) -> str:
    """Unix seconds as ISO-8601 UTC with a ``Z`` (every timestamp ``--json`` prints).

    Example:
        >>> iso_utc(0)
        '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def worst(*statuses: str) -> str:
    """The most severe of ``ok`` / ``warning`` / ``error``."""
    return max(statuses, key=lambda s: _RANK[s], default="ok")


def action_summary(actions: list[Action], dry_run: bool) -> dict[str, dict[str, int]]:
    """Count actions by outcome and operation: ``{"done": {"delete": 3}, "failed": ..., ...}``.

    A dry run has only ``"planned"``. A real run splits what it did from what failed
    (``error`` set) and what it never attempted (``"skipped"``: the type's safety
    backup failed, or the run stopped on a full disk), so a summary never reports a
    planned action as done.

    Example:
        >>> acts = [Action("delete", "t", "a", 1, "r", done=True), Action("delete", "t", "b", 1, "r")]
        >>> action_summary(acts, dry_run=False)
        {'done': {'delete': 1}, 'failed': {}, 'skipped': {'delete': 1}}
    """
    if dry_run:
        buckets: dict[str, dict[str, int]] = {"planned": {}}
    else:
        buckets = {"done": {}, "failed": {}, "skipped": {}}
    for a in actions:
        outcome = ("planned" if dry_run else "done" if a.done
                   else "failed" if a.error else "skipped")
        counts = buckets[outcome]
        counts[a.op] = counts.get(a.op, 0) + 1
    return buckets


class Report:
    """Mixin: JSON-ready ``to_dict`` including the computed ``status``."""

    errors: list[str]
    warnings: list[str]

    @property
    def status(self) -> str:
        """``error`` if any error, ``warning`` if any warning, else ``ok``."""
        if self.errors:
            return "error"
        return "warning" if self.warnings else "ok"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field plus ``status``, ``issues`` (each with its stable
        code) and the old cache manager's keys where they mean the same thing
        (docs/maintain.md in the sdist lists the mapping)."""
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        d["status"] = self.status
        d["success"] = self.status != "error"
        d["issues"] = ([issue_dict(e, "error") for e in self.errors]
                       + [issue_dict(w, "warning") for w in self.warnings])
        actions = getattr(self, "actions", None)
        if actions is not None:
            d["summary"] = action_summary(actions, getattr(self, "dry_run", False))
        self._legacy(d)
        return d

    def _legacy(self, d: dict[str, Any]) -> None:
        """Add the old manager's keys to ``d`` (subclasses override)."""


@dataclass
class FileCheck:
    """Validation of one file."""

    path: str
    cache_type: str
    is_valid: bool
    errors: list[str]
    warnings: list[str]
    file_size: int
    last_modified: str
    corrupt: bool = False

    @property
    def file_path(self) -> str:
        """The old manager's name for :attr:`path`."""
        return self.path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, plus ``file_path`` and ``issues`` (each with its stable code)."""
        return {"path": self.path, "cache_type": self.cache_type, "is_valid": self.is_valid,
                "errors": [str(e) for e in self.errors],
                "warnings": [str(w) for w in self.warnings], "file_size": self.file_size,
                "last_modified": self.last_modified, "corrupt": self.corrupt,
                "file_path": self.path,
                "issues": ([issue_dict(e, "error") for e in self.errors]
                           + [issue_dict(w, "warning") for w in self.warnings])}


@dataclass
class TypeMetrics:
    """Size and age figures of one cache type's entries."""

    cache_type: str
    directory: str
    exists: bool = True
    file_count: int = 0
    total_bytes: int = 0
    oldest_age_hours: Optional[float] = None
    newest_age_hours: Optional[float] = None
    expired_count: int = 0
    #: ``None`` when file contents were not read (``metrics`` without ``--content``)
    corrupt_count: Optional[int] = 0
    other_files: int = 0
    symlinks_skipped: int = 0
    max_size_bytes: int = 0
    #: FIFOs, sockets and devices found in the directory: reported, never opened
    special_skipped: int = 0
    error: Optional[str] = None  # the directory could not be read (not a directory, EACCES...)


@dataclass
class MetricsReport(Report):
    """``metrics``: per type and total."""

    types: dict[str, TypeMetrics] = field(default_factory=dict)
    total: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def _legacy(self, d: dict[str, Any]) -> None:
        for m in d["types"].values():
            m["total_files"], m["total_size_bytes"] = m["file_count"], m["total_bytes"]
            m["total_size_mb"] = round(m["total_bytes"] / 1048576, 3)


@dataclass
class ValidationReport(Report):
    """``validate``: counts of every checked file, and the checked files it keeps.

    The counts always cover every file. ``files`` holds every :class:`FileCheck` by
    default; a run that streams them instead (``Maintenance.validate(on_file=...,
    keep=0)``, as the CLI does) keeps none, so memory does not grow with the tree,
    and ``omitted_files`` says how many were not kept.
    """

    files: list[FileCheck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: files checked (valid or not)
    checked_files: int = 0
    #: files that failed validation (``is_valid`` false)
    invalid_count: int = 0
    #: of those, files that are not valid JSON at all
    corrupt_count: int = 0
    #: files with at least one warning (valid or not)
    warned_count: int = 0
    #: checked files not kept in ``files``
    omitted_files: int = 0

    @property
    def invalid(self) -> list[FileCheck]:
        """The kept files that failed validation (all of them unless files were omitted)."""
        return [f for f in self.files if not f.is_valid]

    @property
    def status(self) -> str:
        """``error`` when any file is invalid or the run failed."""
        if self.errors or self.invalid_count:
            return "error"
        if self.warnings or self.warned_count:
            return "warning"
        return "ok"

    def _legacy(self, d: dict[str, Any]) -> None:
        bad = self.invalid_count
        d.update(total_files=self.checked_files, valid_files=self.checked_files - bad,
                 invalid_files=bad)
        d["files"] = [f.to_dict() for f in self.files]


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
