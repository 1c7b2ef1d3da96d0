"""Restore a cache type from a verified backup, one atomic rename per file.

Order of work, so that nothing changes until everything is known good:

1. verify the SHA-256 of the backup's archive and of every earlier archive an
   incremental backup takes files from (``"in"`` entries of its manifest);
2. extract into a hidden staging directory *inside* the cache directory (same
   filesystem, so the final renames are atomic), checking every member's size
   and SHA-256 and refusing absolute paths, ``..``, links and devices;
3. make the staged files durable with one ``syncfs`` (one ``fsync`` per file
   where ``syncfs`` is missing) instead of one ``fsync`` per file;
4. ``os.replace`` each staged file over its target (under the file's lock),
   fsync the directories, remove the staging directory.

A crash during 3 leaves each file either at its old or its restored version;
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
from typing import Any, Callable, Optional, cast

from fbacache.errors import BackupError, CorruptFile, UnsafePath
from fbacache.fba.atomic import default_writer, fsync_dir
from fbacache.fba.backup import list_backups, load_manifest, verify_archive
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.locking import file_lock
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
    backups = list_backups(ctx, t.name)
    if backup_id is not None:
        for b in backups:
            if b.id == backup_id:
                return b
        raise BackupError(f"{t.name}: no backup with id {backup_id!r}")
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


def sync_staged(staging: str, paths: list[str]) -> None:
    """Make every staged file durable before any of them is renamed into place.

    One ``syncfs`` of the staging directory's filesystem replaces an ``fsync`` per
    file (the restore's main cost on a 48k-file tree); without ``syncfs`` each
    file is fsynced.

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
    for path in paths:  # pragma: no cover - non-Linux
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
            files: list[dict[str, Any]]) -> dict[str, BackupInfo]:
    """Every backup whose archive holds files of ``info`` (``info`` itself included).

    Raises:
        BackupError: an incremental entry names a backup that no longer exists.
    """
    needed = {f.get("in", info.id) for f in files}
    by_id = {b.id: b for b in list_backups(ctx, t.name)}
    by_id[info.id] = info
    missing = sorted(needed - set(by_id))
    if missing:
        raise BackupError(f"{info.id}: takes files from backup {missing[0]}, which no longer "
                          "exists; restore an older full backup")
    return {i: by_id[i] for i in sorted(needed)}


def stage_backup(ctx: Context, t: CacheTypeConfig, info: BackupInfo) -> tuple[str, list[dict]]:
    """Verify ``info`` and extract it into a fresh staging directory under ``t``'s directory.

    Files already in place (see :func:`unchanged`) are not staged. Returns
    ``(staging_dir, manifest entries staged)``. On any failure the staging
    directory is removed and the cache is untouched.

    Raises:
        BackupError: checksum, size or member-list mismatch.
        UnsafePath: a member would land outside the cache directory.
    """
    manifest = load_manifest(info)
    sources = holders(ctx, t, info, manifest["files"])
    for holder in sources.values():
        verify_archive(holder)
    os.makedirs(t.directory, exist_ok=True)
    staging = os.path.join(t.directory, STAGING_PREFIX + secrets.token_hex(4))
    os.mkdir(staging)
    try:
        seen: set[str] = set()
        staged: list[str] = []
        for hid, holder in sources.items():
            # the files this backup takes from that archive (its own: every member)
            expected = {f["path"]: f for f in manifest["files"] if f.get("in", info.id) == hid}
            _extract(ctx, holder, expected, staging, seen, staged, own=hid == info.id,
                     directory=t.directory)
        sync_staged(staging, staged)
        missing = {f["path"] for f in manifest["files"]} - seen
        if missing:
            raise BackupError(f"{info.id}: {len(missing)} file(s) of the manifest missing "
                              f"from the archive, e.g. {sorted(missing)[0]}")
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(f"{info.id}: cannot stage archive: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    placed = {os.path.relpath(p, staging).replace(os.sep, "/") for p in staged}
    return staging, [f for f in manifest["files"] if f["path"] in placed]


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


def _extract(ctx: Context, holder: BackupInfo, expected: dict[str, dict[str, Any]],
             staging: str, seen: set[str], staged: list[str], own: bool,
             directory: str) -> None:
    """Stage the ``expected`` members of ``holder``'s archive, each checked by size and SHA-256.

    In the backup's own archive every member must be expected; an earlier archive
    also holds files this backup does not take from it, which are skipped.
    """
    made: set[str] = set()
    fd, _ = open_regular(holder.archive)  # the archive verified, not what a link names
    with os.fdopen(fd, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
        for member in tar:
            rel = _safe_member(member.name)
            if not member.isreg():
                raise UnsafePath(f"backup member {member.name!r} is not a regular file")
            meta = expected.get(rel)
            if meta is None:
                if own:
                    raise BackupError(f"{holder.id}: member {rel!r} is not in the manifest")
                continue
            fh = tar.extractfile(member)
            assert fh is not None
            data = fh.read()
            if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise BackupError(f"{holder.id}: {rel} fails its checksum")
            seen.add(rel)
            if unchanged(confine(directory, rel, what="backup member"), meta):
                continue  # already in place: no write, no rename (a restore after a few
                #           deletions costs what those files cost)
            dest = confine(staging, rel, what="backup member")
            parent = os.path.dirname(dest)
            if parent not in made:
                make_dirs(parent, staging)
                made.add(parent)
            _write_staged(dest, data, float(meta["mtime"]), ctx)
            staged.append(dest)
            if len(staged) % 500 == 0:
                ctx.tick("restore: stage", len(staged), max(len(staged), len(expected)))


def restore_type(ctx: Context, t: CacheTypeConfig, info: BackupInfo,
                 dry_run: bool = False) -> list[str]:
    """Restore every file of ``info`` into ``t``'s directory; returns the paths that changed
    (a file already identical to the backup's is left alone, and not listed).

    Raises:
        BackupError: verification failed (nothing was changed).
        UnsafePath: a target is a symlink or escapes the directory (nothing was changed).
    """
    targets = []
    entries = load_manifest(info)["files"]
    checked: set[str] = set()
    for f in entries:
        target = confine(t.directory, f.get("path") if isinstance(f, dict) else None,
                         what="manifest path")
        _guard(target, t.directory, checked)
        targets.append(target)
    if dry_run:
        for holder in holders(ctx, t, info, entries).values():
            verify_archive(holder)
        return [p for p, f in zip(targets, entries) if not unchanged(p, f)]
    staging, files = stage_backup(ctx, t, info)
    done = []
    parents: set[str] = set()
    try:
        for i, f in enumerate(files):
            src = confine(staging, f["path"], what="manifest path")
            target = confine(t.directory, f["path"], what="manifest path")
            parent = os.path.dirname(target)
            if parent not in parents:
                make_dirs(parent, t.directory)  # never through a symlinked sub-directory
                checked.discard(parent)  # re-check now that it exists
            _guard(target, t.directory, checked)
            if t.name in LOCKED_TYPES:
                with file_lock(target):  # other writers read-modify-write these files
                    os.replace(src, target)
            else:
                os.replace(src, target)
            parents.add(parent)
            done.append(target)
            if i % 500 == 0:
                ctx.tick(f"restore {t.name}", i, len(files))
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
