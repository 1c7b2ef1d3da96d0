"""Restore a cache type from a verified backup, one atomic rename per file.

Order of work, so that nothing changes until everything is known good:

1. verify the archive's SHA-256 against the manifest;
2. extract into a hidden staging directory *inside* the cache directory (same
   filesystem, so the final renames are atomic), checking every member's size
   and SHA-256 and refusing absolute paths, ``..``, links and devices;
3. ``os.replace`` each staged file over its target (under the file's lock),
   fsync the directories, remove the staging directory.

A crash during 3 leaves each file either at its old or its restored version;
running the restore again completes it. Files created after the backup are left
alone (restore adds and overwrites, it never deletes).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tarfile
from typing import Any, Optional, cast

from fbacache.errors import BackupError, UnsafePath
from fbacache.fba.atomic import default_writer, fsync_dir
from fbacache.fba.backup import list_backups, load_manifest, verify_archive
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.locking import file_lock
from fbacache.fba.results import BackupInfo
from fbacache.fba.safe import confine, make_dirs, open_regular
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


def _write_staged(dest: str, data: bytes, mtime: float, ctx: Context) -> None:
    # No temp+rename here: the staging directory is invisible until its files are renamed
    # into place, so one fsync per file (before that rename) is all durability needs.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        (ctx.writer or default_writer)(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.utime(dest, (mtime, mtime))


def stage_backup(ctx: Context, t: CacheTypeConfig, info: BackupInfo) -> tuple[str, list[dict]]:
    """Verify ``info`` and extract it into a fresh staging directory under ``t``'s directory.

    Returns ``(staging_dir, manifest_files)``. On any failure the staging
    directory is removed and the cache is untouched.

    Raises:
        BackupError: checksum, size or member-list mismatch.
        UnsafePath: a member would land outside the cache directory.
    """
    verify_archive(info)
    manifest = load_manifest(info)
    expected: dict[str, dict[str, Any]] = {f["path"]: f for f in manifest["files"]}
    os.makedirs(t.directory, exist_ok=True)
    staging = os.path.join(t.directory, STAGING_PREFIX + secrets.token_hex(4))
    os.mkdir(staging)
    try:
        seen = set()
        fd, _ = open_regular(info.archive)  # the archive verified above, not what a link names
        with os.fdopen(fd, "rb") as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            for member in tar:
                rel = _safe_member(member.name)
                if not member.isreg():
                    raise UnsafePath(f"backup member {member.name!r} is not a regular file")
                meta = expected.get(rel)
                if meta is None:
                    raise BackupError(f"{info.id}: member {rel!r} is not in the manifest")
                fh = tar.extractfile(member)
                assert fh is not None
                data = fh.read()
                if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                    raise BackupError(f"{info.id}: {rel} fails its checksum")
                dest = confine(staging, rel, what="backup member")
                make_dirs(os.path.dirname(dest), staging)
                _write_staged(dest, data, float(meta["mtime"]), ctx)
                seen.add(rel)
        missing = set(expected) - seen
        if missing:
            raise BackupError(f"{info.id}: {len(missing)} file(s) of the manifest missing "
                              f"from the archive, e.g. {sorted(missing)[0]}")
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(f"{info.id}: cannot stage archive: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, manifest["files"]


def restore_type(ctx: Context, t: CacheTypeConfig, info: BackupInfo,
                 dry_run: bool = False) -> list[str]:
    """Restore every file of ``info`` into ``t``'s directory; returns the restored paths.

    Raises:
        BackupError: verification failed (nothing was changed).
        UnsafePath: a target is a symlink or escapes the directory (nothing was changed).
    """
    targets = []
    for f in load_manifest(info)["files"]:
        target = confine(t.directory, f.get("path") if isinstance(f, dict) else None,
                         what="manifest path")
        guard_path(target, t.directory, must_exist=False)
        targets.append(target)
    if dry_run:
        verify_archive(info)
        return targets
    staging, files = stage_backup(ctx, t, info)
    done = []
    parents: set[str] = set()
    try:
        for i, f in enumerate(files):
            src = confine(staging, f["path"], what="manifest path")
            target = confine(t.directory, f["path"], what="manifest path")
            parent = os.path.dirname(target)
            make_dirs(parent, t.directory)  # never through a symlinked sub-directory
            guard_path(target, t.directory, must_exist=False)
            if t.name in LOCKED_TYPES:
                with file_lock(target):  # other writers read-modify-write these files
                    os.replace(src, target)
            else:
                os.replace(src, target)
            parents.add(parent)
            done.append(target)
            ctx.tick(f"restore {t.name}", i, len(files))
    finally:
        for parent in parents:  # make the renames durable (each one is already atomic)
            fsync_dir(parent)
        shutil.rmtree(staging, ignore_errors=True)
    return done


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
