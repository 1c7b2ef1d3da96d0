"""Read-only passes over the cache directories: ``metrics`` and ``validate``.

``validate`` (and ``metrics --content``) parse every entry, because a corrupt file must
be counted as corrupt (the old tool read a corrupt linking map as empty and then
overwrote it). Both stream: files are checked one at a time as the scan finds them and
only counts are kept, so memory does not grow with the number of files (``validate``
keeps its per-file results only when the caller asks, see :func:`validate_files`).

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
import time
from typing import Any, Callable, Iterable, Optional

from fbacache.errors import CorruptFile
from fbacache.fba.atomic import parse_json_bytes
from fbacache.fba.safe import open_regular, read_regular, read_sized
from fbacache.fba.context import Context, os_error_text
from fbacache.fba.results import FileCheck, MetricsReport, TypeMetrics, ValidationReport
from fbacache.fba.scan import FileInfo
from fbacache.fba.tally import tally_dir
from fbacache.fba.issues import issue

__all__ = ["read_doc", "collect_metrics", "validate_files", "check_file", "iso"]

_TICK = 500


def iso(ts: float) -> str:
    """UTC ISO-8601 timestamp with seconds (``time.gmtime``: no datetime object per file).

    Example:
        >>> iso(0.9), iso(1835438400)
        ('1970-01-01T00:00:00Z', '2028-02-29T12:00:00Z')
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


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


def collect_metrics(ctx: Context, names: Optional[Iterable[str]] = None,
                    content: bool = True) -> MetricsReport:
    """File count, bytes, ages, expired and corrupt counts per cache type and in total.

    ``content=False`` reads directory entries only (``du``'s cost, not ``cat``'s):
    ``corrupt_count`` is then ``None``, "not checked", never 0. Nothing per file is kept.
    """
    report = MetricsReport()
    now = ctx.clock()
    for t in ctx.select(names):
        m = TypeMetrics(cache_type=t.name, directory=t.directory,
                        exists=os.path.isdir(t.directory), max_size_bytes=t.max_size_bytes)
        report.types[t.name] = m
        if not os.path.lexists(t.directory):
            report.warnings.append(issue("dir.missing", f"{t.name}: directory {t.directory} does not exist"))
            continue
        try:
            _type_metrics(ctx, t, m, now, content, report.warnings)
        except OSError as exc:  # a file where the directory should be, no permission...
            m.error = os_error_text(exc, t.directory)
            report.errors.append(issue("dir.unreadable", f"{t.name}: {m.error}"))
            continue
        if m.special_skipped:
            report.warnings.append(issue("file.special", f"{t.name}: {m.special_skipped} FIFO/socket/"
                                         "device file(s) skipped (never opened)"))
        if m.corrupt_count:
            report.warnings.append(issue("type.corrupt_files", f"{t.name}: {m.corrupt_count} corrupt file(s)"))
    ages_old = [m.oldest_age_hours for m in report.types.values() if m.oldest_age_hours is not None]
    ages_new = [m.newest_age_hours for m in report.types.values() if m.newest_age_hours is not None]
    report.total = {
        "file_count": sum(m.file_count for m in report.types.values()),
        "total_bytes": sum(m.total_bytes for m in report.types.values()),
        "expired_count": sum(m.expired_count for m in report.types.values()),
        "corrupt_count": None if not content else sum(m.corrupt_count or 0
                                                      for m in report.types.values()),
        "oldest_age_hours": max(ages_old) if ages_old else None,
        "newest_age_hours": min(ages_new) if ages_new else None,
    }
    return report


