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
from typing import Any, Optional

__all__ = [
    "Report", "FileCheck", "TypeMetrics", "MetricsReport", "ValidationReport", "Action",
    "ClearReport", "BackupInfo", "BackupReport", "RestoreReport", "RepairReport",
    "OptimizeReport", "TypeHealth", "HealthReport", "worst", "action_summary",
]

_RANK = {"ok": 0, "warning": 1, "error": 2}


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
        """Plain dict of every field plus ``status``."""
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        d["status"] = self.status
        actions = getattr(self, "actions", None)
        if actions is not None:
            d["summary"] = action_summary(actions, getattr(self, "dry_run", False))
        return d


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
    corrupt_count: int = 0
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


@dataclass
class ValidationReport(Report):
    """``validate``: every checked file, valid or not."""

    files: list[FileCheck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def invalid(self) -> list[FileCheck]:
        """The files that failed validation."""
        return [f for f in self.files if not f.is_valid]

    @property
    def status(self) -> str:
        """``error`` when any file is invalid or the run failed."""
        if self.errors or self.invalid:
            return "error"
        if self.warnings or any(f.warnings for f in self.files):
            return "warning"
        return "ok"


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


@dataclass
class BackupReport(Report):
    """``backup``: backups made and backups removed by retention."""

    created: list[BackupInfo] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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

    @property
    def status(self) -> str:
        """Maps ``overall``: healthy -> ok, warning/degraded -> warning, critical/error -> error."""
        if self.errors or self.overall in ("critical", "error"):
            return "error"
        return "warning" if self.overall in ("warning", "degraded") or self.warnings else "ok"
