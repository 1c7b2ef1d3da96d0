"""Compressed, checksummed backups of one cache type, with tiered retention.

Layout: ``<backups>/<cache_type>/<id>.tar.gz`` (``<id>.tar`` with
``strategies.backup.compression: false``) plus ``<id>.manifest.json``.
The archive is written first (temp file, fsync, rename), the manifest last; a
backup exists only once its manifest does, so a crash mid-backup leaves at most
an orphan archive or temp file, which the next run removes. The manifest lists
every file's relative path, size, mtime and SHA-256, and the archive's own
SHA-256, so a restore can verify everything before touching the cache.

Files are read in sorted order (:func:`~fbacache.fba.manifest.path_key`), archived
and written to the manifest one at a time, and compared with the previous
manifest by a merge of two sorted streams: memory does not grow with the number
of files (the manifest layout is described in :mod:`fbacache.fba.manifest`).

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
import os
import secrets
import stat
import tarfile
from datetime import datetime, timezone
from typing import IO, Any, Iterable, Iterator, Optional, cast

from fbacache.errors import BackupError, CorruptFile, NotRegularFile, UnsafePath
from fbacache.fba.atomic import AtomicFile, default_writer, is_temp_name
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.results_ops import BackupInfo
from fbacache.fba.safe import open_regular, read_regular
from fbacache.fba.scan import FileInfo
from fbacache.fba.issues import issue
from fbacache.fba.manifest import FORMAT, ManifestWriter, iter_entries, path_key, read_header
from fbacache.fba.manifest import load_manifest as _load_manifest

__all__ = [
    "ARCHIVE_SUFFIX", "PLAIN_SUFFIX", "MANIFEST_SUFFIX", "needed_by", "backup_root", "create_backup", "list_backups",
    "verify_archive", "prune_backups", "select_keep", "sha256_file",
]

ARCHIVE_SUFFIX = ".tar.gz"
PLAIN_SUFFIX = ".tar"
MANIFEST_SUFFIX = ".manifest.json"


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


def backup_sources(files: Iterable[FileInfo]) -> Iterator[FileInfo]:
    """Files a backup covers: entries and other regular files, never results, temps or links."""
    return (f for f in files if f.kind in ("entry", "other"))


class _Previous:
    """The previous backup's entries as a sorted stream, looked up in ascending path order
    (a merge: nothing is indexed, so memory does not grow with the file count)."""

    def __init__(self, ctx: Context, t: CacheTypeConfig, backups: list[BackupInfo]) -> None:
        created = {b.id: b.created for b in backups}
        # bytes held by an old archive are archived again, so one old full backup is not
        # pinned by retention for as long as a file stays unchanged
        self._horizon = ctx.clock() - max(1, ctx.config.retention.get("daily_backups", 7)) * 86400.0
        self._created = created
        self._it: Iterator[dict[str, Any]] = iter(())
        self._id = ""
        for info in reversed(backups):
            it = iter_entries(info.manifest, info.id)
            try:
                self._head = next(it, None)  # a manifest that does not even start is no base
            except BackupError:
                continue  # a damaged manifest is no base: try the one before
            self._it, self._id = it, info.id
            return
        self._head = None

    def find(self, rel: str) -> Optional[dict[str, Any]]:
        """The previous entry of ``rel`` (with ``in`` set to its holder), or ``None``;
        successive calls must come in ascending :func:`path_key` order."""
        key = path_key(rel)
        while self._head is not None and path_key(self._head["path"]) < key:
            self._advance()
        head = self._head
        if head is None or head["path"] != rel:
            return None
        holder = head.get("in", self._id)
        if self._created.get(holder, -1.0) < self._horizon:
            return None
        return dict(head, **{"in": holder})

    def _advance(self) -> None:
        try:
            self._head = next(self._it, None)
        except BackupError:
            # damaged from here on: the rest of the files are archived again, which is
            # always safe (a reference is only ever a saving)
            self._head, self._it = None, iter(())


def create_backup(ctx: Context, t: CacheTypeConfig, reason: str = "manual",
                  full: bool = False) -> BackupInfo:
    """Archive the files of ``t`` changed since its previous backup (all with ``full``)
    into a new backup and write its manifest.

    Files are read in sorted order and the manifest is written as they are archived
    (see :mod:`fbacache.fba.manifest`), so memory does not grow with the file count.

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
    backups = list_backups(ctx, t.name)
    estimate = backups[-1].file_count if backups else 0  # for the progress line only
    manifest_path = os.path.join(root, bid + MANIFEST_SUFFIX)
    hasher = hashlib.sha256()
    inner = ctx.writer or default_writer

    def hashing_writer(fd: int, chunk: bytes) -> None:
        inner(fd, chunk)
        hasher.update(chunk)

    try:
        base = _Previous(ctx, t, [] if full else backups)
        entries = ManifestWriter(root)
    except OSError as exc:
        raise BackupError(f"backup of {t.name} failed: {exc}") from exc
    try:
        with AtomicFile(archive, writer=hashing_writer) as af:
            # tarfile's own "w|gz" has no compresslevel on 3.11; level 6 is ~3x faster than 9
            gz = gzip.GzipFile(fileobj=af, mode="wb", compresslevel=6, mtime=int(created)) \
                if compress else None
            sink = cast(IO[bytes], gz if gz is not None else af)
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for i, fi in enumerate(backup_sources(ctx.iter_scan(t, ordered=True))):
                    try:
                        data = read_regular(fi.path)
                    except (FileNotFoundError, NotRegularFile):
                        continue  # removed, or swapped for a link/FIFO, since the scan
                    # hash the bytes we archive, not a second read that could differ
                    entry = {"path": fi.rel, "size": len(data), "mtime": fi.mtime,
                             "sha256": hashlib.sha256(data).hexdigest()}
                    prev = base.find(fi.rel)
                    if prev is not None and all(prev[k] == entry[k]
                                                for k in ("size", "mtime", "sha256")):
                        entry["in"] = prev["in"]  # unchanged: its bytes stay where they are
                    else:
                        info = tarfile.TarInfo(fi.rel)
                        info.size, info.mtime, info.mode = len(data), int(fi.mtime), 0o644
                        tar.addfile(info, io.BytesIO(data))
                        forget_members(tar)
                    entries.add(entry)
                    if i % 500 == 0:
                        ctx.tick(f"backup {t.name}", i, max(i, estimate))
            if gz is not None:
                gz.close()
            archive_bytes = af.bytes_written
        header = {
            "format": FORMAT, "id": bid, "cache_type": t.name, "created": created,
            "created_iso": datetime.fromtimestamp(created, timezone.utc).isoformat(),
            "reason": reason, "source_dir": t.directory,
            "archive": os.path.basename(archive), "archive_bytes": archive_bytes,
            "archive_sha256": hasher.hexdigest(),
            "compression": "gzip" if compress else "none",
        }
        entries.commit(manifest_path, header, writer=ctx.writer)
        head, _ = read_header(manifest_path)
    except OSError as exc:
        entries.close()
        _remove_quietly(archive)
        raise BackupError(f"backup of {t.name} failed: {exc}") from exc
    except BaseException:
        entries.close()
        raise
    return _info(head, True, root=root, name=os.path.basename(manifest_path), cache_type=t.name)


