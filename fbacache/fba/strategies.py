"""Clearing strategies: each one only *plans* a list of :class:`Action`.

Planning is pure (reads, never writes), so ``--dry-run`` shows exactly the
actions a real run executes; ``clear.py`` executes them. Rules shared by all:

* only ``entry`` files of the type are candidates; results, temps, symlinks and
  unknown files never are;
* protected files (linking map, ai category cache) are candidates only when
  ``selective_clear_config`` stops preserving them; processing states never are;
* ``size_based`` never touches the linking map, the ai category cache or states.

Example:
    >>> sorted(PLANNERS)  # doctest: +NORMALIZE_WHITESPACE
    ['archive_old', 'failed_extractions', 'full', 'performance_aware', 'selective',
     'size_based', 'smart_selective']
"""
from __future__ import annotations

import os
import re
from typing import Callable, Optional

from fbacache.errors import CorruptFile
from fbacache.fba.atomic import read_json
from fbacache.fba.config import CacheTypeConfig
from fbacache.fba.context import Context
from fbacache.fba.inspect import read_doc
from fbacache.fba.render import human_bytes as _h  # text is read by people; JSON has sizes
from fbacache.fba.results_ops import Action
from fbacache.fba.rules import failure_reason, linked_identifiers, product_identifier
from fbacache.fba.scan import FileInfo, scan_dir

__all__ = ["PLANNERS", "plan", "plan_total_size", "load_linked_ids", "rewrite_keep"]

Planner = Callable[[Context, CacheTypeConfig, list[FileInfo], list[str]], list[Action]]

# old-tool copies (".backup_<epoch>", "*.bak") and linking-map snapshots beside the map
_OLD_BACKUP = re.compile(r"(.*\.backup_\d+(\.json)?|.*\.bak|linking_map_.+\.json)\Z")


def _deletable(ctx: Context, t: CacheTypeConfig, fi: FileInfo) -> bool:
    if fi.kind != "entry":
        return False
    if not fi.protected:
        return True
    sel = ctx.config.selective
    if t.name == "linking_map":
        return not sel["preserve_linking_map"]
    if t.name == "ai_category_cache":
        return not sel["preserve_ai_categories"]
    return False


def _act(op: str, t: CacheTypeConfig, fi: FileInfo, reason: str, root: Optional[str] = None,
         dest: Optional[str] = None, **detail: object) -> Action:
    return Action(op=op, cache_type=t.name, path=fi.path, size=fi.size, reason=reason, dest=dest,
                  detail={"root": root or t.directory, "rel": fi.rel, **detail})


def _preserved_note(ctx: Context, t: CacheTypeConfig, files: list[FileInfo]) -> Optional[str]:
    kept = [f for f in files if f.kind == "entry" and f.protected and not _deletable(ctx, t, f)]
    if kept:
        return (f"{t.name}: {len(kept)} protected file(s) preserved "
                f"(selective_clear_config keeps the system's memory)")
    return None


def plan_full(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
              notes: list[str]) -> list[Action]:
    """Every entry of the type (protected ones only if not preserved)."""
    note = _preserved_note(ctx, t, files)
    if note:
        notes.append(note)
    return [_act("delete", t, f, "full clear") for f in files if _deletable(ctx, t, f)]


def plan_selective(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
                   notes: list[str]) -> list[Action]:
    """Entries older than the type's TTL (mtime); nothing for ``ttl_hours == -1``."""
    if t.ttl_seconds is None:
        notes.append(f"{t.name}: never expires (ttl_hours = -1); nothing selected")
        return []
    note = _preserved_note(ctx, t, files)
    if note:
        notes.append(note)
    hours = t.ttl_hours
    return [_act("delete", t, f, f"expired: older than {hours:g} h")
            for f in files if _deletable(ctx, t, f) and ctx.expired(t, f)]


def load_linked_ids(ctx: Context) -> Optional[set[str]]:
    """Identifiers in the linking map; ``None`` when there is no linking map at all.

    Raises:
        CorruptFile: the linking map exists but is corrupt (never read as empty).
    """
    lm = ctx.config.cache_types.get("linking_map")
    if lm is None:
        return None
    path = os.path.join(lm.directory, "linking_map.json")
    try:
        records = read_json(path)
    except FileNotFoundError:
        return None
    if not isinstance(records, list):
        raise CorruptFile(path, "linking map is not a JSON list")
    return linked_identifiers(records)


