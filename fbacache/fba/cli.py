"""``python -m fbacache.maintain`` (console script ``fbacache-maintain``): FBA cache housekeeping.

Usage::

    fbacache-maintain [GLOBAL FLAGS] VERB [VERB FLAGS] [GLOBAL FLAGS]
    fbacache-maintain VERB --help

Verbs: health, metrics, validate, clear, backup, backups, restore, repair,
optimize, schedule. Global flags (``--config``, ``--root``, ``--cache-type``,
``--json``, ``--quiet``, ``--verbose``, ``--yes``, ``--dry-run``, ``--now``) go
before or after the verb. ``clear``, ``restore``, ``repair`` and ``optimize``
change files and ask for confirmation unless ``--yes`` (or ``--dry-run``);
without a terminal they refuse.

Exit codes, one table for every verb and every path (also in the sdist's docs/maintain.md):
0 ok, 1 warnings found, 2 error (including bad usage), 3 refused (confirmation
declined, ``cache.enabled: false``, a strategy not in
``strategies.clearing.available``). Errors are one line on stderr, never a
traceback; under ``--json`` they are also a JSON object on stdout.

Example:
    >>> main(["--help-exit-codes"])
    0: ok  1: warnings found  2: error  3: refused
    0
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Collection, Optional, Sequence, Union

from fbacache import __version__
from fbacache.errors import ConfigError, FbaCacheError
from fbacache.fba.cli_output import (
    SCHEMA_VERSION, emit, envelope, quiet_streams, render_backups, render_schedule,
)
from fbacache.fba.config import STRATEGIES, FsConfig, load_config
from fbacache.fba.context import Context
from fbacache.fba.issues import issue
from fbacache.fba.numbers import NumberRule, check_number
from fbacache.fba.ops import Maintenance
from fbacache.fba.render import ProgressBar, render

__all__ = ["main", "cli", "build_parser", "parse_now", "EXIT_OK", "EXIT_WARNINGS",
           "EXIT_ERRORS", "EXIT_REFUSED", "EXIT_USAGE", "VERBS"]

EXIT_OK, EXIT_WARNINGS, EXIT_ERRORS, EXIT_REFUSED = 0, 1, 2, 3
#: bad usage is an error like any other (argparse's own convention); kept as a name
EXIT_USAGE = EXIT_ERRORS
VERBS = ("health", "metrics", "validate", "clear", "backup", "backups", "restore", "repair",
         "optimize", "schedule")
DESTRUCTIVE = ("clear", "restore", "repair", "optimize")
# verbs that read the cache directories, so a root where none of them exists is an error
_READS_DIRS = ("health", "metrics", "validate", "clear", "backup", "repair", "optimize")
_STATUS_EXIT = {"ok": EXIT_OK, "warning": EXIT_WARNINGS, "error": EXIT_ERRORS}
_BATCH = NumberRule("files", integer=True, positive=True)
_LOAD = NumberRule("load per CPU")
_HELP = {
    "health": "per-type status, issues and advice (full commands); disk, memory, load",
    "metrics": "files, bytes, ages, expired and corrupt counts per type",
    "validate": "parse and schema-check every file",
    "clear": "apply a clearing strategy (asks unless --yes)",
    "backup": "incremental, checksummed backup of each backup_enabled type",
    "backups": "list the complete backups of each type",
    "restore": "restore each type from its latest (or the named) verified backup",
    "repair": "move corrupt files into quarantine (never deletes)",
    "optimize": "compress cold archives, remove empty dirs, stray temp files",
    "schedule": "print the crontab lines / systemd timers for the configured schedule",
}


class _UsageError(Exception):
    pass


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _columns() -> int:
    """The width argparse gives help text (``shutil.get_terminal_size``'s rule: ``COLUMNS``,
    else the terminal of ``sys.__stdout__``, else 80), without argparse's ``import shutil``
    (bz2, lzma, fnmatch...) at every start: it makes a formatter for every option added."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


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
    from datetime import datetime, timezone
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


