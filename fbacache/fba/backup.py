"""Compressed, checksummed backups of one cache type, with tiered retention.

Layout: ``<backups>/<cache_type>/<id>.tar.gz`` plus ``<id>.manifest.json``.
The archive is written first (temp file, fsync, rename), the manifest last; a
backup exists only once its manifest does, so a crash mid-backup leaves at most
an orphan archive or temp file, which the next run removes. The manifest lists
every file's relative path, size, mtime and SHA-256, and the archive's own
SHA-256, so a restore can verify everything before touching the cache.

Retention keeps the last ``daily_backups`` backups, plus the newest backup of
each of the last ``daily_backups`` days, ``weekly_backups`` ISO weeks and
``monthly_backups`` months that have backups (the union), plus the newest backup
that holds files (backups of an empty directory never push it out).

A manifest is data: its ``id`` must be its own file name and its ``archive``
exactly ``<id>.tar.gz`` beside it, or it is not a backup at all (never listed,
never pruned), so a forged manifest cannot name a file for retention to delete.

Example:
    >>> from datetime import datetime, timezone
    >>> ts = lambda d: datetime(2025, 6, d, tzinfo=timezone.utc).timestamp()
    >>> bs = [BackupInfo(str(d), "t", ts(d), "", "", 0, 0, 0, "") for d in (1, 2, 3, 9)]
    >>> sorted(select_keep(bs, {"daily_backups": 2, "weekly_backups": 3, "monthly_backups": 0}))
    ['1', '3', '9']
    >>> bs[1] = BackupInfo("2", "t", ts(2), "", "", 5, 0, 0, "")  # the only one holding files
    >>> sorted(select_keep(bs, {"daily_backups": 1, "weekly_backups": 0, "monthly_backups": 0}))
    ['2', '9']
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import stat
import tarfile
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from fbacache.errors import BackupError, CorruptFile, NotRegularFile, UnsafePath
from fbacache.fba.atomic import AtomicFile, atomic_write_json, default_writer, is_temp_name, read_json
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.results import BackupInfo
from fbacache.fba.safe import open_regular, read_regular
from fbacache.fba.scan import FileInfo

__all__ = [
    "ARCHIVE_SUFFIX", "MANIFEST_SUFFIX", "backup_root", "create_backup", "list_backups",
    "verify_archive", "prune_backups", "select_keep", "sha256_file",
]

ARCHIVE_SUFFIX = ".tar.gz"
MANIFEST_SUFFIX = ".manifest.json"
FORMAT = 1


def backup_root(ctx: Context, cache_type: str) -> str:
    """Directory holding the backups of ``cache_type``."""
    return os.path.join(ctx.config.tool_dir("backups"), cache_type)


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a regular file, read in 1 MiB chunks (symlinks and FIFOs refused)."""
    h = hashlib.sha256()
    fd, _ = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def backup_sources(files: Iterable[FileInfo]) -> list[FileInfo]:
    """Files a backup covers: entries and other regular files, never results, temps or links."""
    return [f for f in files if f.kind in ("entry", "other")]