def rewrite_keep(products: list, linked: set[str], drop_processed: bool) -> tuple[list, list]:
    """Split supplier products into ``(kept, dropped_ids)`` by the FBA "processed" rule."""
    kept, dropped = [], []
    for p in products:
        ident = product_identifier(p)
        processed = ident is not None and ident in linked
        if processed == drop_processed and ident is not None:
            dropped.append(ident)
        else:
            kept.append(p)
    return kept, dropped


def plan_smart_selective(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
                         notes: list[str]) -> list[Action]:
    """Per type: supplier files lose processed products; amazon loses failed extractions."""
    sel = ctx.config.selective
    if t.name == "supplier_cache":
        try:
            linked = load_linked_ids(ctx)
        except CorruptFile as exc:
            raise CorruptFile(exc.path, f"linking map is corrupt ({exc.reason}); refusing to "
                                        f"decide what is processed (restore it first)") from None
        if linked is None:
            notes.append("supplier_cache: no linking map, so no product counts as processed")
            return []
        drop_processed = not sel["clear_unanalyzed_only"]
        actions = []
        for f in files:
            if f.kind != "entry":
                continue
            doc, bad = read_doc(f)
            if bad or not isinstance(doc, list):
                notes.append(f"supplier_cache: {f.rel} skipped: {bad or 'not a list'}")
                continue
            kept, dropped = rewrite_keep(doc, linked, drop_processed)
            if dropped:
                what = "processed (in linking map)" if drop_processed else "unprocessed"
                actions.append(_act("rewrite", t, f, f"drop {len(dropped)} {what} product(s)",
                                    drop_processed=drop_processed, kept=len(kept),
                                    removed=len(dropped), removed_ids=dropped))
        return actions
    if t.name == "amazon_cache":
        actions = []
        if sel["clear_failed_extractions"]:
            actions += plan_failed_extractions(ctx, t, files, notes)
        if not sel["preserve_analyzed_products"]:
            chosen = {a.path for a in actions}
            actions += [a for a in plan_selective(ctx, t, files, notes) if a.path not in chosen]
        return actions
    if t.name == "ai_category_cache" and not sel["preserve_ai_categories"]:
        return plan_selective(ctx, t, files, notes)
    notes.append(f"{t.name}: preserved by smart_selective")
    return []


def plan_size_based(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
                    notes: list[str]) -> list[Action]:
    """Oldest entries first until the type is under ``max_size_mb``; never protected files."""
    entries = [f for f in files if f.kind == "entry"]
    total = sum(f.size for f in entries)
    limit = t.max_size_bytes
    if total <= limit:
        notes.append(f"{t.name}: {_h(total)} already within max_size_mb ({_h(limit)})")
        return []
    actions = []
    for f in sorted((f for f in entries if not f.protected), key=lambda f: (f.mtime, f.rel)):
        if total <= limit:
            break
        actions.append(_act("delete", t, f, f"size_based: {_h(total)} > {_h(limit)}"))
        total -= f.size
    if total > limit:
        notes.append(f"{t.name}: still {_h(total)} after removing every unprotected entry")
    return actions


def plan_total_size(ctx: Context, types: list[CacheTypeConfig], planned: list[Action],
                    notes: list[str]) -> list[Action]:
    """Oldest unprotected entries across ``types`` until every configured type together is
    under ``global_settings.max_total_size_gb``, counting ``planned`` removals as done.

    Every configured type's bytes count towards the total; only ``types`` (those
    cleared ``size_based``) give up files.
    """
    limit = ctx.config.max_total_bytes
    if limit is None:
        return []
    gone = {a.path for a in planned if a.op in ("delete", "archive", "quarantine")}
    total, candidates = 0, []
    names = {t.name for t in types}
    for t in ctx.config.cache_types.values():
        for f in ctx.scan(t):
            if f.kind != "entry" or f.path in gone:
                continue
            total += f.size
            if t.name in names and not f.protected:
                candidates.append((f, t))
    if total <= limit:
        return []
    actions = []
    for f, t in sorted(candidates, key=lambda ft: (ft[0].mtime, ft[1].name, ft[0].rel)):
        if total <= limit:
            break
        actions.append(_act("delete", t, f, f"max_total_size_gb: all types hold {_h(total)} "
                                            f"> {_h(limit)}"))
        total -= f.size
    if total > limit:
        notes.append(f"max_total_size_gb: still {_h(total)} after removing every "
                     "unprotected size_based entry")
    return actions


