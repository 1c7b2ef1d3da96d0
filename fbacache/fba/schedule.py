"""The ``schedule`` verb: crontab lines and systemd timers for the configured schedule.

Nothing here runs anything (no daemon): it turns the config's
``strategies.clearing.schedule`` (cron), ``strategies.backup.frequency`` and the
``global_settings`` intervals into text an operator installs.

Example:
    >>> parse_cron("0 2 * * *")
    ('0', '2', '*', '*', '*')
    >>> on_calendar("*/15 2-4 * * 1-5")
    'Mon..Fri *-*-* 02..04:00/15:00'
"""
from __future__ import annotations

import re
import shlex
from typing import Any, Sequence

__all__ = ["parse_cron", "on_calendar", "schedule_entries", "render_crontab", "render_systemd"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))
_DOW = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
          "sep": 9, "oct": 10, "nov": 11, "dec": 12,
          "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_ITEM = re.compile(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?\Z")


def _num(text: str, lo: int, hi: int, what: str) -> int:
    value = _NAMES.get(text) if not text.isdigit() else int(text)
    if value is None or not lo <= value <= hi:
        raise ValueError(f"{what} {text!r} is not in {lo}..{hi}")
    return value


def parse_cron(expr: str) -> tuple[str, ...]:
    """Check a five-field cron expression; returns its fields (lower-cased).

    Supports ``*``, numbers, names (``mon``, ``jan``), ranges, lists and steps.

    Raises:
        ValueError: not five fields, or a field out of range.
    """
    fields = expr.lower().split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 cron fields (minute hour day month weekday), got {expr!r}")
    for text, (what, lo, hi) in zip(fields, _FIELDS):
        for item in text.split(","):
            m = _ITEM.match(item)
            if not m:
                raise ValueError(f"{what} field {text!r} is not valid cron syntax")
            if m.group(1) != "*":
                bounds = [_num(x, lo, hi, what) for x in m.group(1).split("-")]
                if len(bounds) == 2 and bounds[0] > bounds[1]:
                    raise ValueError(f"{what} range {m.group(1)!r} runs backwards")
            if m.group(2) is not None and int(m.group(2)) == 0:
                raise ValueError(f"{what} step 0 in {text!r}")
    return tuple(fields)


def _cal(text: str, lo: int, hi: int, what: str, width: int) -> str:
    out = []
    for item in text.split(","):
        m = _ITEM.match(item)
        assert m is not None  # parse_cron checked it
        base, step = m.group(1), m.group(2)
        if base == "*":
            part = "*" if step is None else f"{lo:0{width}d}/{step}"
        else:
            nums = [_num(x, lo, hi, what) for x in base.split("-")]
            part = "..".join(f"{n:0{width}d}" for n in nums)
            if step is not None:
                if len(nums) == 2:
                    # systemd has no "range with step": list the values instead
                    part = ",".join(f"{n:0{width}d}" for n in range(nums[0], nums[1] + 1,
                                                                      int(step)))
                else:
                    part += f"/{step}"
        out.append(part)
    return ",".join(out)


def on_calendar(expr: str) -> str:
    """The systemd ``OnCalendar=`` value that fires when cron ``expr`` does.

    Raises:
        ValueError: ``expr`` is invalid, or restricts both day of month and day of
            week (cron fires when *either* matches, systemd only when both do).
    """
    minute, hour, dom, month, dow = parse_cron(expr)
    if dom != "*" and dow != "*":
        raise ValueError(f"{expr!r} restricts both day of month and day of week; cron "
                         "treats that as OR, systemd as AND: write two schedules")
    days = ""
    if dow != "*":
        parts = []
        for item in dow.split(","):
            m = _ITEM.match(item)
            assert m is not None
            if m.group(1) == "*" or m.group(2):
                raise ValueError(f"day of week step {item!r} has no systemd equivalent")
            nums = [_num(x, 0, 7, "day of week") for x in m.group(1).split("-")]
            parts.append("..".join(_DOW[n] for n in nums))
        days = ",".join(parts) + " "
    return (f"{days}*-{_cal(month, 1, 12, 'month', 2)}-{_cal(dom, 1, 31, 'day of month', 2)} "
            f"{_cal(hour, 0, 23, 'hour', 2)}:{_cal(minute, 0, 59, 'minute', 2)}:00")


