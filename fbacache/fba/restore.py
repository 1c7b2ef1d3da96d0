"""Restore a cache type from a verified backup, one atomic rename per file.

Order of work, so that nothing changes until everything is known good:

1. read the manifest as a stream, checking every entry and confining every target;
2. verify the SHA-256 of the backup's archive and of every earlier archive an
   incremental backup takes files from (``"in"`` entries of its manifest);
3. extract into a hidden staging directory *inside* the cache directory (same
   filesystem, so the final renames are atomic), checking every member's size
   and SHA-256 and refusing absolute paths, ``..``, links and devices; each
   archive is read once, merged with the manifest's sorted entries (archives of
   format-2 manifests, unsorted, are matched through an index of their entries);
4. make the staged files durable with one ``syncfs`` (one ``fsync`` per file
   where ``syncfs`` is missing) instead of one ``fsync`` per file;
5. ``os.replace`` each staged file over its target (under the file's lock),
   fsync the directories, remove the staging directory.

A crash during 5 leaves each file either at its old or its restored version;
running the restore again completes it. Files created after the backup are left
alone (restore adds and overwrites, it never deletes).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import secrets
import shutil
import stat
import sys
import tarfile
from typing import Any, Callable, Iterable, Iterator, Optional, cast

from fbacache.errors import BackupError, CorruptFile, UnsafePath
from fbacache.fba.atomic import default_writer, fsync_dir
from fbacache.fba.backup import MANIFEST_SUFFIX, forget_members, list_backups, verify_archive
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.locking import file_lock
from fbacache.fba.manifest import iter_entries, path_key, read_header
from fbacache.fba.results_ops import BackupInfo
from fbacache.fba.safe import confine, make_dirs, open_regular, read_regular
from fbacache.fba.scan import guard_path

__all__ = ["STAGING_PREFIX", "choose_backup", "stage_backup", "restore_type"]

STAGING_PREFIX = ".fbacache-restore-"

#: Types whose files are updated read-modify-write by other processes (take their lock).
LOCKED_TYPES = ("linking_map", "supplier_cache")


def choose_backup(ctx: Context, t: CacheTypeConfig, backup_id: Optional[str]) -> BackupInfo:
    """The latest complete backup of ``t``, or the one named ``backup_id``.

    Raises:
        BackupError: no backup exists, or none has that id.
    """
    ignored: list[str] = []
    backups = list_backups(ctx, t.name, ignored)
    if backup_id is not None:
        for b in backups:
            if b.id == backup_id:
                return b
        # a manifest of that name that could not be used: say why, not just "no backup"
        why = [str(i) for i in ignored if f" {backup_id}{MANIFEST_SUFFIX} " in i]
        raise BackupError(f"{t.name}: no usable backup with id {backup_id!r}"
                          + (f" ({why[0]})" if why else ""))
    # a "pre-restore" backup is the undo of a restore, not a restore point: re-running an
    # interrupted restore must pick the same backup again, not the safety copy it made
    candidates = [b for b in backups if not b.reason.startswith("pre-restore")]
    if not candidates:
        raise BackupError(f"{t.name}: no backup to restore")
    # restore adds files and never deletes, so a backup of an empty directory restores
    # nothing: the restore point is the newest backup that holds files
    holding = [b for b in candidates if b.file_count > 0]
    if not holding:
        raise BackupError(f"{t.name}: every backup is empty ({len(candidates)} backup(s) of an "
                          f"empty directory); nothing to restore")
    return holding[-1]


def _safe_member(name: object) -> str:
    """``name`` (a manifest path or archive member) checked by :func:`confine`; '/'-separated."""
    confine("", name, what="backup member")  # raises unless name is a safe relative str
    return cast(str, name)


def _load_syncfs() -> Optional[Callable[[int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return cast(Callable[[int], int], fn)


_SYNCFS = _load_syncfs()


def sync_staged(staging: str) -> None:
    """Make every staged file durable before any of them is renamed into place.

    One ``syncfs`` of the staging directory's filesystem replaces an ``fsync`` per
    file (the restore's main cost on a 48k-file tree); without ``syncfs`` each
    staged file is fsynced.

    Raises:
        OSError: a sync failed (the cache is still untouched).
    """
    if _SYNCFS is not None:
        fd = os.open(staging, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), staging)
        finally:
            os.close(fd)
        return
    for path, _ in _staged_files(staging):  # pragma: no cover - non-Linux
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _staged_files(staging: str) -> Iterator[tuple[str, str]]:
    """``(path, rel)`` of every file staged (only this run writes its staging directory)."""
    for dirpath, _, names in os.walk(staging):
        for name in names:
            path = os.path.join(dirpath, name)
            yield path, os.path.relpath(path, staging).replace(os.sep, "/")


def _write_staged(dest: str, data: bytes, mtime: float, ctx: Context) -> None:
    # No temp+rename here: the staging directory is invisible until its files are renamed
    # into place; sync_staged makes them all durable before the first rename.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        (ctx.writer or default_writer)(fd, data)
    finally:
        os.close(fd)
    os.utime(dest, (mtime, mtime))


def holders(ctx: Context, t: CacheTypeConfig, info: BackupInfo,
            needed: Iterable[str]) -> dict[str, BackupInfo]:
    """The backups whose archives hold files of ``info``: ``needed`` ids (``info.id``
    for its own files, each entry's ``in`` for the others), ``info`` itself included.

    Raises:
        BackupError: an incremental entry names a backup that no longer exists.
    """
    need = set(needed)
    by_id = {b.id: b for b in list_backups(ctx, t.name)}
    by_id[info.id] = info
    missing = sorted(need - set(by_id))
    if missing:
        raise BackupError(f"{info.id}: takes files from backup {missing[0]}, which no longer "
                          "exists; restore an older full backup")
    return {i: by_id[i] for i in sorted(need)}


def _plan(t: CacheTypeConfig, info: BackupInfo, dry_run: bool) -> tuple[set[str], list[str]]:
    """One pass over the manifest before anything changes: every target confined and
    guarded; returns the holders needed and, for a dry run, the targets that would change."""
    checked: set[str] = set()
    needed: set[str] = set()
    changed: list[str] = []
    for f in iter_entries(info.manifest, info.id):
        target = confine(t.directory, f["path"], what="manifest path")
        _guard(target, t.directory, checked)
        needed.add(f.get("in", info.id))
        if dry_run and not unchanged(target, f):
            changed.append(target)
    return needed, changed


def stage_backup(ctx: Context, t: CacheTypeConfig, info: BackupInfo,
                 sources: Optional[dict[str, BackupInfo]] = None) -> str:
    """Verify ``info`` and extract it into a fresh staging directory under ``t``'s directory;
    returns the staging directory. ``sources``: :func:`holders` (computed when omitted).

    Each archive is read once, merged with the manifest's entries it holds (both sorted;
    an archive made before manifest format 3 is matched through an index of the entries
    it holds). Files already in place (see :func:`unchanged`) are not staged. On any
    failure the staging directory is removed and the cache is untouched.

    Raises:
        BackupError: checksum, size or member-list mismatch.
        UnsafePath: a member would land outside the cache directory.
    """
    if sources is None:
        sources = holders(ctx, t, info, _plan(t, info, dry_run=False)[0])
    for holder in sources.values():
        verify_archive(holder)
    os.makedirs(t.directory, exist_ok=True)
    staging = os.path.join(t.directory, STAGING_PREFIX + secrets.token_hex(4))
    os.mkdir(staging)
    try:
        job = _Staging(ctx, info, staging, t.directory)
        for hid, holder in sources.items():
            # the files this backup takes from that archive (its own: every member)
            wanted = (f for f in iter_entries(info.manifest, info.id) if f.get("in", info.id) == hid)
            job.extract(holder, wanted, own=hid == info.id)
        sync_staged(staging)
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(f"{info.id}: cannot stage archive: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def unchanged(target: str, meta: dict[str, Any]) -> bool:
    """True when ``target`` already is the backed-up file: a regular file (not a link) with
    the manifest's size, mtime and SHA-256. Restore leaves such a file alone."""
    try:
        st = os.lstat(target)
        if not stat.S_ISREG(st.st_mode) or st.st_size != meta["size"] \
                or abs(st.st_mtime - float(meta["mtime"])) > 1e-3:
            return False
        return hashlib.sha256(read_regular(target)).hexdigest() == meta["sha256"]
    except (OSError, CorruptFile):
        return False


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    # next(), not iteration: TarFile.__iter__ indexes into the members list we empty
    while True:
        member = tar.next()
        forget_members(tar)
        if member is None:
            return
        yield member


def _sorted_archive(holder: BackupInfo) -> bool:
    """True when the holder's archive lists its members sorted (manifest format 3)."""
    try:
        return read_header(holder.manifest)[1]
    except (OSError, CorruptFile):
        return False  # matched through an index instead: right for any member order


class _Staging:
    """Stages the members of one backup's archives, each checked by size and SHA-256."""

    def __init__(self, ctx: Context, info: BackupInfo, staging: str, directory: str) -> None:
        self.ctx, self.info, self.staging, self.directory = ctx, info, staging, directory
        self.made: set[str] = set()
        self.read = 0

    def extract(self, holder: BackupInfo, wanted: Iterator[dict[str, Any]], own: bool) -> None:
        """Stage the ``wanted`` entries (sorted) from ``holder``'s archive.

        In the backup's own archive every member must be wanted; an earlier archive
        also holds files this backup does not take from it, which are skipped.
        """
        index = None if _sorted_archive(holder) else {f["path"]: f for f in wanted}
        nxt = next(wanted, None) if index is None else None
        fd, _ = open_regular(holder.archive)  # the archive verified, not what a link names
        with os.fdopen(fd, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in _members(tar):
                rel = _safe_member(member.name)
                if not member.isreg():
                    raise UnsafePath(f"backup member {member.name!r} is not a regular file")
                if index is not None:
                    meta = index.pop(rel, None)
                else:
                    key = path_key(rel)
                    if nxt is not None and path_key(nxt["path"]) < key:
                        self._missing(nxt["path"])  # both sorted: the archive went past it
                    meta = nxt if nxt is not None and nxt["path"] == rel else None
                    if meta is not None:
                        nxt = next(wanted, None)
                if meta is None:
                    if own:
                        raise BackupError(f"{holder.id}: member {rel!r} is not in the manifest")
                    continue
                fh = tar.extractfile(member)
                assert fh is not None
                self._stage(holder, rel, meta, fh.read())
        if nxt is not None:
            self._missing(nxt["path"])
        if index:
            self._missing(min(index, key=path_key))

    def _missing(self, rel: str) -> None:
        raise BackupError(f"{self.info.id}: file(s) of the manifest missing from the archive, "
                          f"e.g. {rel}")

    def _stage(self, holder: BackupInfo, rel: str, meta: dict[str, Any], data: bytes) -> None:
        if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise BackupError(f"{holder.id}: {rel} fails its checksum")
        self.read += 1
        if self.read % 500 == 0:
            self.ctx.tick("restore: stage", self.read, max(self.read, self.info.file_count))
        if unchanged(confine(self.directory, rel, what="backup member"), meta):
            return  # already in place: no write, no rename (a restore after a few
            #         deletions costs what those files cost)
        dest = confine(self.staging, rel, what="backup member")
        parent = os.path.dirname(dest)
        if parent not in self.made:
            make_dirs(parent, self.staging)
            self.made.add(parent)
        _write_staged(dest, data, float(meta["mtime"]), self.ctx)


def restore_type(ctx: Context, t: CacheTypeConfig, info: BackupInfo,
                 dry_run: bool = False) -> list[str]:
    """Restore every file of ``info`` into ``t``'s directory; returns the paths that changed
    (a file already identical to the backup's is left alone, and not listed).

    The manifest is read as a stream (a pass to check every target, one per archive
    to stage): memory does not grow with the number of files, only the returned list
    with the number of files changed.

    Raises:
        BackupError: verification failed (nothing was changed).
        UnsafePath: a target is a symlink or escapes the directory (nothing was changed).
    """
    needed, changed = _plan(t, info, dry_run)
    sources = holders(ctx, t, info, needed)
    if dry_run:
        for holder in sources.values():
            verify_archive(holder)
        return changed
    staging = stage_backup(ctx, t, info, sources)
    done = []
    checked: set[str] = set()
    parents: set[str] = set()
    try:
        for i, (src, rel) in enumerate(_staged_files(staging)):
            target = confine(t.directory, rel, what="manifest path")
            parent = os.path.dirname(target)
            if parent not in parents:
                make_dirs(parent, t.directory)  # never through a symlinked sub-directory
            _guard(target, t.directory, checked)
            if t.name in LOCKED_TYPES:
                with file_lock(target):  # other writers read-modify-write these files
                    os.replace(src, target)
            else:
                os.replace(src, target)
            parents.add(parent)
            done.append(target)
            if i % 500 == 0:
                ctx.tick(f"restore {t.name}", i, max(i, info.file_count))
    finally:
        for parent in parents:  # make the renames durable (each one is already atomic)
            fsync_dir(parent)
        shutil.rmtree(staging, ignore_errors=True)
    return done


def _guard(target: str, directory: str, checked: set[str]) -> None:
    """:func:`guard_path` with its directory half done once per parent directory."""
    parent = os.path.dirname(target)
    if parent not in checked:
        guard_path(target, directory, must_exist=False)
        checked.add(parent)
    elif os.path.islink(target):
        raise UnsafePath(f"{target} is a symlink; not followed")


def remove_stale_staging(t: CacheTypeConfig, older_than: float, now: float,
                         dry_run: bool = False) -> list[str]:
    """Staging directories left by crashed restores (older than ``older_than`` seconds)."""
    out: list[str] = []
    try:
        names = os.listdir(t.directory)
    except FileNotFoundError:
        return out
    for name in names:
        path = os.path.join(t.directory, name)
        if name.startswith(STAGING_PREFIX) and os.path.isdir(path) and not os.path.islink(path):
            if now - os.lstat(path).st_mtime >= older_than:
                out.append(path)
                if not dry_run:
                    shutil.rmtree(path, ignore_errors=True)
    return out