def _archive_dest(ctx: Context, group: str, rel: str) -> str:
    base = os.path.join(ctx.config.tool_dir("archive"), ctx.run_id(), group)
    return os.path.join(base, *rel.split("/"))


def plan_archive_old(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
                     notes: list[str]) -> list[Action]:
    """Move expired entries and old backup copies into the archive, keeping relative paths."""
    days = ctx.config.global_settings.get("backup_retention_days", 7)
    cutoff = days * 86400.0
    now = ctx.clock()
    actions = []
    for f in files:
        if _deletable(ctx, t, f) and ctx.expired(t, f):
            actions.append(_act("archive", t, f, f"expired: older than {t.ttl_hours:g} h",
                                dest=_archive_dest(ctx, t.name, f.rel)))
        elif f.kind == "other" and not f.protected and _OLD_BACKUP.match(os.path.basename(f.rel)) \
                and f.age(now) > cutoff:
            actions.append(_act("archive", t, f, f"old backup copy (> {days:g} days)",
                                dest=_archive_dest(ctx, t.name, f.rel)))
    lmb = ctx.config.directories.get("linking_map_backups")
    if t.name == "linking_map" and lmb:
        backups = sorted((f for f in scan_dir("linking_map_backups", lmb)
                          if f.kind in ("entry", "other") and f.rel.endswith(".json")),
                         key=lambda f: f.mtime)
        for f in backups[:-1]:  # the newest snapshot always stays in place
            if f.age(now) > cutoff:
                actions.append(Action(
                    op="archive", cache_type=t.name, path=f.path, size=f.size,
                    reason=f"linking-map backup older than {days:g} days",
                    dest=_archive_dest(ctx, "linking_map_backups", f.rel),
                    detail={"root": lmb, "rel": f.rel}))
    elif t.name == "linking_map":
        notes.append("linking_map: directories.linking_map_backups not configured; "
                     "backup snapshots outside the configured directories are left alone")
    return actions


def plan_failed_extractions(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
                            notes: list[str]) -> list[Action]:
    """Amazon entries whose Keepa extraction failed; unparseable ones go to quarantine."""
    if t.name != "amazon_cache":
        notes.append(f"{t.name}: failed_extractions applies to amazon_cache only")
        return []
    actions = []
    qroot = os.path.join(ctx.config.tool_dir("quarantine"), ctx.run_id(), t.name)
    for i, f in enumerate(files):
        if f.kind != "entry":
            continue
        try:
            doc, bad = read_doc(f)
        except FileNotFoundError:
            continue
        if bad:
            actions.append(_act("quarantine", t, f, f"failed extraction: corrupt ({bad})",
                                dest=os.path.join(qroot, *f.rel.split("/"))))
            continue
        why = failure_reason(doc)
        if why:
            actions.append(_act("delete", t, f, f"failed extraction: {why}"))
        if i % 500 == 0:
            ctx.tick(f"scan {t.name}", i, len(files))
    return actions


def plan_performance_aware(ctx: Context, t: CacheTypeConfig, files: list[FileInfo],
                           notes: list[str]) -> list[Action]:
    """The type's own ``cleanup_strategy`` (``selective`` by default), executed in batches."""
    base = t.cleanup_strategy if t.cleanup_strategy != "performance_aware" else "selective"
    notes.append(f"{t.name}: performance_aware runs {base} in load-aware batches")
    return PLANNERS[base](ctx, t, files, notes)


PLANNERS: dict[str, Planner] = {
    "full": plan_full,
    "selective": plan_selective,
    "smart_selective": plan_smart_selective,
    "size_based": plan_size_based,
    "archive_old": plan_archive_old,
    "failed_extractions": plan_failed_extractions,
    "performance_aware": plan_performance_aware,
}


def plan(ctx: Context, strategy: str, t: CacheTypeConfig, notes: list[str]) -> list[Action]:
    """Scan ``t``'s directory and return the actions ``strategy`` would take.

    Raises:
        CorruptFile: the strategy depends on a corrupt file (the linking map).
        KeyError: unknown strategy (the CLI validates names first).
    """
    files = ctx.scan(t)
    return PLANNERS[strategy](ctx, t, files, notes)
