"""Typed results of the maintenance operations.

Every report has a ``status`` of ``"ok"``, ``"warning"`` or ``"error"`` (the CLI
maps them to exit codes 0, 1 and 2) and a ``to_dict()`` that is JSON-ready.

The reports of ``health`` and of the verbs that change files live in
:mod:`fbacache.fba.results_ops` and are exported here too, loaded on first use (PEP 562), so
``metrics`` and ``validate`` do not pay for creating them at every start.

Example:
    >>> r = MetricsReport()
    >>> r.status, r.to_dict()["total"]
    ('ok', {})
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from fbacache.fba.issues import issue_dict

if TYPE_CHECKING:
    from fbacache.fba.results_ops import (
        Action, BackupInfo, BackupListReport, BackupReport, ClearReport, HealthReport,
        OptimizeReport, RepairReport, RestoreReport, TypeHealth,
    )

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
    from datetime import datetime, timezone  # not at import: text reports never need it
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
        >>> from fbacache.fba.results_ops import Action
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


_OPS = {"Action", "ClearReport", "BackupInfo", "BackupReport", "BackupListReport",
        "RestoreReport", "RepairReport", "OptimizeReport", "TypeHealth", "HealthReport"}


def __getattr__(name: str) -> Any:
    if name in _OPS:
        from fbacache.fba import results_ops
        return getattr(results_ops, name)
    raise AttributeError(f"module 'fbacache.fba.results' has no attribute {name!r}")
