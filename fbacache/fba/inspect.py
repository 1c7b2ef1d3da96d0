"""Read-only passes over the cache directories: ``metrics`` and ``validate``.

Both parse every entry, because a corrupt file must be counted as corrupt (the
old tool read a corrupt linking map as empty and then overwrote it).

Example:
    >>> import tempfile
    >>> from fbacache.fba.config import parse_config
    >>> cfg = parse_config({"directories": {"amazon_cache": "a"},
    ...                     "cache_types": {"amazon_cache": {}}}, tempfile.mkdtemp())
    >>> collect_metrics(Context(cfg)).types["amazon_cache"].exists
    False
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from fbacache.errors import CorruptFile
from fbacache.fba.atomic import parse_json_bytes
from fbacache.fba.safe import read_regular
from fbacache.fba.context import Context, os_error_text
from fbacache.fba.results import FileCheck, MetricsReport, TypeMetrics, ValidationReport
from fbacache.fba.scan import FileInfo
from fbacache.fba.schemas import check_document

__all__ = ["read_doc", "collect_metrics", "validate_files", "iso"]

_TICK = 500


def iso(ts: float) -> str:
    """UTC ISO-8601 timestamp with seconds."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def read_doc(fi: FileInfo) -> tuple[Any, Optional[str]]:
    """Parse ``fi``; returns ``(doc, None)`` or ``(None, corrupt_reason)``.

    A file swapped for a symlink or FIFO since the scan is never opened and
    reads as corrupt.

    Raises:
        OSError: the file could not be read (vanished, permission denied).
    """
    try:
        return parse_json_bytes(fi.path, read_regular(fi.path)), None
    except CorruptFile as exc:
        return None, exc.reason


def collect_metrics(ctx: Context, names: Optional[Iterable[str]] = None) -> MetricsReport:
    """File count, bytes, ages, expired and corrupt counts per cache type and in total."""
    report = MetricsReport()
    now = ctx.clock()
    for t in ctx.select(names):
        m = TypeMetrics(cache_type=t.name, directory=t.directory,
                        exists=os.path.isdir(t.directory), max_size_bytes=t.max_size_bytes)
        report.types[t.name] = m
        if not os.path.lexists(t.directory):
            report.warnings.append(f"{t.name}: directory {t.directory} does not exist")
            continue
        try:
            files = ctx.scan(t)
        except OSError as exc:  # a file where the directory should be, no permission...
            m.error = os_error_text(exc, t.directory)
            report.errors.append(f"{t.name}: {m.error}")
            continue
        entries = [f for f in files if f.kind == "entry"]
        m.other_files = sum(1 for f in files if f.kind in ("other", "temp"))
        m.symlinks_skipped = sum(1 for f in files if f.kind == "symlink")
        m.special_skipped = sum(1 for f in files if f.kind == "special")
        if m.special_skipped:
            report.warnings.append(f"{t.name}: {m.special_skipped} FIFO/socket/device file(s) "
                                   "skipped (never opened)")
        for i, fi in enumerate(entries):
            m.file_count += 1
            m.total_bytes += fi.size
            age = fi.age(now) / 3600.0
            m.oldest_age_hours = age if m.oldest_age_hours is None else max(m.oldest_age_hours, age)
            m.newest_age_hours = age if m.newest_age_hours is None else min(m.newest_age_hours, age)
            if ctx.expired(t, fi):
                m.expired_count += 1
            try:
                _, bad = read_doc(fi)
            except OSError as exc:
                report.warnings.append(f"{fi.path}: unreadable: {exc.strerror}")
                continue
            if bad:
                m.corrupt_count += 1
            if i % _TICK == 0:
                ctx.tick(f"metrics {t.name}", i, len(entries))
        if m.corrupt_count:
            report.warnings.append(f"{t.name}: {m.corrupt_count} corrupt file(s)")
    ages_old = [m.oldest_age_hours for m in report.types.values() if m.oldest_age_hours is not None]
    ages_new = [m.newest_age_hours for m in report.types.values() if m.newest_age_hours is not None]
    report.total = {
        "file_count": sum(m.file_count for m in report.types.values()),
        "total_bytes": sum(m.total_bytes for m in report.types.values()),
        "expired_count": sum(m.expired_count for m in report.types.values()),
        "corrupt_count": sum(m.corrupt_count for m in report.types.values()),
        "oldest_age_hours": max(ages_old) if ages_old else None,
        "newest_age_hours": min(ages_new) if ages_new else None,
    }
    return report


def check_file(cache_type: str, fi: FileInfo) -> FileCheck:
    """Parse and schema-check one file."""
    fc = FileCheck(path=fi.path, cache_type=cache_type, is_valid=True, errors=[], warnings=[],
                   file_size=fi.size, last_modified=iso(fi.mtime))
    if fi.kind == "symlink":
        fc.warnings.append("symlink: not followed, not validated")
        return fc
    if fi.kind == "special":
        fc.warnings.append("not a regular file (FIFO, socket or device): not opened")
        return fc
    try:
        doc, bad = read_doc(fi)
    except OSError as exc:
        fc.is_valid = False
        fc.errors.append(f"unreadable: {exc.strerror}")
        return fc
    if bad:
        fc.is_valid, fc.corrupt = False, True
        fc.errors.append(f"corrupt: {bad}")
        return fc
    fc.errors, fc.warnings = check_document(cache_type, doc, os.path.basename(fi.path))
    if fi.kind == "other" and not fi.rel.endswith("_processing_state.json"):
        fc.warnings.insert(0, f"file name does not match the {cache_type} naming pattern")
    fc.is_valid = not fc.errors
    return fc


def validate_files(ctx: Context, names: Optional[Iterable[str]] = None) -> ValidationReport:
    """Check every entry (and stray JSON / symlink) of the selected types."""
    report = ValidationReport()
    for t in ctx.select(names):
        if not t.validation_enabled:
            report.warnings.append(f"{t.name}: validation disabled in config; skipped")
            continue
        if not os.path.lexists(t.directory):
            report.warnings.append(f"{t.name}: directory {t.directory} does not exist")
            continue
        try:
            scanned = ctx.scan(t)
        except OSError as exc:
            report.errors.append(f"{t.name}: {os_error_text(exc, t.directory)}")
            continue
        files = [f for f in scanned if f.kind in ("entry", "symlink", "special")
                 or (f.kind == "other" and f.rel.endswith(".json"))]
        for i, fi in enumerate(files):
            report.files.append(check_file(t.name, fi))
            if i % _TICK == 0:
                ctx.tick(f"validate {t.name}", i, len(files))
    return report