def _global_flags(p: argparse.ArgumentParser, suppress: bool) -> None:
    # The same flags on the top parser (real defaults) and on every verb (SUPPRESS), so
    # they work before or after the verb and a verb's copy never resets an earlier value.
    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value
    g = p.add_argument_group("global options (before or after the verb)")
    g.add_argument("--config", default=d(None), help="system_config.json (its `cache` section)")
    g.add_argument("--root", default=d(None), help="FBA working directory; relative directories "
                   "resolve here (default: the config file's directory)")
    g.add_argument("--cache-type", action="extend", nargs="+", dest="types", metavar="T",
                   default=d(None), help="only these cache types (default: all)")
    g.add_argument("--json", action="store_true", default=d(False),
                   help=f"machine-readable output (schema_version {SCHEMA_VERSION})")
    g.add_argument("--quiet", "-q", action="store_true", default=d(False),
                   help="print only errors; the exit code tells the rest")
    g.add_argument("--verbose", "-v", action="store_true", default=d(False),
                   help="list every file/action")
    g.add_argument("--yes", "-y", action="store_true", default=d(False),
                   help="do not ask for confirmation")
    g.add_argument("--dry-run", action="store_true", default=d(False),
                   help="list what would change; change nothing")
    g.add_argument("--now", type=parse_now, metavar="WHEN", default=d(None),
                   help="judge ages, expiry and retention as of this time (ISO 8601 or Unix "
                        "seconds; default: the system clock)")


def build_parser(verbs: Optional[Collection[str]] = None) -> argparse.ArgumentParser:
    """The argument parser: one subcommand per verb, each with its own ``--help``.

    ``verbs``: the subcommands that get their options (default: all). The others keep
    their name and help line, which is all the top-level ``--help`` shows; the CLI passes
    the verbs named in its argv, since argparse selects a subcommand only by its exact
    name, and so skips building nine option sets it would never read.
    """
    p = _Parser(prog="fbacache-maintain", description="Housekeeping for the FBA cache directories.",
                epilog="exit codes: 0 ok, 1 warnings found, 2 error, 3 refused",
                formatter_class=_Formatter)
    p.add_argument("--version", action="version",
                   version=f"fbacache-maintain {__version__} (JSON schema_version {SCHEMA_VERSION})")
    _global_flags(p, suppress=False)
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for verb in VERBS:
        sp = sub.add_parser(verb, help=_HELP[verb], description=_HELP[verb],
                            epilog="exit codes: 0 ok, 1 warnings found, 2 error, 3 refused",
                            formatter_class=_Formatter)
        if verbs is not None and verb not in verbs:
            continue
        _global_flags(sp, suppress=True)
        if verb == "clear":
            sp.add_argument("--strategy", choices=STRATEGIES,
                            help="default: each type's cleanup_strategy, else "
                                 "strategies.clearing.default")
            sp.add_argument("--batch-size", type=_number("--batch-size", _BATCH), default=50,
                            help="performance_aware batch size")
            sp.add_argument("--max-load", type=_number("--max-load", _LOAD), default=0.8,
                            help="performance_aware pauses while load per CPU exceeds this")
        elif verb == "restore":
            sp.add_argument("--backup", dest="backup_id", metavar="ID",
                            help="restore this backup id (see the `backups` verb)")
        elif verb == "backup":
            sp.add_argument("--full", action="store_true",
                            help="archive every file, even those unchanged since the last backup")
        elif verb == "metrics":
            sp.add_argument("--content", action="store_true",
                            help="also read and parse every file to count corrupt ones "
                                 "(default: directory entries only, the cost of `du`)")
        elif verb == "schedule":
            sp.add_argument("--format", choices=("crontab", "systemd"), default="crontab")
    return p


