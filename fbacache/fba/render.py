"""Human-readable tables for the ``maintain`` CLI (``--json`` bypasses this module).

Example:
    >>> print(table(["a", "bb"], [[1, 2], [333, 4]]))
    a    bb
    ---  --
    1    2
    333  4
"""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TextIO

from fbacache.fba.results import MetricsReport, ValidationReport, action_summary

if TYPE_CHECKING:
    from fbacache.fba.results_ops import HealthReport

__all__ = ["table", "render", "human_bytes", "ProgressBar"]


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain left-aligned text table."""
    srows = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in srows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in srows]
    return "\n".join(lines)


def _age(h: Any) -> str:
    return "" if h is None else f"{h:.1f} h"


def _maybe(n: Any) -> str:
    return "not read" if n is None else str(n)


def _metrics(r: MetricsReport) -> str:
    rows = [[n, m.file_count, human_bytes(m.total_bytes), _age(m.oldest_age_hours),
             _age(m.newest_age_hours), m.expired_count, _maybe(m.corrupt_count),
             "" if m.exists else "missing dir"] for n, m in r.types.items()]
    t = r.total
    rows.append(["TOTAL", t["file_count"], human_bytes(t["total_bytes"]),
                 _age(t["oldest_age_hours"]), _age(t["newest_age_hours"]),
                 t["expired_count"], _maybe(t["corrupt_count"]), ""])
    return table(["type", "files", "bytes", "oldest", "newest", "expired", "corrupt", "note"], rows)


def _health(r: HealthReport) -> str:
    out = [table(["type", "status", "issues"],
                 [[n, h.status, "; ".join(h.issues)] for n, h in r.types.items()])]
    for n, h in r.types.items():
        for rec in h.recommendations:
            out.append(f"  {n}: {rec}")
    s = r.system
    out += [f"  all types: {rec}" for rec in r.recommendations]
    out.append(f"disk: {s['disk_used_percent']}% used, {human_bytes(s['disk_free_bytes'])} free"
               + (f"; memory: {s['memory_used_percent']}% used" if "memory_used_percent" in s
                  else "") + (f"; load/cpu: {s['load_per_cpu']}" if "load_per_cpu" in s else ""))
    out.append(f"overall: {r.overall}")
    return "\n".join(out)


def _validate(r: ValidationReport, verbose: bool) -> str:
    shown = r.files if verbose else [f for f in r.files if not f.is_valid or f.warnings]
    rows = [[f.path, "valid" if f.is_valid else "INVALID", human_bytes(f.file_size),
             f.last_modified,
             "; ".join(f.errors + f.warnings)[:160]] for f in shown]
    head = table(["path", "result", "size", "modified", "reason"], rows) if rows else ""
    n, n_bad = r.checked_files, r.invalid_count
    return (head + "\n" if head else "") + \
        f"checked {n} file(s): {n - n_bad} valid, {n_bad} invalid"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(counts.items())) or "nothing"


def _actions(actions: list, dry_run: bool, verbose: bool) -> str:
    rows = [[a.op, a.cache_type, a.detail.get("rel", a.path), a.reason,
             "" if dry_run else ("ok" if a.done else a.error or "skipped")]
            for a in (actions if verbose or len(actions) <= 50 else actions[:50])]
    out = [table(["action", "type", "path", "reason", "result"], rows)] if rows else []
    if len(actions) > len(rows):
        out.append(f"... {len(actions) - len(rows)} more (use --verbose or --json)")
    summary = action_summary(actions, dry_run)
    if dry_run:
        out.append(f"would: {_counts(summary['planned'])}")
    else:
        # count outcomes, not plans: "did" lists only what was actually done
        line = f"did: {_counts(summary['done'])}"
        for outcome in ("failed", "skipped"):
            if summary[outcome]:
                line += f"; {outcome}: {_counts(summary[outcome])}"
        out.append(line)
    return "\n".join(out)


def render(report: Any, verbose: bool = False) -> str:
    """Render any report as text, followed by its notes, warnings and errors."""
    if isinstance(report, MetricsReport):
        body = _metrics(report)
    elif isinstance(report, ValidationReport):
        body = _validate(report, verbose)
    else:
        body = _render_ops(report, verbose)
    tail = [f"warning: {w}" for w in report.warnings] + [f"error: {e}" for e in report.errors]
    return "\n".join([body, *tail])


def _render_ops(report: Any, verbose: bool) -> str:
    # the other verbs' report classes are loaded only when one of them is rendered
    from fbacache.fba.results_ops import (
        BackupReport, ClearReport, HealthReport, OptimizeReport, RepairReport, RestoreReport,
    )
    if isinstance(report, HealthReport):
        body = _health(report)
    elif isinstance(report, (ClearReport, RepairReport, OptimizeReport)):
        body = _actions(report.actions, report.dry_run, verbose)
        if isinstance(report, ClearReport):
            # a dry run frees nothing: it says what it would free
            body += (f"\nwould free: {human_bytes(report.freed_bytes)}" if report.dry_run
                     else f"\nfreed: {human_bytes(report.freed_bytes)}")
            if report.backups:
                body += "\nsafety backups: " + ", ".join(report.backups)
            body += "".join(f"\nnote: {n}" for n in report.notes)
    elif isinstance(report, BackupReport):
        body = table(["backup", "files", "bytes", "archive", "sha256"],
                     [[b.id, b.file_count, human_bytes(b.total_bytes),
                       human_bytes(b.archive_bytes), b.archive_sha256[:16]]
                      for b in report.created])
        if report.pruned:
            body += "\npruned: " + ", ".join(report.pruned)
    elif isinstance(report, RestoreReport):
        verb = "would restore" if report.dry_run else "restored"
        body = "\n".join(f"{t}: {verb} from {b}" for t, b in report.restored.items())
        body += f"\n{len(report.files)} file(s)"
        if report.safety_backups:
            body += "\nsafety backups: " + ", ".join(report.safety_backups)
    else:  # pragma: no cover
        body = str(report)
    return body


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """A one-line progress line on a terminal: label, bar, ``done/total``, rate and ETA.

    Use only when ``stream.isatty()`` (the CLI checks); redrawn at most 10 times a second.

    Example:
        >>> import io
        >>> out = io.StringIO(); bar = ProgressBar(out, width=4, clock=iter([0, 2]).__next__)
        >>> bar("validate t", 0, 8); bar("validate t", 4, 8)
        >>> out.getvalue().split(chr(13))[-1].split()
        ['validate', 't', '[##', ']', '4/8', '2', 'files/s', 'ETA', '0:02']
    """

    def __init__(self, stream: TextIO = sys.stderr, width: int = 24,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.width, self._clock = stream, width, clock
        self._last = -1.0
        self._label = ""
        self._start = 0.0
        self._used = 0

    def __call__(self, label: str, done: int, total: int) -> None:
        now = self._clock()
        if label != self._label:  # a new phase: its own rate and ETA
            self._label, self._start, self._last = label, now, -1.0
        if self._last >= 0 and now - self._last < 0.1 and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        fill = int(self.width * frac)
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = _clock((total - done) / rate) if rate else "--:--"
        line = (f"{label[:28]} [{'#' * fill}{' ' * (self.width - fill)}] {done:,}/{total:,} "
                f"{rate:,.0f} files/s ETA {eta}")
        pad = max(0, self._used - len(line))
        self._used = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        """Clear the progress line."""
        if self._used:
            self.stream.write("\r" + " " * self._used + "\r")
            self.stream.flush()