def _type_metrics(ctx: Context, t: Any, m: TypeMetrics, now: float, content: bool,
                  warnings: list[str]) -> None:
    # one pass, counters only: fba/tally.py for directory entries alone (the cost of `du`),
    # the scanner's FileInfo stream when every entry is also read (`--content`)
    ttl = t.ttl_seconds
    keep_protected = ctx.preserves_protected(t)
    if not content:  # directory entries only: counters without a FileInfo per file
        c = tally_dir(t.name, t.directory, exclude=ctx.other_dirs(t), ttl=ttl, now=now,
                      keep_protected=keep_protected)
        m.file_count, m.total_bytes, m.expired_count, m.corrupt_count = \
            c.entries, c.size, c.expired, None
        m.other_files, m.symlinks_skipped, m.special_skipped = c.other, c.symlinks, c.special
        if c.oldest is not None and c.newest is not None:
            m.oldest_age_hours = max(0.0, now - c.oldest) / 3600.0
            m.newest_age_hours = max(0.0, now - c.newest) / 3600.0
        return
    total = _count_entries(ctx, t) if ctx.progress is not None else 0
    oldest: Optional[float] = None
    newest: Optional[float] = None
    n = other = links = special = expired = size = 0
    corrupt = 0
    for fi in ctx.iter_scan(t):
        kind = fi.kind
        if kind != "entry":
            if kind == "other" or kind == "temp":
                other += 1
            elif kind == "symlink":
                links += 1
            elif kind == "special":
                special += 1
            continue
        n += 1
        size += fi.size
        mt = fi.mtime
        if oldest is None or mt < oldest:
            oldest = mt
        if newest is None or mt > newest:
            newest = mt
        if ttl is not None and now - mt > ttl and not (fi.protected and keep_protected):
            expired += 1
        try:
            _, bad = read_doc(fi)
        except OSError as exc:
            warnings.append(issue("file.unreadable", f"{fi.path}: unreadable: {exc.strerror}"))
            continue
        if bad:
            corrupt += 1
        if total and n % _TICK == 1:
            ctx.tick(f"metrics {t.name}", n - 1, total)
    m.file_count, m.total_bytes, m.expired_count, m.corrupt_count = n, size, expired, corrupt
    m.other_files, m.symlinks_skipped, m.special_skipped = other, links, special
    if oldest is not None and newest is not None:
        m.oldest_age_hours = max(0.0, now - oldest) / 3600.0
        m.newest_age_hours = max(0.0, now - newest) / 3600.0


def _count_entries(ctx: Context, t: Any, validated: bool = False) -> int:
    # only for a progress line (a terminal): the total is one more scan of directory entries
    return sum(1 for f in ctx.iter_scan(t, stat=False)
               if (_validated(f) if validated else f.kind == "entry"))


def _validated(fi: FileInfo) -> bool:
    """True for the files ``validate`` checks: entries, stray JSON, symlinks, special files."""
    kind = fi.kind
    return kind in ("entry", "symlink", "special") or (kind == "other" and fi.rel.endswith(".json"))


Verdict = Optional[tuple[list[str], list[str], bool]]

# The schema checks are imported by the first validation, not at start: `metrics` never
# needs them (its start-up is a good part of its cost).
amazon_view: Any = None
amazon_clean: Any = None
check_amazon: Any = None
check_document: Any = None


def _load_checks() -> None:
    global amazon_view, amazon_clean, check_amazon, check_document
    if check_document is None:
        from fbacache.fba import project, schemas
        amazon_view, amazon_clean = project.amazon_view, project.amazon_clean
        check_amazon, check_document = schemas.check_amazon, schemas.check_document


def _verdict(cache_type: str, fi: FileInfo) -> tuple[Verdict, int, float]:
    """``((errors, warnings, corrupt) or None when clean, size, mtime)`` of one file.

    Size and mtime are those of the file actually read (its ``fstat``), so a scan
    without ``stat`` costs no extra system call.
    """
    kind = fi.kind
    if kind == "symlink":
        return ([], [issue("file.symlink", "symlink: not followed, not validated")], False), \
            fi.size, fi.mtime
    if kind == "special":
        return ([], [issue("file.special", "not a regular file (FIFO, socket or device): "
                                           "not opened")], False), fi.size, fi.mtime
    try:
        fd, st = open_regular(fi.path)  # O_NOFOLLOW | O_NONBLOCK, fstat on the descriptor
        try:
            raw = read_sized(fd, st.st_size)
        finally:
            os.close(fd)
    except CorruptFile as exc:  # swapped for a symlink / FIFO since the scan: never read
        return ([issue("file.corrupt", f"corrupt: {exc.reason}")], [], True), *_lstat(fi)
    except OSError as exc:
        return ([issue("file.unreadable", f"unreadable: {exc.strerror}")], [], False), \
            *_lstat(fi)
    name = fi.rel.rpartition("/")[2]  # the scan joins with "/"
    view = None
    if cache_type == "amazon_cache" and not name.endswith("_processing_state.json"):
        if kind == "entry" and amazon_clean(raw, name):
            return None, st.st_size, st.st_mtime  # the common case: no message to build
        if raw[:3] != b"\xef\xbb\xbf" and raw.strip():
            view = amazon_view(raw)  # the keys the check reads, or None: parse in full
    if view is not None:
        errs, warns = check_amazon(view, name)
    else:
        try:
            doc = parse_json_bytes(fi.path, raw)
        except CorruptFile as exc:
            return ([issue("file.corrupt", f"corrupt: {exc.reason}")], [], True), \
                st.st_size, st.st_mtime
        errs, warns = check_document(cache_type, doc, name)
    errors: list[str] = [issue("file.schema", e) for e in errs]
    warnings: list[str] = [issue("file.schema_warning", w) for w in warns]
    if kind == "other" and not fi.rel.endswith("_processing_state.json"):
        warnings.insert(0, issue("file.name", f"file name does not match the {cache_type} "
                                              "naming pattern"))
    if errors or warnings:
        return (errors, warnings, False), st.st_size, st.st_mtime
    return None, st.st_size, st.st_mtime


