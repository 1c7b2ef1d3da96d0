"""``python -m fbacache.maintain``: housekeeping for the FBA cache directories.

Usage::

    python -m fbacache.maintain VERB --config PATH [--root DIR] [--cache-type T ...]
        [--strategy S] [--backup ID] [--dry-run] [--json] [--yes] [--verbose] [--now WHEN]

Verbs: health, metrics, validate, clear, backup, restore, repair, optimize.
``clear``, ``restore``, ``repair`` and ``optimize`` change files and ask for
confirmation unless ``--yes`` (or ``--dry-run``); without a terminal they refuse.

Exit codes: 0 ok, 1 warnings, 2 errors, 3 usage (bad arguments, unknown cache
type or strategy, or confirmation refused). Errors are one line on stderr, never
a traceback (see ``docs/threat-model.md``).

Example:
    >>> main(["--help-exit-codes"])
    0: ok  1: warnings  2: errors  3: usage
    0
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Sequence, Union

from fbacache.errors import ConfigError, FbaCacheError
from fbacache.fba.config import STRATEGIES, load_config
from fbacache.fba.numbers import NumberRule, check_number
from fbacache.fba.ops import Maintenance
from fbacache.fba.render import ProgressBar, render

__all__ = ["main", "EXIT_OK", "EXIT_WARNINGS", "EXIT_ERRORS", "EXIT_USAGE", "VERBS"]

EXIT_OK, EXIT_WARNINGS, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2, 3
VERBS = ("health", "metrics", "validate", "clear", "backup", "restore", "repair", "optimize")
DESTRUCTIVE = ("clear", "restore", "repair", "optimize")
_STATUS_EXIT = {"ok": EXIT_OK, "warning": EXIT_WARNINGS, "error": EXIT_ERRORS}
_BATCH = NumberRule("files", integer=True, positive=True)
_LOAD = NumberRule("load per CPU")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _number(option: str, rule: NumberRule) -> Callable[[str], Union[int, float]]:
    # command-line numbers go through the same check as the config's (NaN, inf, 1e400...)
    def parse(text: str) -> Union[int, float]:
        try:
            value: Union[int, float] = int(text) if rule.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        try:
            return check_number(value, option, rule)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    return parse


def parse_now(text: str) -> float:
    """``--now``: an ISO 8601 date/time (UTC unless it names a zone) or Unix seconds.

    Example:
        >>> parse_now("2028-02-29T12:00:00Z"), parse_now("2028-02-29")
        (1835438400.0, 1835395200.0)
    """
    try:
        ts = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an ISO 8601 date/time or Unix seconds, got {text!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    try:
        datetime.fromtimestamp(ts, timezone.utc)  # NaN, inf and out-of-range years refused
    except (OverflowError, ValueError, OSError):
        raise argparse.ArgumentTypeError(f"not a representable time: {text!r}") from None
    return ts


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exits with code 3 on bad usage instead of argparse's 2)."""
    p = _Parser(prog="python -m fbacache.maintain",
                description="Housekeeping for the FBA cache directories.",
                epilog="exit codes: 0 ok, 1 warnings, 2 errors, 3 usage")
    p.add_argument("verb", choices=VERBS)
    p.add_argument("--config", required=True, help="system_config.json (its `cache` section)")
    p.add_argument("--root", help="FBA working directory; relative directories resolve here "
                                  "(default: the config file's directory)")
    p.add_argument("--cache-type", action="extend", nargs="+", dest="types", metavar="T")
    p.add_argument("--strategy", choices=STRATEGIES, help="clear strategy "
                   "(default: each type's cleanup_strategy)")
    p.add_argument("--backup", dest="backup_id", metavar="ID", help="restore this backup id")
    p.add_argument("--dry-run", action="store_true", help="list what would change; change nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--verbose", action="store_true", help="list every file/action")
    p.add_argument("--batch-size", type=_number("--batch-size", _BATCH), default=50,
                   help="performance_aware batch size")
    p.add_argument("--max-load", type=_number("--max-load", _LOAD), default=0.8,
                   help="performance_aware pauses while load per CPU exceeds this")
    p.add_argument("--now", type=parse_now, metavar="WHEN",
                   help="judge ages, expiry and backup retention as of this time "
                        "(ISO 8601 or Unix seconds; default: the system clock)")
    return p