def forget_members(tar: tarfile.TarFile) -> None:
    """Drop the ``TarInfo`` list a ``TarFile`` keeps of every member it wrote or read (a
    48k-member archive: tens of MiB); one-pass writers and readers need none of it."""
    cast(Any, tar).members.clear()


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _info(m: Any, streamed: bool = True, *, root: str, name: str, cache_type: str) -> BackupInfo:
    """A backup's info from its manifest ``m`` (the file ``name`` in ``root``): the header
    of a streamed manifest, or the whole document of any other (``streamed=False``).

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
    if streamed:  # the counts are in the header; restore checks them against the entries
        count, referenced = m.get("file_count", -1), m.get("referenced_count", -1)
        if not all(type(c) is int and c >= 0 for c in (count, referenced)):
            raise ValueError("its header has no valid file_count / referenced_count")
    else:
        count = len(m["files"])
        referenced = sum(1 for e in m["files"] if isinstance(e, dict) and "in" in e)
    return BackupInfo(
        id=bid, cache_type=cache_type, created=float(m["created"]),
        archive=os.path.join(root, m["archive"]),
        manifest=os.path.join(root, name),
        file_count=count, total_bytes=int(m["total_bytes"]),
        archive_bytes=int(m["archive_bytes"]), archive_sha256=m["archive_sha256"],
        reason=m.get("reason", "manual"), depends_on=list(depends),
        referenced_count=referenced)


def load_manifest(info: BackupInfo) -> dict[str, Any]:
    """The whole parsed manifest of a backup, every entry checked (memory grows with
    the file count: backup and restore stream it with :func:`~fbacache.fba.manifest.iter_entries`).

    Raises:
        BackupError: the manifest is missing or corrupt.
    """
    return _load_manifest(info.manifest, info.id)


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
            m, streamed = read_header(os.path.join(root, name))
            info = _info(m, streamed, root=root, name=name, cache_type=cache_type)
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

