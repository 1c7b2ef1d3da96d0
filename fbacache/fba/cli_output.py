"""Output plumbing of the ``maintain`` CLI: the JSON envelope, closed pipes, listings.

Every JSON document the CLI prints (reports and errors alike) is one object with
``schema_version`` (bumped on any incompatible change), ``tool``, ``version``,
``verb``, ``status``, ``exit_code`` and ``generated_at`` (ISO-8601 UTC), then the
report's own fields or an ``error`` object.

Example:
    >>> e = envelope("metrics", "ok", 0, 0.0)
    >>> e["schema_version"], e["generated_at"], e["exit_code"]
    (1, '1970-01-01T00:00:00Z', 0)
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Optional

from fbacache import __version__
from fbacache.fba.config import FsConfig
from fbacache.fba.render import human_bytes, table
from fbacache.fba.results import iso_utc

if TYPE_CHECKING:
    from fbacache.fba.results_ops import BackupListReport

__all__ = ["SCHEMA_VERSION", "envelope", "emit", "quiet_streams", "render_backups",
           "render_schedule", "tool_command"]

#: Version of the ``--json`` output's shape (docs/maintain.md in the sdist, "JSON output").
SCHEMA_VERSION = 1


def envelope(verb: Optional[str], status: str, exit_code: int, now: Optional[float],
             fields: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The common head of every JSON document, followed by ``fields``."""
    head: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "tool": "fbacache-maintain", "version": __version__,
        "verb": verb, "status": status, "exit_code": exit_code,
        "generated_at": iso_utc(time.time() if now is None else now),
    }
    head.update({k: v for k, v in (fields or {}).items() if k not in head})
    return head


def emit(text: str) -> None:
    """Print ``text`` and flush inside the caller's ``BrokenPipeError`` guard."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # not at interpreter exit, where a closed pipe prints a traceback


def quiet_streams() -> None:
    """After a closed pipe: point stdout and stderr at /dev/null so the interpreter's
    final flush cannot raise again ("Exception ignored ... BrokenPipeError")."""
    for stream in (sys.stdout, sys.stderr):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


def render_backups(report: BackupListReport) -> str:
    """The ``backups`` listing: one row per backup, sizes human, times ISO-8601 UTC."""
    rows = []
    for t, infos in report.backups.items():
        for b in infos:
            rows.append([t, b.id, iso_utc(b.created), b.reason, b.file_count,
                         human_bytes(b.total_bytes), human_bytes(b.archive_bytes),
                         ", ".join(b.depends_on) or "-"])
    body = table(["type", "id", "created", "reason", "files", "size", "archive", "needs"], rows) \
        if rows else "no backups"
    tail = [f"warning: {w}" for w in report.warnings] + [f"error: {e}" for e in report.errors]
    return "\n".join([body, *tail])


def tool_command(cfg: FsConfig) -> list[str]:
    """The argv prefix that runs this tool on ``cfg`` from cron (absolute interpreter)."""
    argv = [sys.executable, "-m", "fbacache.maintain"]
    if cfg.source:
        argv += ["--config", os.path.abspath(cfg.source)]
    return argv + ["--root", cfg.root]


def render_schedule(cfg: FsConfig, fmt: str) -> tuple[str, dict[str, Any]]:
    """``(text, json_fields)`` of the ``schedule`` verb in ``fmt`` (crontab or systemd)."""
    from fbacache.fba.schedule import render_crontab, render_systemd, schedule_entries
    jobs, notes = schedule_entries(cfg, tool_command(cfg))
    lines, cron_notes = render_crontab(jobs)
    units, unit_notes = render_systemd(jobs)
    data = {"jobs": jobs, "crontab": lines, "systemd_units": units,
            "notes": notes + cron_notes + unit_notes}
    if fmt == "crontab":
        text = "\n".join(["# crontab -e, then paste (times are UTC):", *lines])
        extra = notes + cron_notes
    else:
        text = "\n".join(f"# file: /etc/systemd/system/{name}\n{body}"
                         for name, body in units.items())
        text += "\n# then: systemctl daemon-reload && systemctl enable --now " + " ".join(
            n for n in units if n.endswith(".timer"))
        extra = notes + unit_notes
    return text + "".join(f"\nnote: {n}" for n in extra), json.loads(json.dumps(data))
