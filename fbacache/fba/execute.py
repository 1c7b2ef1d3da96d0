"""Execute planned actions safely: guard, back up first, one atomic step per file.

Every action re-checks its path with :func:`~fbacache.fba.scan.guard_path`
immediately before acting, so a file replaced by a symlink since the scan is
refused; destinations in the tool's own directories (quarantine, archive) are
created through :func:`~fbacache.fba.safe.make_dirs`, so a symlinked
``.fbacache/quarantine`` is refused instead of written through. Deletes are ``unlink`` (atomic), rewrites are atomic replaces under the
file's cross-process lock, moves are ``rename`` (or copy-then-unlink across
filesystems, never losing the file).
"""
from __future__ import annotations

import errno
import gzip
import os
import shutil
from typing import Iterable

from fbacache.errors import BackupError, CorruptFile, FbaCacheError
from fbacache.fba.atomic import AtomicFile, atomic_write_json, fsync_dir, move_file, read_json
from fbacache.fba.backup import create_backup
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.locking import file_lock
from fbacache.fba.results_ops import Action
from fbacache.fba.safe import open_regular
from fbacache.fba.scan import guard_path
from fbacache.fba.strategies import load_linked_ids, rewrite_keep
from fbacache.fba.issues import issue

__all__ = ["apply_action", "apply_all", "safety_backups"]


def safety_backups(ctx: Context, types: Iterable[CacheTypeConfig], reason: str,
                   errors: list[str]) -> tuple[set[str], list[str]]:
    """Back up each ``backup_enabled`` type before a destructive run.

    Returns ``(types_cleared_to_proceed, backup_ids)``. A type whose backup
    fails is left out (and the error recorded), so nothing of it changes.
    """
    ok, ids = set(), []
    for t in types:
        if not t.backup_enabled or not os.path.isdir(t.directory):
            ok.add(t.name)  # a missing directory holds nothing to lose (e.g. restoring into it)
            continue
        try:
            ids.append(create_backup(ctx, t, reason=reason).id)
            ok.add(t.name)
        except BackupError as exc:
            errors.append(issue("action.safety_backup_failed",
                                f"{t.name}: aborted before any change, safety backup failed: {exc}"))
    return ok, ids


def _rewrite(ctx: Context, a: Action) -> None:
    with file_lock(a.path):
        # re-read under the lock: the FBA system may have appended since planning
        products = read_json(a.path)
        if not isinstance(products, list):
            raise CorruptFile(a.path, "supplier cache is not a JSON list")
        linked = load_linked_ids(ctx) or set()
        kept, dropped = rewrite_keep(products, linked, a.detail.get("drop_processed", True))
        if dropped:
            atomic_write_json(a.path, kept, writer=ctx.writer)
        a.detail.update(kept=len(kept), removed=len(dropped))


def _compress(ctx: Context, a: Action) -> None:
    assert a.dest is not None
    if not ctx.tool_path("archive", os.path.dirname(a.path)):
        raise FileNotFoundError(a.path)
    fd, st = open_regular(a.path)
    with os.fdopen(fd, "rb") as fin, AtomicFile(a.dest, writer=ctx.writer,
                                                mtime=st.st_mtime) as out:
        # the gzip header's time is the file's own, not the real clock's (same bytes on a re-run)
        # (the field is 32 bits unsigned; 0 means "no time" outside that range)
        stamp = int(st.st_mtime) if 0 <= st.st_mtime < 2 ** 32 else 0
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=stamp) as gz:
            shutil.copyfileobj(fin, gz, 1 << 20)
    os.unlink(a.path)
    fsync_dir(os.path.dirname(a.path))


def apply_action(ctx: Context, a: Action) -> None:
    """Perform one action; raises ``OSError``/``FbaCacheError`` on failure, leaving the file."""
    root = a.detail["root"]
    if a.op == "rmtree":
        guard_path(a.path, root)
        shutil.rmtree(a.path)
        return
    if a.op == "rmdir":
        guard_path(a.path, root)
        os.rmdir(a.path)
        return
    guard_path(a.path, root)
    if a.op == "delete":
        os.unlink(a.path)
    elif a.op == "rewrite":
        _rewrite(ctx, a)
    elif a.op in ("archive", "quarantine"):
        assert a.dest is not None
        # the op names the tool directory the destination lies in
        ctx.tool_path(a.op, os.path.dirname(a.dest), create=True)
        move_file(a.path, a.dest, writer=ctx.writer)
    elif a.op == "compress":
        _compress(ctx, a)
    else:  # pragma: no cover - planners only emit the ops above
        raise ValueError(f"unknown action {a.op!r}")


def apply_all(ctx: Context, actions: list[Action], errors: list[str], *, allowed: set[str],
              batch_size: int = 0, max_load: float = 0.0, max_wait: float = 60.0) -> None:
    """Apply ``actions`` of the ``allowed`` types; batches pause while load > ``max_load``.

    A failing action is recorded on itself and in ``errors``; the file is left as
    it was. ``ENOSPC`` stops the run (later writes would fail the same way).
    """
    todo = [a for a in actions if a.cache_type in allowed]
    dirs: set[str] = set()
    step = batch_size if batch_size > 0 else max(1, len(todo))
    for start in range(0, len(todo), step):
        if batch_size > 0 and start > 0:
            waited = 0.0
            while ctx.load_probe() > max_load and waited < max_wait:
                ctx.sleep(1.0)
                waited += 1.0
        for a in todo[start:start + step]:
            try:
                apply_action(ctx, a)
                a.done = True
                if a.op == "delete":
                    dirs.add(os.path.dirname(a.path))
            except FileNotFoundError:
                a.error = "vanished before it was processed"
            except (OSError, FbaCacheError) as exc:
                a.error = str(exc)
                errors.append(issue("action.failed", f"{a.path}: {a.op} failed: {exc}"))
                if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                    errors.append(issue("disk.full",
                                        "no space left on device: stopped; remaining files untouched"))
                    _sync(dirs)
                    return
        ctx.tick("clear", min(start + step, len(todo)), len(todo))
        _sync(dirs)
        dirs.clear()


def _sync(dirs: set[str]) -> None:
    for d in dirs:
        try:
            fsync_dir(d)
        except OSError:
            pass
