"""The public face of maintenance: one :class:`Maintenance` object, one method per verb.

Destructive verbs (``clear``, ``restore``, ``repair``, ``optimize``, ``backup``)
hold a cross-process maintenance lock, so two runs never interleave; ``clear``,
``restore`` and ``repair`` back up every ``backup_enabled`` type they are about
to change before changing it, and change nothing of a type whose backup failed.

Example:
    >>> import tempfile, os
    >>> from fbacache.fba.config import parse_config
    >>> root = tempfile.mkdtemp()
    >>> cfg = parse_config({"directories": {"amazon_cache": "a"},
    ...                     "cache_types": {"amazon_cache": {"ttl_hours": 1}}}, root)
    >>> m = Maintenance(cfg)
    >>> m.clear("selective", dry_run=True).actions
    []
"""
from __future__ import annotations

import os
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from fbacache.errors import BackupError, ConfigError, CorruptFile, MaintenanceAborted, UnsafePath
from fbacache.fba.atomic import Writer
from fbacache.fba.config import STRATEGIES, CacheTypeConfig, FsConfig
from fbacache.fba.context import Context, Progress, default_load_probe, os_error_text
from fbacache.fba.inspect import collect_metrics, validate_files
from fbacache.fba.safe import make_dirs
from fbacache.fba.results import FileCheck, MetricsReport, ValidationReport
from fbacache.fba.issues import issue

if TYPE_CHECKING:
    from fbacache.fba.results_ops import (
        Action, BackupInfo, BackupListReport, BackupReport, ClearReport, HealthReport,
        OptimizeReport, RepairReport, RestoreReport,
    )

# The verbs' machinery (tarfile, filelock, strategies...) and their report classes are
# imported by the methods that use them: `metrics` and `validate` must not pay for
# `backup`'s imports at every start.

__all__ = ["Maintenance"]

Types = Optional[Sequence[str]]