def _lstat(fi: FileInfo) -> tuple[int, float]:
    # the file could not be opened: its own entry's size and mtime, if it still has one
    if fi.size or fi.mtime:
        return fi.size, fi.mtime
    try:
        st = os.lstat(fi.path)
    except OSError:
        return 0, 0.0
    return st.st_size, st.st_mtime


def check_file(cache_type: str, fi: FileInfo) -> FileCheck:
    """Parse and schema-check one file."""
    _load_checks()
    v, size, mtime = _verdict(cache_type, fi)
    errors, warnings, corrupt = v if v is not None else ([], [], False)
    return FileCheck(path=fi.path, cache_type=cache_type, is_valid=not errors, errors=errors,
                     warnings=warnings, file_size=size, last_modified=iso(mtime),
                     corrupt=corrupt)


OnFile = Callable[[FileCheck], None]


def validate_files(ctx: Context, names: Optional[Iterable[str]] = None, *,
                   on_file: Optional[OnFile] = None, every_file: bool = True,
                   keep: Optional[int] = None) -> ValidationReport:
    """Check every entry (and stray JSON / symlink / special file) of the selected types.

    Files are checked in scan order, one at a time. The report's counts cover every
    file; which :class:`FileCheck` objects exist and where they go is the caller's:

    Args:
        on_file: called with each file's check as soon as it is made (a CLI prints it).
        every_file: ``False``: only files with errors or warnings get a ``FileCheck``
            (for ``on_file`` and ``files``); clean files are only counted.
        keep: how many checks the report keeps in ``files`` (``None``: all; ``0``: none,
            memory then stays flat however many files there are).
    """
    report = ValidationReport()
    for t in ctx.select(names):
        if not t.validation_enabled:
            report.warnings.append(issue("type.validation_disabled", f"{t.name}: validation disabled in config; skipped"))
            continue
        if not os.path.lexists(t.directory):
            report.warnings.append(issue("dir.missing", f"{t.name}: directory {t.directory} does not exist"))
            continue
        try:
            _validate_type(ctx, t.name, t, report, on_file, every_file, keep)
        except OSError as exc:
            report.errors.append(issue("dir.unreadable", f"{t.name}: {os_error_text(exc, t.directory)}"))
            continue
    report.omitted_files = report.checked_files - len(report.files)
    bad = report.invalid_count
    if bad:  # the summary an operator (and --quiet) sees as the run's error
        report.errors.append(issue("files.invalid", f"{bad} of {report.checked_files} checked "
                                   "file(s) invalid (see the table or --json files)"))
    return report


def _validate_type(ctx: Context, name: str, t: Any, report: ValidationReport,
                   on_file: Optional[OnFile], every_file: bool, keep: Optional[int]) -> None:
    _load_checks()
    total = _count_entries(ctx, t, validated=True) if ctx.progress is not None else 0
    i = 0
    for fi in ctx.iter_scan(t, stat=False):
        if fi.kind != "entry" and not _validated(fi):
            continue
        if total and i % _TICK == 0:
            ctx.tick(f"validate {name}", i, total)
        i += 1
        v, size, mtime = _verdict(name, fi)
        if v is None:
            report.checked_files += 1
            if not every_file:
                continue  # a clean file: counted, no object made
            fc = FileCheck(fi.path, name, True, [], [], size, iso(mtime))
        else:
            errors, warnings, corrupt = v
            fc = FileCheck(fi.path, name, not errors, errors, warnings, size, iso(mtime),
                           corrupt)
            report.checked_files += 1
            if errors:
                report.invalid_count += 1
                report.corrupt_count += corrupt
            if warnings:
                report.warned_count += 1
        if on_file is not None:
            on_file(fc)
        if keep is None or len(report.files) < keep:
            report.files.append(fc)