def _parse(argv: list[str]) -> argparse.Namespace:
    args = build_parser({a for a in argv if a in VERBS}).parse_args(argv)
    if args.verb is None:
        raise _UsageError("fbacache-maintain: a verb is required (one of "
                          f"{', '.join(VERBS)}); see --help")
    if args.config is None:
        raise _UsageError(f"fbacache-maintain {args.verb}: --config is required")
    for name, default in (("strategy", None), ("batch_size", 50), ("max_load", 0.8),
                          ("backup_id", None), ("full", False), ("format", "crontab"),
                          ("content", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def _run(m: Maintenance, args: argparse.Namespace, dry_run: bool) -> Any:
    v, types = args.verb, args.types
    if v == "metrics":
        return m.metrics(types, content=args.content)
    if v in ("health", "validate"):
        return getattr(m, v)(types)
    if v == "backups":
        return m.list_backups(types)
    if v == "clear":
        return m.clear(args.strategy, types, dry_run=dry_run, batch_size=args.batch_size,
                       max_load=args.max_load)
    if v == "backup":
        return m.backup(types, full=args.full)
    if v == "restore":
        return m.restore(types, backup_id=args.backup_id, dry_run=dry_run)
    if v == "repair":
        return m.repair(types, dry_run=dry_run)
    return m.optimize(types, dry_run=dry_run)


def _confirm(m: Maintenance, args: argparse.Namespace) -> None:
    preview = _run(m, args, dry_run=True)
    n = len(getattr(preview, "actions", None) or getattr(preview, "files", None) or [])
    if n == 0 and not preview.errors:
        return  # nothing would change: no need to ask
    if not sys.stdin.isatty():
        raise _Refused("refused.no_tty", f"{args.verb} would change {n} file(s); re-run with "
                       "--yes to proceed (or --dry-run to list them)")
    emit(render(preview, args.verbose))
    answer = input(f"Proceed with {args.verb} ({n} change(s))? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise _Refused("refused.declined", f"{args.verb} not confirmed; nothing changed")


def _refusals(config: FsConfig, args: argparse.Namespace) -> None:
    """Config-level reasons not to run a destructive verb (exit 3)."""
    if args.verb not in DESTRUCTIVE or args.dry_run:
        return
    if not config.enabled:
        raise _Refused("refused.disabled", f"cache.enabled is false in {config.source}: "
                       f"{args.verb} changes cache files and is refused (--dry-run still lists "
                       "what it would do)")
    if args.verb == "clear" and args.strategy and config.available \
            and args.strategy not in config.available:
        raise _Refused("refused.strategy", f"strategy {args.strategy!r} is not in "
                       f"strategies.clearing.available ({', '.join(config.available)})")


def _check_dirs(config: FsConfig, args: argparse.Namespace) -> None:
    # a wrong --root shows every type as "missing" (each a mere warning): say it once, as an error
    if args.root is not None and not os.path.isdir(args.root):
        why = "is not a directory" if os.path.lexists(args.root) else "does not exist"
        raise ConfigError("--root", f"{args.root} {why}")
    if args.verb not in _READS_DIRS or not config.cache_types or args.types:
        return  # one named type that is missing gets its own, more precise message
    dirs = [t.directory for t in config.cache_types.values()]
    if not any(os.path.lexists(d) for d in dirs):
        raise ConfigError("--root", f"none of the cache directories exists under "
                          f"{config.root} (e.g. {dirs[0]}); wrong --root or config?")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring).

    A reader that closes the pipe early (``validate | head -1``) ends the run
    quietly, with the code the run would have had.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--help-exit-codes"]:
        print("0: ok  1: warnings found  2: error  3: refused")
        return EXIT_OK
    as_json = "--json" in argv
    outcome = [EXIT_ERRORS]  # the code to return if printing the result hits a closed pipe
    try:
        return _main(argv, as_json, outcome)
    except BrokenPipeError:
        quiet_streams()
        return outcome[0]


def cli() -> None:
    """Console-script entry point (``fbacache-maintain``)."""
    sys.exit(main())


def _fail(code: int, kind: str, err_code: str, message: str, verb: Optional[str],
          as_json: bool, outcome: list[int], now: Optional[float] = None) -> int:
    """Report what stopped the run: one line on stderr, plus a JSON object on stdout."""
    outcome[0] = code
    line = " ".join(str(message).split())
    if as_json:
        emit(json.dumps(envelope(verb, "refused" if code == EXIT_REFUSED else "error", code,
                                 now, {"error": {"kind": kind, "code": err_code, "message": line}})))
    sys.stderr.write(f"{kind}: {line}\n")
    sys.stderr.flush()
    return code


def _main(argv: list[str], as_json: bool, outcome: list[int]) -> int:
    try:
        args = _parse(argv)
    except _UsageError as exc:
        return _fail(EXIT_ERRORS, "usage error", "usage", str(exc), None, as_json, outcome)
    except SystemExit as exc:  # --help / --version printed their text
        outcome[0] = int(exc.code or 0)
        return outcome[0]
    as_json = args.json
    try:
        config = load_config(args.config, args.root)
        _check_dirs(config, args)
        _refusals(config, args)
    except ConfigError as exc:
        kind = "usage" if exc.field.startswith("--") else "config"
        return _fail(EXIT_ERRORS, "config error", kind, str(exc), args.verb, as_json, outcome,
                     args.now)
    except _Refused as exc:
        return _fail(EXIT_REFUSED, "refused", exc.code, str(exc), args.verb, as_json, outcome,
                     args.now)
    if args.verb == "schedule":
        text, data = render_schedule(config, args.format)
        outcome[0] = EXIT_OK
        emit(json.dumps(envelope("schedule", "ok", EXIT_OK, args.now, data), indent=1)
             if as_json else ("" if args.quiet else text))
        return EXIT_OK
    tty = sys.stderr.isatty() and not as_json and not args.quiet
    bar = ProgressBar() if tty else None
    clock = time.time if args.now is None else (lambda: args.now)
    m = Maintenance(config, progress=bar, clock=clock)
    stream = None
    if args.verb == "validate":  # rows printed as files are checked; only counts kept
        from fbacache.fba.cli_stream import ValidateStream
        stream = ValidateStream(as_json=as_json, quiet=args.quiet, verbose=args.verbose,
                                now=args.now, before_write=bar.close if bar else None)
    report: Any
    try:
        if args.verb in DESTRUCTIVE and not args.dry_run and not args.yes:
            _confirm(m, args)
        if stream is not None:
            Context(config).select(args.types)  # a bad --cache-type fails before any output
            report = m.validate(args.types, on_file=stream.on_file,
                                every_file=stream.every_file, keep=0)
        else:
            report = _run(m, args, args.dry_run)
    except _Refused as exc:
        return _fail(EXIT_REFUSED, "refused", exc.code, str(exc), args.verb, as_json, outcome,
                     args.now)
    except ConfigError as exc:
        usage = exc.field.startswith("--")
        return _fail(EXIT_ERRORS, "usage error" if usage else "error",
                     "usage" if usage else "config", str(exc), args.verb, as_json, outcome,
                     args.now)
    except (FbaCacheError, OSError) as exc:
        # typed errors, and any OS refusal not handled per cache type (a read-only root,
        # an unreadable tool directory): one line, never a traceback
        return _fail(EXIT_ERRORS, "error", "error", str(exc), args.verb, as_json, outcome,
                     args.now)
    finally:
        if bar is not None:
            bar.close()
    for key in config.unknown_keys:
        report.warnings.append(issue("config.unknown_key", f"unknown config key ignored: {key}"))
    notes = [issue("config.unsupported", n) for n in config.unsupported]
    if not config.enabled and args.verb in DESTRUCTIVE:
        notes.append(issue("config.disabled", "cache.enabled is false: a real run is refused"))
    code = outcome[0] = _STATUS_EXIT[report.status]
    if stream is not None:
        stream.finish(report, code, notes)
        return code
    if as_json:
        data = report.to_dict()
        data["config_notes"] = [{"code": n.code, "message": str(n)} for n in notes]
        emit(json.dumps(envelope(args.verb, report.status, code, args.now, data), indent=1,
                        default=str))
    elif args.quiet:
        errors = [f"error: {e}" for e in report.errors]
        if errors:
            emit("\n".join(errors))
    else:
        text = (render_backups(report) if args.verb == "backups"
                else render(report, args.verbose))
        emit("\n".join([text, *(f"note: {n}" for n in notes)]))
    return code


if __name__ == "__main__":  # pragma: no cover
    cli()