class Maintenance:
    """Housekeeping of the FBA cache directories described by an :class:`FsConfig`.

    Args:
        config: the validated ``cache`` section (see :func:`~fbacache.fba.config.load_config`).
        writer: optional ``writer(fd, chunk)`` every file write goes through (fault injection).
        clock: time source for ages and backup timestamps.
        load_probe: returns load per CPU, for ``performance_aware``.
        sleep: pause function for ``performance_aware``.
        progress: optional ``progress(label, done, total)`` sink.
        lock_timeout: seconds to wait for another maintenance run to finish.
    """

    def __init__(self, config: FsConfig, *, writer: Optional[Writer] = None,
                 clock: Callable[[], float] = time.time,
                 load_probe: Callable[[], float] = default_load_probe,
                 sleep: Callable[[float], None] = time.sleep,
                 progress: Optional[Progress] = None, lock_timeout: float = 60.0) -> None:
        self.config = config
        self._seams = dict(writer=writer, clock=clock, load_probe=load_probe, sleep=sleep,
                           progress=progress)
        self.lock_timeout = lock_timeout

    def _ctx(self) -> Context:
        return Context(self.config, **self._seams)  # type: ignore[arg-type]

    def _lock(self) -> AbstractContextManager[None]:
        from fbacache.fba.locking import directory_lock
        # a symlinked .fbacache would put the lock (and by default every backup, quarantined
        # and archived file) outside the root: refuse before anything is written there
        try:
            make_dirs(self.config.state_dir, self.config.root)
        except OSError as exc:  # a read-only root: one line before anything starts
            raise MaintenanceAborted(f"cannot create the lock file "
                                     f"{os.path.join(self.config.state_dir, '.maintain.lock')}: "
                                     f"{exc.strerror or exc}") from None
        return directory_lock(self.config.state_dir, "maintain", timeout=self.lock_timeout)

    # -- read-only -------------------------------------------------------------------------
    def health(self, types: Types = None) -> HealthReport:
        """Per-type status, issues, recommendations, system resources, overall status."""
        from fbacache.fba.health import check_health
        return check_health(self._ctx(), types)

    def metrics(self, types: Types = None, *, content: bool = True) -> MetricsReport:
        """File count, bytes, ages, expired and corrupt counts per type and in total.

        ``content=False`` stats files without reading them (``corrupt_count`` is ``None``).
        """
        return collect_metrics(self._ctx(), types, content=content)

    def validate(self, types: Types = None, *,
                 on_file: Optional[Callable[[FileCheck], None]] = None,
                 every_file: bool = True, keep: Optional[int] = None) -> ValidationReport:
        """Parse and schema-check every file; see :class:`~fbacache.fba.results.FileCheck`.

        By default the report keeps every file's check in ``files``. To stream instead
        (memory flat in the number of files), pass ``on_file`` (called with each check in
        scan order as it is made) and ``keep=0``; ``every_file=False`` makes checks only
        for files with errors or warnings (clean files are counted, nothing more). The
        counts (``checked_files``, ``invalid_count``...) always cover every file.
        """
        return validate_files(self._ctx(), types, on_file=on_file, every_file=every_file,
                              keep=keep)

    def backups(self, cache_type: str) -> list[BackupInfo]:
        """Complete backups of ``cache_type``, oldest first."""
        from fbacache.fba.backup import list_backups
        return list_backups(self._ctx(), cache_type)

    def list_backups(self, types: Types = None) -> BackupListReport:
        """``backups`` verb: every complete backup of each selected type, oldest first.

        Damaged or forged manifests are listed as warnings, never as backups.
        """
        from fbacache.fba.backup import list_backups
        from fbacache.fba.results_ops import BackupListReport
        ctx = self._ctx()
        report = BackupListReport()
        for t in ctx.select(types):
            try:
                report.backups[t.name] = list_backups(ctx, t.name, report.warnings)
            except (UnsafePath, OSError) as exc:
                report.errors.append(issue("backup.unsafe_dir", f"{t.name}: {exc}"))
        return report

    # -- destructive -----------------------------------------------------------------------
    def clear(self, strategy: Optional[str] = None, types: Types = None, *,
              dry_run: bool = False, batch_size: int = 50, max_load: float = 0.8,
              max_wait: float = 60.0) -> ClearReport:
        """Run a clearing strategy (each type's ``cleanup_strategy`` when ``None``).

        ``dry_run`` returns the exact actions without changing anything.
        ``performance_aware`` applies them ``batch_size`` at a time and pauses
        (up to ``max_wait`` s per batch) while load per CPU exceeds ``max_load``.

        Raises:
            ConfigError: unknown strategy or cache type.
        """
        from fbacache.fba.execute import apply_all, safety_backups
        from fbacache.fba.results_ops import ClearReport
        if strategy is not None and strategy not in STRATEGIES:
            raise ConfigError("--strategy", f"unknown strategy {strategy!r}; "
                                            f"expected one of {', '.join(STRATEGIES)}")
        ctx = self._ctx()
        selected = ctx.select(types)
        report = ClearReport(strategy=strategy or "per-type default", dry_run=dry_run)
        if dry_run:
            self._plan_all(ctx, strategy, selected, report)
            return report
        with self._lock():
            self._plan_all(ctx, strategy, selected, report)
            touched = [t for t in selected if any(a.cache_type == t.name for a in report.actions)]
            allowed, report.backups = safety_backups(ctx, touched, f"pre-clear {report.strategy}",
                                                     report.errors)
            batched = strategy == "performance_aware" or (
                strategy is None and any(t.cleanup_strategy == "performance_aware"
                                         for t in selected))
            apply_all(ctx, report.actions, report.errors, allowed=allowed,
                      batch_size=batch_size if batched else 0, max_load=max_load,
                      max_wait=max_wait)
            for t in touched:
                # a type whose safety backup failed made no backup to prune around
                if t.backup_enabled and t.name in allowed:
                    _prune(ctx, t, report.errors, protect=report.backups)
        return report

    @staticmethod
    def _plan_optimize(ctx: Context, selected: list, report: OptimizeReport) -> None:
        from fbacache.fba.housekeeping import plan_optimize
        for t in selected:
            try:
                report.actions += plan_optimize(ctx, t)
            except UnsafePath as exc:  # a symlinked archive directory: nothing of it is touched
                report.errors.append(issue("optimize.refused", f"{t.name}: optimize refused: {exc}"))
            except OSError as exc:  # an unreadable directory: an error of its type only
                report.errors.append(issue("dir.unreadable", f"{t.name}: {os_error_text(exc, t.directory)}"))

    def _plan_all(self, ctx: Context, strategy: Optional[str], selected: list,
                  report: ClearReport) -> None:
        from fbacache.fba.strategies import plan, plan_total_size
        sized = []
        for t in selected:
            chosen = strategy or t.cleanup_strategy
            if chosen == "performance_aware" and t.cleanup_strategy != "performance_aware":
                chosen = t.cleanup_strategy
            if chosen == "size_based":
                sized.append(t)
            try:
                report.actions += plan(ctx, strategy or t.cleanup_strategy, t, report.notes)
            except CorruptFile as exc:
                report.errors.append(issue("plan.failed", f"{t.name}: {exc}"))
            except OSError as exc:
                report.errors.append(issue("dir.unreadable", f"{t.name}: {os_error_text(exc, t.directory)}"))
        if sized and ctx.config.max_total_bytes is not None:
            # global_settings.max_total_size_gb spans every type: after each type is within
            # its own max_size_mb, the oldest entries across the size_based types go next
            try:
                report.actions += plan_total_size(ctx, sized, report.actions, report.notes)
            except OSError as exc:
                report.errors.append(issue("plan.failed", f"max_total_size_gb: {exc}"))

    def backup(self, types: Types = None, *, reason: str = "manual",
               prune: bool = True, full: bool = False) -> BackupReport:
        """Back up each selected type (all ``backup_enabled`` ones when ``types`` is None).

        Backups are incremental: a file unchanged since the type's previous backup
        (same size, mtime and SHA-256) is referenced there, not archived again;
        ``full`` archives every file. With ``strategies.backup.enabled: false`` only
        explicitly named types are backed up.
        """
        from fbacache.fba.backup import create_backup
        from fbacache.fba.results_ops import BackupReport
        ctx = self._ctx()
        report = BackupReport()
        if not types and not self.config.backup.get("enabled", True):
            report.warnings.append(issue("backup.disabled", "strategies.backup.enabled is "
                                         "false: name the types to back up with --cache-type"))
            return report
        selected = ctx.select(types) if types else [
            t for t in ctx.select(None) if t.backup_enabled]
        with self._lock():
            for t in selected:
                try:
                    report.created.append(create_backup(ctx, t, reason=reason, full=full))
                except BackupError as exc:
                    report.errors.append(issue("backup.failed", str(exc)))
                    continue
                except OSError as exc:  # the cache directory itself cannot be read
                    report.errors.append(issue("backup.failed", f"{t.name}: backup failed: "
                                         f"{os_error_text(exc, t.directory)}"))
                    continue
                if prune:
                    report.pruned += _prune(ctx, t, report.errors,
                                            protect=[b.id for b in report.created])
        return report

    def restore(self, types: Types = None, *, backup_id: Optional[str] = None,
                dry_run: bool = False) -> RestoreReport:
        """Restore each selected type from its latest (or the named) verified backup.

        Without ``types`` every type that has backups is restored. A
        ``backup_enabled`` type is backed up first, so a restore can be undone.
        """
        from fbacache.fba.backup import list_backups
        from fbacache.fba.execute import safety_backups
        from fbacache.fba.restore import choose_backup, restore_type
        from fbacache.fba.results_ops import RestoreReport
        ctx = self._ctx()
        report = RestoreReport(dry_run=dry_run)
        selected = ctx.select(types) if types else [
            t for t in ctx.select(None) if list_backups(ctx, t.name)]
        if backup_id is not None and not types:
            selected = [t for t in selected if backup_id.startswith(t.name + "_")]
        if not selected:
            # asked to restore and nothing can be: an error, not a "warnings found" run
            if backup_id is not None:
                report.errors.append(issue("restore.not_found",
                                           f"no backup with id {backup_id!r}"))
            else:
                report.errors.append(issue("restore.none", "no backups to restore"))
            return report
        with self._lock():
            for t in selected:
                try:
                    info = choose_backup(ctx, t, backup_id)
                except BackupError as exc:
                    report.errors.append(issue("restore.not_found" if backup_id else "restore.none",
                                               f"{t.name}: restore failed, nothing changed: {exc}"))
                    continue
                try:
                    if not dry_run and t.backup_enabled:
                        ok, ids = safety_backups(ctx, [t], f"pre-restore {info.id}", report.errors)
                        report.safety_backups += ids
                        if t.name not in ok:
                            continue
                    report.files += restore_type(ctx, t, info, dry_run=dry_run)
                    report.restored[t.name] = info.id
                    if info.file_count == 0:
                        report.warnings.append(issue("backup.empty", f"{t.name}: backup {info.id} "
                                                     "holds no files; nothing was restored"))
                except (BackupError, UnsafePath, OSError) as exc:
                    report.errors.append(issue("restore.failed", f"{t.name}: restore failed, nothing "
                                                     f"changed: {exc}" if not report.files
                                               else f"{t.name}: {exc}"))
        return report

    def repair(self, types: Types = None, *, dry_run: bool = False) -> RepairReport:
        """Move corrupt files into the quarantine folder (never deletes them)."""
        from fbacache.fba.execute import apply_all, safety_backups
        from fbacache.fba.housekeeping import plan_repair
        from fbacache.fba.results_ops import RepairReport
        ctx = self._ctx()
        selected = ctx.select(types)
        report = RepairReport(dry_run=dry_run)
        for t in selected:
            report.actions += _planned(plan_repair, ctx, t, report.errors)
        if dry_run or not report.actions:
            return report
        with self._lock():
            touched = [t for t in selected if any(a.cache_type == t.name for a in report.actions)]
            allowed, _ = safety_backups(ctx, touched, "pre-repair", report.errors)
            apply_all(ctx, report.actions, report.errors, allowed=allowed)
        return report

    def optimize(self, types: Types = None, *, dry_run: bool = False) -> OptimizeReport:
        """Compress cold archived files, remove empty dirs and stray temp files / staging."""
        from fbacache.fba.execute import apply_all
        from fbacache.fba.results_ops import Action, OptimizeReport
        ctx = self._ctx()
        report = OptimizeReport(dry_run=dry_run)
        selected = ctx.select(types)
        if dry_run:
            self._plan_optimize(ctx, selected, report)
            return report
        with self._lock():
            self._plan_optimize(ctx, selected, report)
            apply_all(ctx, report.actions, report.errors, allowed={t.name for t in selected})
            for t in selected:
                if t.backup_enabled:
                    report.actions += [Action("delete", t.name, name, 0, "backup retention / orphan",
                                              done=True)
                                       for name in _prune(ctx, t, report.errors)]
        return report


def _planned(planner: Callable[[Context, CacheTypeConfig], list[Action]], ctx: Context,
             t: CacheTypeConfig, errors: list[str]) -> list[Action]:
    # an unreadable directory is an error of its type; the other types still run
    try:
        return planner(ctx, t)
    except OSError as exc:
        errors.append(issue("dir.unreadable", f"{t.name}: {os_error_text(exc, t.directory)}"))
        return []


def _prune(ctx: Context, t: CacheTypeConfig, errors: list[str],
           protect: Sequence[str] = ()) -> list[str]:
    # retention is housekeeping after the work: an unreadable backup directory is reported
    # as an error of its type instead of discarding the report of what was done
    from fbacache.fba.backup import prune_backups
    try:
        return prune_backups(ctx, t.name, protect=protect)
    except OSError as exc:
        errors.append(issue("backup.retention", f"{t.name}: backup retention: "
                      f"{os_error_text(exc, ctx.config.tool_dir('backups'))}"))
        return []