def create_backup(ctx: Context, t: CacheTypeConfig, reason: str = "manual") -> BackupInfo:
    """Archive every file of ``t`` into a new backup and write its manifest.

    Raises:
        BackupError: the directory does not exist (a backup of nothing would count
            towards retention), the backup directory is a symlink, or the archive or
            manifest could not be written (e.g. ENOSPC); nothing partial is left
            under a final name.
    """
    if not os.path.isdir(t.directory):
        why = "is not a directory" if os.path.lexists(t.directory) else "does not exist"
        raise BackupError(f"backup of {t.name} refused: directory {t.directory} {why}")
    root = backup_root(ctx, t.name)
    try:
        ctx.tool_path("backups", root, create=True)
    except (UnsafePath, OSError) as exc:
        raise BackupError(f"backup of {t.name} failed: {exc}") from exc
    created = ctx.clock()
    stamp = datetime.fromtimestamp(created, timezone.utc).strftime("%Y%m%d_%H%M%S_%f")
    bid = f"{t.name}_{stamp}_{secrets.token_hex(2)}"
    archive = os.path.join(root, bid + ARCHIVE_SUFFIX)
    manifest_path = os.path.join(root, bid + MANIFEST_SUFFIX)
    sources = backup_sources(ctx.scan(t))
    hasher = hashlib.sha256()
    inner = ctx.writer or default_writer

    def hashing_writer(fd: int, chunk: bytes) -> None:
        inner(fd, chunk)
        hasher.update(chunk)

    entries: list[dict[str, Any]] = []
    try:
        with AtomicFile(archive, writer=hashing_writer) as af:
            # tarfile's own "w|gz" has no compresslevel on 3.11; level 6 is ~3x faster than 9
            with gzip.GzipFile(fileobj=af, mode="wb", compresslevel=6, mtime=int(created)) as gz:
                with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for i, fi in enumerate(sources):
                        try:
                            data = read_regular(fi.path)
                        except (FileNotFoundError, NotRegularFile):
                            continue  # removed, or swapped for a link/FIFO, since the scan
                        # hash the bytes we archive, not a second read that could differ
                        info = tarfile.TarInfo(fi.rel)
                        info.size, info.mtime, info.mode = len(data), int(fi.mtime), 0o644
                        tar.addfile(info, io.BytesIO(data))
                        entries.append({"path": fi.rel, "size": len(data), "mtime": fi.mtime,
                                        "sha256": hashlib.sha256(data).hexdigest()})
                        ctx.tick(f"backup {t.name}", i, len(sources))
            archive_bytes = af.bytes_written
        manifest = {
            "format": FORMAT, "id": bid, "cache_type": t.name, "created": created,
            "created_iso": datetime.fromtimestamp(created, timezone.utc).isoformat(),
            "reason": reason, "source_dir": t.directory,
            "archive": os.path.basename(archive), "archive_bytes": archive_bytes,
            "archive_sha256": hasher.hexdigest(), "files": entries,
            "total_bytes": sum(e["size"] for e in entries),
        }
        atomic_write_json(manifest_path, manifest, writer=ctx.writer, indent=1)
    except OSError as exc:
        _remove_quietly(archive)
        raise BackupError(f"backup of {t.name} failed: {exc}") from exc
    return _info(manifest, root, os.path.basename(manifest_path), t.name)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _info(m: Any, root: str, name: str, cache_type: str) -> BackupInfo:
    """A backup's info from its manifest ``m`` (the file ``name`` in ``root``).

    Every path comes from ``name`` (a directory entry), none from the manifest's
    content: a manifest whose ``id`` or ``archive`` disagrees is refused.
    """
    bid = name[:-len(MANIFEST_SUFFIX)]
    if not isinstance(m, dict) or m.get("id") != bid:
        raise ValueError(f"its id {m.get('id') if isinstance(m, dict) else None!r} is not "
                         f"its file name {bid!r}")
    if m.get("archive") != bid + ARCHIVE_SUFFIX:
        raise ValueError(f"it names archive {m.get('archive')!r}, not {bid + ARCHIVE_SUFFIX!r}; "
                         "paths from a manifest are never followed")
    if m.get("cache_type") != cache_type:
        raise ValueError(f"it belongs to {m.get('cache_type')!r}, not {cache_type!r}")
    return BackupInfo(
        id=bid, cache_type=cache_type, created=float(m["created"]),
        archive=os.path.join(root, bid + ARCHIVE_SUFFIX),
        manifest=os.path.join(root, name),
        file_count=len(m["files"]), total_bytes=int(m["total_bytes"]),
        archive_bytes=int(m["archive_bytes"]), archive_sha256=m["archive_sha256"],
        reason=m.get("reason", "manual"))


def load_manifest(info: BackupInfo) -> dict[str, Any]:
    """The parsed manifest of a backup.

    Raises:
        BackupError: the manifest is missing or corrupt.
    """
    try:
        m = read_json(info.manifest)
    except (OSError, CorruptFile) as exc:
        raise BackupError(f"manifest of {info.id} unreadable: {exc}") from exc
    if not isinstance(m, dict) or not isinstance(m.get("files"), list):
        raise BackupError(f"manifest of {info.id} has no file list")
    for i, entry in enumerate(m["files"]):
        problem = _entry_problem(entry)
        if problem:
            raise BackupError(f"manifest of {info.id}: files[{i}] {problem}")
    return m


def _is_timestamp(value: float) -> bool:
    # restore sets this mtime with os.utime: NaN, inf and values beyond time_t would raise there
    try:
        datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _entry_problem(entry: Any) -> Optional[str]:
    # A manifest is data on disk, not trusted: check every field restore reads, so a forged
    # or damaged entry is a BackupError before anything is staged, not a crash halfway.
    if not isinstance(entry, dict):
        return f"is {type(entry).__name__}, not an object"
    if not isinstance(entry.get("path"), str) or not entry["path"]:
        return "has no path (a non-empty string)"
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return f"has no valid size (got {size!r})"
    mtime = entry.get("mtime")
    if isinstance(mtime, bool) or not isinstance(mtime, (int, float)) or not _is_timestamp(mtime):
        return f"has no valid mtime (got {mtime!r})"
    if not isinstance(entry.get("sha256"), str):
        return "has no sha256"
    return None


