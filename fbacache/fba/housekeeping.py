"""Plans for ``repair`` (quarantine corrupt files) and ``optimize`` (tidy up).

``repair`` never deletes: a corrupt file moves to
``<quarantine>/<run id>/<cache type>/<relative path>`` where it can be inspected
or salvaged. ``optimize`` removes only things that carry no data: stray
temporary files and crashed-restore staging directories older than an hour,
empty sub-directories; and it gzips cold (uncompressed) files in the tool's own
archive, which the FBA system never reads.
"""
from __future__ import annotations

import os
import stat

from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.inspect import read_doc
from fbacache.fba.restore import STAGING_PREFIX
from fbacache.fba.results_ops import Action
from fbacache.fba.scan import FileInfo

__all__ = ["plan_repair", "plan_optimize", "STALE_SECONDS"]

#: Temp files and staging directories younger than this may belong to a live writer.
STALE_SECONDS = 3600.0


def plan_repair(ctx: Context, t: CacheTypeConfig) -> list[Action]:
    """Quarantine moves for every corrupt JSON file of ``t`` (entries, states, stray JSON)."""
    qroot = os.path.join(ctx.config.tool_dir("quarantine"), ctx.run_id(), t.name)
    actions = []
    files = [f for f in ctx.scan(t) if f.kind in ("entry", "other") and f.rel.endswith(".json")]
    for i, f in enumerate(files):
        try:
            _, bad = read_doc(f)
        except FileNotFoundError:
            continue
        if bad:
            actions.append(Action(op="quarantine", cache_type=t.name, path=f.path, size=f.size,
                                  reason=f"corrupt: {bad}",
                                  dest=os.path.join(qroot, *f.rel.split("/")),
                                  detail={"root": t.directory, "rel": f.rel}))
        if i % 500 == 0:
            ctx.tick(f"repair {t.name}", i, len(files))
    return actions


def _empty_dirs(root: str) -> list[str]:
    """Empty sub-directories of ``root``, deepest first (not ``root``, not hidden ones)."""
    out: list[str] = []
    for current, dirs, files in os.walk(root, topdown=False, followlinks=False):
        if current == root:
            continue
        rel_parts = os.path.relpath(current, root).split(os.sep)
        if any(p.startswith(".") for p in rel_parts):
            continue
        remaining = [d for d in dirs if os.path.join(current, d) not in out]
        if not files and not remaining and not os.path.islink(current):
            out.append(current)
    return out


def plan_optimize(ctx: Context, t: CacheTypeConfig) -> list[Action]:
    """Temp-file, staging, empty-directory and archive-compression actions for ``t``."""
    now = ctx.clock()
    actions: list[Action] = []
    files: list[FileInfo] = ctx.scan(t)
    for f in files:
        if f.kind == "temp" and f.age(now) >= STALE_SECONDS:
            actions.append(Action("delete", t.name, f.path, f.size, "stray temporary file",
                                  detail={"root": t.directory, "rel": f.rel}))
    try:
        names = os.listdir(t.directory)
    except FileNotFoundError:
        names = []
    for name in names:
        path = os.path.join(t.directory, name)
        if name.startswith(STAGING_PREFIX) and os.path.isdir(path) and not os.path.islink(path) \
                and now - os.lstat(path).st_mtime >= STALE_SECONDS:
            actions.append(Action("rmtree", t.name, path, 0, "staging left by a crashed restore",
                                  detail={"root": t.directory, "rel": name}))
    if os.path.isdir(t.directory):
        for d in _empty_dirs(t.directory):
            actions.append(Action("rmdir", t.name, d, 0, "empty directory",
                                  detail={"root": t.directory,
                                          "rel": os.path.relpath(d, t.directory)}))
    actions += _plan_compress(ctx, t)
    return actions


def _plan_compress(ctx: Context, t: CacheTypeConfig) -> list[Action]:
    """Gzip actions for cold files of ``t`` in the archive, which is walked without following
    any symlink: neither the archive directory, a run directory nor a group directory may be one.

    Raises:
        UnsafePath: one of them is a symlink (nothing of ``t``'s archive is planned).
    """
    actions: list[Action] = []
    archive = ctx.config.tool_dir("archive")
    if not ctx.tool_path("archive", archive):
        return actions
    groups = [t.name] + (["linking_map_backups"] if t.name == "linking_map" else [])
    runs = [os.path.join(archive, run) for run in sorted(os.listdir(archive))]
    tops = [os.path.join(run, g) for run in runs
            if os.path.islink(run) or os.path.isdir(run) for g in groups]
    # os.walk follows its top directory even with followlinks=False: check each top first
    for current, _dirs, names_ in (w for top in tops if ctx.tool_path("archive", top)
                                   for w in os.walk(top, followlinks=False)):
        for name in names_:
            path = os.path.join(current, name)
            if name.endswith(".gz") or name.startswith("."):
                continue
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue  # symlinks and FIFOs are never compressed (nor opened)
            actions.append(Action("compress", t.name, path, st.st_size,
                                  "cold archived file", dest=path + ".gz",
                                  detail={"root": archive,
                                          "rel": os.path.relpath(path, archive)}))
    return actions