def _run(m: Maintenance, args: argparse.Namespace, dry_run: bool) -> Any:
    v, types = args.verb, args.types
    if v == "health":
        return m.health(types)
    if v == "metrics":
        return m.metrics(types)
    if v == "validate":
        return m.validate(types)
    if v == "clear":
        return m.clear(args.strategy, types, dry_run=dry_run, batch_size=args.batch_size,
                       max_load=args.max_load)
    if v == "backup":
        return m.backup(types)
    if v == "restore":
        return m.restore(types, backup_id=args.backup_id, dry_run=dry_run)
    if v == "repair":
        return m.repair(types, dry_run=dry_run)
    return m.optimize(types, dry_run=dry_run)


def _confirm(m: Maintenance, args: argparse.Namespace, out: Any) -> bool:
    preview = _run(m, args, dry_run=True)
    n = len(getattr(preview, "actions", None) or getattr(preview, "files", None) or [])
    if n == 0 and not preview.errors:
        return True  # nothing would change: no need to ask
    if not sys.stdin.isatty():
        print(f"{args.verb} would change {n} file(s); re-run with --yes to proceed "
              f"(or --dry-run to list them)", file=sys.stderr)
        return False
    print(render(preview, args.verbose), file=out)
    answer = input(f"Proceed with {args.verb} ({n} change(s))? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(code: int, kind: str, message: str, verb: Optional[str], as_json: bool,
          outcome: list[int]) -> int:
    """Report an error that ended the run: one line on stderr, a JSON object on stdout."""
    outcome[0] = code
    line = _one_line(message)
    print(f"{kind}: {line}", file=sys.stderr)
    if as_json:
        _emit(json.dumps({"verb": verb, "status": "error", "exit_code": code,
                          "error": {"kind": kind, "message": line}}))
    return code


def _emit(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # inside the caller's BrokenPipeError guard, not at interpreter exit


def _quiet_stdout() -> None:
    # the reader went away (`| head -1`): point stdout at /dev/null so the interpreter's
    # final flush cannot raise again and print "Exception ignored ... BrokenPipeError"
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code (see module docstring).

    Errors never end in a traceback. One that stops the run (an invalid config, a
    read-only root) is one line on stderr (plus a JSON error object on stdout with
    ``--json``) and exit code 2; bad usage is exit code 3. Errors of a run that
    completed (an unreadable cache directory, a damaged backup, a failed action) are
    one ``error:`` line each in the report (``errors`` in JSON) and exit code 2. A
    reader that closes the pipe early (``validate | head -1``) ends the run quietly
    with the code the run would have had.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--help-exit-codes"]:
        print("0: ok  1: warnings  2: errors  3: usage")
        return EXIT_OK
    as_json = "--json" in argv
    outcome = [EXIT_ERRORS]  # the code to return if printing the result hits a closed pipe
    try:
        return _main(argv, as_json, outcome)
    except BrokenPipeError:
        _quiet_stdout()
        return outcome[0]


def _main(argv: list[str], as_json: bool, outcome: list[int]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        return _fail(EXIT_USAGE, "usage error", str(exc), None, as_json, outcome)
    try:
        config = load_config(args.config, args.root)
    except ConfigError as exc:
        return _fail(EXIT_ERRORS, "config error", str(exc), args.verb, as_json, outcome)
    bar = ProgressBar() if sys.stderr.isatty() and not args.json else None
    clock = time.time if args.now is None else (lambda: args.now)
    m = Maintenance(config, progress=bar, clock=clock)
    try:
        if args.verb in DESTRUCTIVE and not args.dry_run and not args.yes:
            if not _confirm(m, args, sys.stdout):
                return EXIT_USAGE
        report = _run(m, args, args.dry_run)
    except ConfigError as exc:
        usage = exc.field.startswith("--")
        return _fail(EXIT_USAGE if usage else EXIT_ERRORS, "usage error" if usage else "error",
                     str(exc), args.verb, as_json, outcome)
    except (FbaCacheError, OSError) as exc:
        # typed errors, and any OS refusal not handled per cache type (a read-only root,
        # an unreadable tool directory): one line, never a traceback
        return _fail(EXIT_ERRORS, "error", str(exc), args.verb, as_json, outcome)
    finally:
        if bar is not None:
            bar.close()
    for key in config.unknown_keys:
        report.warnings.append(f"unknown config key ignored: {key}")
    # the run completed: its errors (one type unreadable, one action failed) are part of the
    # report, each on one "error: ..." line; stderr is for what stopped a run
    code = outcome[0] = _STATUS_EXIT[report.status]
    if args.json:
        data = report.to_dict()
        data["verb"] = args.verb
        _emit(json.dumps(data, indent=1, default=str))
    else:
        _emit(render(report, args.verbose))
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