def list_backups(ctx: Context, cache_type: str,
                 warnings: Optional[list[str]] = None) -> list[BackupInfo]:
    """Complete backups of ``cache_type``, oldest first.

    Corrupt or forged manifests (see :func:`_info`) are skipped and reported in ``warnings``.

    Raises:
        UnsafePath: the backup directory, or a directory above it inside the root,
            is a symlink.
    """
    root = backup_root(ctx, cache_type)
    out = []
    if not ctx.tool_path("backups", root):
        return []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX) or is_temp_name(name):
            continue
        try:
            info = _info(read_json(os.path.join(root, name)), root, name, cache_type)
        except (OSError, CorruptFile, KeyError, TypeError, ValueError) as exc:
            if warnings is not None:
                warnings.append(f"backup manifest {name} ignored: {exc}")
            continue
        try:
            if stat.S_ISREG(os.lstat(info.archive).st_mode):  # not a symlink, not a FIFO
                out.append(info)
        except FileNotFoundError:
            pass
    out.sort(key=lambda b: (b.created, b.id))
    return out


def verify_archive(info: BackupInfo) -> None:
    """Check the archive's size and SHA-256 against its manifest.

    Raises:
        BackupError: the archive is missing, truncated or altered.
    """
    try:
        size = os.path.getsize(info.archive)
        digest = sha256_file(info.archive)
    except OSError as exc:
        raise BackupError(f"backup {info.id}: archive unreadable: {exc}") from exc
    if size != info.archive_bytes or digest != info.archive_sha256:
        raise BackupError(f"backup {info.id}: archive checksum mismatch "
                          f"(expected {info.archive_sha256[:12]}, got {digest[:12]})")


def _bucket(ts: float, tier: str) -> str:
    d = datetime.fromtimestamp(ts, timezone.utc)
    if tier == "daily_backups":
        return d.strftime("%Y-%m-%d")
    if tier == "weekly_backups":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    return d.strftime("%Y-%m")


def select_keep(backups: list[BackupInfo], retention: dict[str, int]) -> set[str]:
    """Ids kept: the last ``daily_backups`` backups, plus the newest backup of each of the
    last ``daily_backups`` days, ``weekly_backups`` ISO weeks and ``monthly_backups`` months,
    plus the newest backup that holds files."""
    newest_first = sorted(backups, key=lambda b: (b.created, b.id), reverse=True)
    # the last `daily_backups` backups always stay, whatever their day: otherwise a second
    # clear on the same day would prune the first clear's safety backup within minutes
    keep = {b.id for b in newest_first[:max(1, retention.get("daily_backups", 0))]}
    # backups of an emptied directory must not push the last real one out: it may be the
    # only copy of the data left
    for b in newest_first:
        if b.file_count > 0:
            keep.add(b.id)
            break
    for tier in ("daily_backups", "weekly_backups", "monthly_backups"):
        limit = retention.get(tier, 0)
        seen: set[str] = set()
        for b in newest_first:
            if len(seen) >= limit:
                break
            key = _bucket(b.created, tier)
            if key not in seen:
                seen.add(key)
                keep.add(b.id)
    return keep


def prune_backups(ctx: Context, cache_type: str, protect: Iterable[str] = (),
                  dry_run: bool = False) -> list[str]:
    """Apply retention and remove leftovers of crashed runs; returns removed names.

    Must run under the maintenance lock: an archive without manifest is then an
    orphan of a crashed run, not a backup in progress.
    """
    root = backup_root(ctx, cache_type)
    backups = list_backups(ctx, cache_type)
    keep = select_keep(backups, ctx.config.retention) | set(protect)
    removed = []
    for b in backups:
        if b.id in keep:
            continue
        removed.append(b.id)
        if not dry_run:
            os.unlink(b.manifest)  # manifest first: the backup stops existing atomically
            _remove_quietly(b.archive)
    live = {os.path.basename(b.archive) for b in backups if b.id not in removed}
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return removed
    for name in names:
        path = os.path.join(root, name)
        # an archive whose manifest is absent (not merely unreadable) is a crashed run's orphan
        orphan = (name.endswith(ARCHIVE_SUFFIX) and name not in live and not is_temp_name(name)
                  and not os.path.exists(path[:-len(ARCHIVE_SUFFIX)] + MANIFEST_SUFFIX))
        if (orphan or is_temp_name(name)) and os.path.isfile(path) and not os.path.islink(path):
            removed.append(name)
            if not dry_run:
                _remove_quietly(path)
    return removed


def manifest_json(info: BackupInfo) -> str:
    """The manifest as pretty JSON (for ``restore --dry-run`` listings)."""
    return json.dumps(load_manifest(info), indent=1)
