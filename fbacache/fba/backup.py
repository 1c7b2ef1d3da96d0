"""Compressed, checksummed backups of one cache type, with tiered retention.

Layout: ``<backups>/<cache_type>/<id>.tar.gz`` (``<id>.tar`` with
``strategies.backup.compression: false``) plus ``<id>.manifest.json``.
The archive is written first (temp file, fsync, rename), the manifest last; a
backup exists only once its manifest does, so a crash mid-backup leaves at most
an orphan archive or temp file, which the next run removes. The manifest lists
every file's relative path, size, mtime and SHA-256, and the archive's own
SHA-256, so a restore can verify everything before touching the cache.

Backups are incremental: a file whose size, mtime and SHA-256 equal its entry in
the type's previous backup is not archived again; its manifest entry names the
backup whose archive holds the bytes (``"in": <id>``, always the archive itself,
never a chain of manifests) and the manifest lists those ids in ``depends_on``.
Restore reads each file from its holder; retention keeps every backup a kept
backup depends on.

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
from typing import IO, Any, Iterable, Optional, cast

from fbacache.errors import BackupError, CorruptFile, NotRegularFile, UnsafePath
from fbacache.fba.atomic import AtomicFile, atomic_write_json, default_writer, is_temp_name, read_json
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.results_ops import BackupInfo
from fbacache.fba.safe import open_regular, read_regular
from fbacache.fba.scan import FileInfo
from fbacache.fba.issues import issue

__all__ = [
    "ARCHIVE_SUFFIX", "PLAIN_SUFFIX", "MANIFEST_SUFFIX", "needed_by", "backup_root", "create_backup", "list_backups",
    "verify_archive", "prune_backups", "select_keep", "sha256_file",
]

ARCHIVE_SUFFIX = ".tar.gz"
PLAIN_SUFFIX = ".tar"
MANIFEST_SUFFIX = ".manifest.json"
FORMAT = 2  # 2: incremental entries ("in") and depends_on; format 1 manifests still load


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


def _previous_entries(ctx: Context, t: CacheTypeConfig) -> dict[str, dict[str, Any]]:
    """``rel -> entry`` of the newest backup whose manifest loads, each entry's ``in`` set
    to the backup holding its bytes; empty when there is none (the next backup is full)."""
    backups = list_backups(ctx, t.name)
    created = {b.id: b.created for b in backups}
    # bytes held by an old archive are archived again, so one old full backup is not
    # pinned by retention for as long as a file stays unchanged
    horizon = ctx.clock() - max(1, ctx.config.retention.get("daily_backups", 7)) * 86400.0
    for info in reversed(backups):
        try:
            m = load_manifest(info)
        except BackupError:
            continue  # a damaged manifest is no base: try the one before
        out = {}
        for e in m["files"]:
            holder = e.get("in", info.id)
            if created.get(holder, -1.0) >= horizon:
                out[e["path"]] = dict(e, **{"in": holder})
        return out
    return {}


def create_backup(ctx: Context, t: CacheTypeConfig, reason: str = "manual",
                  full: bool = False) -> BackupInfo:
    """Archive the files of ``t`` changed since its previous backup (all with ``full``)
    into a new backup and write its manifest.

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
    compress = bool(ctx.config.backup.get("compression", True))
    archive = os.path.join(root, bid + (ARCHIVE_SUFFIX if compress else PLAIN_SUFFIX))
    base = {} if full else _previous_entries(ctx, t)
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
            gz = gzip.GzipFile(fileobj=af, mode="wb", compresslevel=6, mtime=int(created)) \
                if compress else None
            sink = cast(IO[bytes], gz if gz is not None else af)
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for i, fi in enumerate(sources):
                    try:
                        data = read_regular(fi.path)
                    except (FileNotFoundError, NotRegularFile):
                        continue  # removed, or swapped for a link/FIFO, since the scan
                    # hash the bytes we archive, not a second read that could differ
                    entry = {"path": fi.rel, "size": len(data), "mtime": fi.mtime,
                             "sha256": hashlib.sha256(data).hexdigest()}
                    prev = base.get(fi.rel)
                    if prev is not None and all(prev[k] == entry[k]
                                                for k in ("size", "mtime", "sha256")):
                        entry["in"] = prev["in"]  # unchanged: its bytes stay where they are
                    else:
                        info = tarfile.TarInfo(fi.rel)
                        info.size, info.mtime, info.mode = len(data), int(fi.mtime), 0o644
                        tar.addfile(info, io.BytesIO(data))
                    entries.append(entry)
                    if i % 500 == 0:
                        ctx.tick(f"backup {t.name}", i, len(sources))
            if gz is not None:
                gz.close()
            archive_bytes = af.bytes_written
        manifest = {
            "format": FORMAT, "id": bid, "cache_type": t.name, "created": created,
            "created_iso": datetime.fromtimestamp(created, timezone.utc).isoformat(),
            "reason": reason, "source_dir": t.directory,
            "archive": os.path.basename(archive), "archive_bytes": archive_bytes,
            "archive_sha256": hasher.hexdigest(), "files": entries,
            "total_bytes": sum(e["size"] for e in entries),
            "compression": "gzip" if compress else "none",
            "depends_on": sorted({e["in"] for e in entries if "in" in e}),
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
    if m.get("archive") not in (bid + ARCHIVE_SUFFIX, bid + PLAIN_SUFFIX):
        raise ValueError(f"it names archive {m.get('archive')!r}, not {bid + ARCHIVE_SUFFIX!r}; "
                         "paths from a manifest are never followed")
    depends = m.get("depends_on", [])
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise ValueError("its depends_on is not a list of backup ids")
    if m.get("cache_type") != cache_type:
        raise ValueError(f"it belongs to {m.get('cache_type')!r}, not {cache_type!r}")
    return BackupInfo(
        id=bid, cache_type=cache_type, created=float(m["created"]),
        archive=os.path.join(root, m["archive"]),
        manifest=os.path.join(root, name),
        file_count=len(m["files"]), total_bytes=int(m["total_bytes"]),
        archive_bytes=int(m["archive_bytes"]), archive_sha256=m["archive_sha256"],
        reason=m.get("reason", "manual"), depends_on=list(depends),
        referenced_count=sum(1 for e in m["files"] if isinstance(e, dict) and "in" in e))


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
    if "in" in entry and not isinstance(entry["in"], str):
        return f"names a holder that is not a backup id (got {entry['in']!r})"
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
                warnings.append(issue("backup.manifest_ignored", f"backup manifest {name} ignored: {exc}"))
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


def needed_by(backups: list[BackupInfo], keep: set[str]) -> set[str]:
    """``keep`` plus every backup a kept one depends on (its files live in their archives).

    Example:
        >>> b = lambda i, deps: BackupInfo(i, "t", 0, "", "", 1, 0, 0, "", depends_on=deps)
        >>> sorted(needed_by([b("a", []), b("b", ["a"]), b("c", ["a"])], {"c"}))
        ['a', 'c']
    """
    by_id = {b.id: b for b in backups}
    out, todo = set(keep), list(keep)
    while todo:  # depends_on is flat today; a closure stays right if that ever changes
        b = by_id.get(todo.pop())
        for dep in b.depends_on if b else ():
            if dep not in out:
                out.add(dep)
                todo.append(dep)
    return out


def prune_backups(ctx: Context, cache_type: str, protect: Iterable[str] = (),
                  dry_run: bool = False) -> list[str]:
    """Apply retention and remove leftovers of crashed runs; returns removed names.

    Must run under the maintenance lock: an archive without manifest is then an
    orphan of a crashed run, not a backup in progress.
    """
    root = backup_root(ctx, cache_type)
    backups = list_backups(ctx, cache_type)
    keep = needed_by(backups, select_keep(backups, ctx.config.retention) | set(protect))
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
        suffix = next((x for x in (ARCHIVE_SUFFIX, PLAIN_SUFFIX) if name.endswith(x)), None)
        orphan = (suffix is not None and name not in live and not is_temp_name(name)
                  and not os.path.exists(path[:-len(suffix)] + MANIFEST_SUFFIX))
        if (orphan or is_temp_name(name)) and os.path.isfile(path) and not os.path.islink(path):
            removed.append(name)
            if not dry_run:
                _remove_quietly(path)
    return removed


def manifest_json(info: BackupInfo) -> str:
    """The manifest as pretty JSON (for ``restore --dry-run`` listings)."""
    return json.dumps(load_manifest(info), indent=1)
