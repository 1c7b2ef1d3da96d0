"""Stable codes for every issue a maintenance report carries.

A report's ``warnings`` and ``errors`` stay lists of one-line strings (code written
against them keeps working), but each one is an :class:`Issue`: a ``str`` that also
carries a stable ``code`` from :data:`CODES`. Scripts match on the code, never on
the wording, which may improve between releases. ``--json`` prints them under
``issues`` as ``{"code", "severity", "message"}``.

Example:
    >>> w = issue("dir.missing", "amazon_cache: directory /srv/a does not exist")
    >>> w.code, w.startswith("amazon_cache")
    ('dir.missing', True)
    >>> issue_dict(w, "warning")["code"]
    'dir.missing'
    >>> code_of("some older plain message")
    'unclassified'
"""
from __future__ import annotations

from typing import Any

__all__ = ["CODES", "Issue", "issue", "code_of", "issue_dict"]

#: Every code a report may carry, with what it means (the sdist's docs/maintain.md prints it).
CODES: dict[str, str] = {
    "dir.missing": "a configured cache directory does not exist",
    "dir.unreadable": "a cache directory cannot be read (permissions, not a directory)",
    "dir.none_exist": "none of the selected cache directories exists (wrong --root?)",
    "files.invalid": "validate found invalid files (each listed with its own code)",
    "file.corrupt": "a file is not valid JSON (empty, torn, not UTF-8, nested too deeply)",
    "file.unreadable": "a file cannot be read",
    "file.schema": "a file parses but breaks its cache type's schema",
    "file.schema_warning": "a file parses but has a suspicious record",
    "file.name": "a JSON file whose name does not match its cache type's pattern",
    "file.symlink": "a symlink: not followed, not validated",
    "file.special": "a FIFO, socket or device: never opened",
    "type.corrupt_files": "a cache type holds corrupt files",
    "type.validation_disabled": "validation_enabled is false for the type",
    "size.type_over": "a type is over its max_size_mb",
    "size.type_near": "a type is above 80% of its max_size_mb",
    "size.total_over": "all types together are over global_settings.max_total_size_gb",
    "age.expired": "more than half of a type's entries are expired",
    "linking_map.corrupt": "linking_map.json is corrupt",
    "linking_map.unreadable": "linking_map.json cannot be read",
    "linking_map.missing": "linking_map.json does not exist",
    "backup.stale": "no backup of a backup_enabled type in the last 2 days",
    "backup.unsafe_dir": "the backup directory is (below) a symlink",
    "backup.failed": "a backup could not be made",
    "backup.manifest_ignored": "a backup manifest is damaged or forged and was ignored",
    "backup.empty": "the chosen backup holds no files",
    "backup.retention": "backup retention could not run",
    "backup.disabled": "strategies.backup.enabled is false: no scheduled/default backup",
    "restore.none": "there is no backup to restore",
    "restore.not_found": "no backup has the requested id",
    "restore.failed": "a restore failed",
    "action.failed": "a planned change failed",
    "action.safety_backup_failed": "a type's safety backup failed; nothing of it changed",
    "disk.full": "the disk filled up; the run stopped",
    "disk.low": "less than 10% disk space free",
    "disk.critical": "less than 5% disk space free",
    "plan.failed": "a strategy could not plan (a corrupt linking map, an unreadable directory)",
    "optimize.refused": "optimize refused an unsafe tool directory",
    "config.unknown_key": "a config key this tool does not know",
    "config.unsupported": "a config key known but not supported, with the reason",
    "config.disabled": "cache.enabled is false",
    "unclassified": "an issue without a more specific code",
}


class Issue(str):
    """A one-line issue message that also carries a stable :attr:`code`."""

    code: str

    def __new__(cls, code: str, message: str) -> "Issue":
        """Make an issue; ``code`` must be a key of :data:`CODES`."""
        if code not in CODES:
            raise ValueError(f"unknown issue code {code!r}")
        self = super().__new__(cls, message)
        self.code = code
        return self

    def __reduce__(self) -> Any:
        # dataclasses.asdict deep-copies lists; keep the code through the copy
        return (Issue, (self.code, str(self)))


def issue(code: str, message: str) -> Issue:
    """Shorthand for :class:`Issue` ``(code, message)``."""
    return Issue(code, message)


def code_of(message: str) -> str:
    """The code of ``message`` (``"unclassified"`` for a plain string)."""
    return getattr(message, "code", "unclassified")


def issue_dict(message: str, severity: str) -> dict[str, str]:
    """The JSON form of one issue: ``{"code", "severity", "message"}``."""
    return {"code": code_of(message), "severity": severity, "message": str(message)}