def schedule_entries(cfg: Any, command: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The jobs the config asks for: ``(jobs, notes)``.

    Each job is ``{"name", "argv", "cron"}`` or ``{"name", "argv", "every_hours"}``;
    ``command`` is the argv prefix that runs this tool with the same config and root.
    """
    jobs: list[dict[str, Any]] = []
    notes: list[str] = []
    sched = cfg.schedule
    if sched.get("enabled") and sched.get("cron"):
        jobs.append({"name": "clear", "cron": sched["cron"],
                     "argv": [*command, "clear", "--strategy", sched["strategy"], "--yes",
                              "--quiet"]})
    else:
        notes.append("strategies.clearing.schedule is not enabled: no clearing job")
    if cfg.backup.get("enabled", True):
        from fbacache.fba.config import BACKUP_FREQUENCIES
        jobs.append({"name": "backup", "cron": BACKUP_FREQUENCIES[cfg.backup["frequency"]],
                     "argv": [*command, "backup", "--quiet"]})
    else:
        notes.append("strategies.backup.enabled is false: no backup job")
    for key, verb, extra in (("validation_interval_hours", "validate", []),
                             ("optimization_interval_hours", "optimize", ["--yes"])):
        hours = cfg.global_settings.get(key)
        if hours:
            jobs.append({"name": verb, "every_hours": hours,
                         "argv": [*command, verb, *extra, "--quiet"]})
    return jobs, notes


def _cron_for_interval(hours: float) -> str:
    h = int(hours)
    if h != hours or h <= 0:
        raise ValueError(f"every {hours:g} h has no cron form")
    if h == 1:
        return "0 * * * *"
    if h < 24 and 24 % h == 0:
        return f"0 */{h} * * *"
    if h == 24:
        return "0 0 * * *"
    if h % 24 == 0 and h // 24 <= 31:
        return f"0 0 */{h // 24} * *"
    raise ValueError(f"every {h} h does not divide a day or a month; use the systemd timer")


def render_crontab(jobs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Crontab lines for ``jobs`` (UTC, as the tool judges ages): ``(lines, notes)``."""
    lines, notes = ["CRON_TZ=UTC"], []
    for job in jobs:
        try:
            cron = job["cron"] if "cron" in job else _cron_for_interval(job["every_hours"])
        except ValueError as exc:
            notes.append(f"{job['name']}: {exc}")
            continue
        lines.append(f"{cron} {shlex.join(job['argv'])}")
    return lines, notes


def render_systemd(jobs: list[dict[str, Any]], unit_prefix: str = "fbacache-maintain") -> tuple[
        dict[str, str], list[str]]:
    """A ``.service`` and ``.timer`` unit per job: ``({file name: text}, notes)``."""
    units: dict[str, str] = {}
    notes: list[str] = []
    for job in jobs:
        name = f"{unit_prefix}-{job['name']}"
        if "cron" in job:
            try:
                when = f"OnCalendar={on_calendar(job['cron'])} UTC\nPersistent=true"
            except ValueError as exc:
                notes.append(f"{job['name']}: {exc}")
                continue
        else:
            when = f"OnBootSec=15min\nOnUnitActiveSec={job['every_hours']:g}h"
        units[f"{name}.service"] = (
            f"[Unit]\nDescription=fbacache maintenance: {job['name']}\n\n"
            f"[Service]\nType=oneshot\nExecStart={shlex.join(job['argv'])}\n")
        units[f"{name}.timer"] = (
            f"[Unit]\nDescription=fbacache maintenance: {job['name']} timer\n\n"
            f"[Timer]\n{when}\n\n[Install]\nWantedBy=timers.target\n")
    return units, notes
