"""``python -m fbacache.maintain``: housekeeping for the FBA cache directories.

Usage::

    python -m fbacache.maintain VERB --config PATH [--root DIR] [--cache-type T ...]
        [--strategy S] [--backup ID] [--dry-run] [--json] [--yes] [--verbose]

Verbs: health, metrics, validate, clear, backup, restore, repair, optimize.
``clear``, ``restore``, ``repair`` and ``optimize`` change files and ask for
confirmation unless ``--yes`` (or ``--dry-run``); without a terminal they refuse.

Exit codes: 0 ok, 1 warnings, 2 errors, 3 usage (bad arguments, unknown cache
type or strategy, or confirmation refused).

Example:
    >>> main(["--help-exit-codes"])
    0: ok  1: warnings  2: errors  3: usage
    0
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional, Sequence

from fbacache.errors import ConfigError, FbaCacheError
from fbacache.fs.config import STRATEGIES, load_config
from fbacache.fs.ops import Maintenance
from fbacache.fs.render import ProgressBar, render

__all__ = ["main", "EXIT_OK", "EXIT_WARNINGS", "EXIT_ERRORS", "EXIT_USAGE", "VERBS"]

EXIT_OK, EXIT_WARNINGS, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2, 3
VERBS = ("health", "metrics", "validate", "clear", "backup", "restore", "repair", "optimize")
DESTRUCTIVE = ("clear", "restore", "repair", "optimize")
_STATUS_EXIT = {"ok": EXIT_OK, "warning": EXIT_WARNINGS, "error": EXIT_ERRORS}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


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
    p.add_argument("--batch-size", type=int, default=50, help="performance_aware batch size")
    p.add_argument("--max-load", type=float, default=0.8,
                   help="performance_aware pauses while load per CPU exceeds this")
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code (see module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--help-exit-codes"]:
        print("0: ok  1: warnings  2: errors  3: usage")
        return EXIT_OK
    out = sys.stdout
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(args.config, args.root)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    bar = ProgressBar() if sys.stderr.isatty() and not args.json else None
    m = Maintenance(config, progress=bar)
    try:
        if args.verb in DESTRUCTIVE and not args.dry_run and not args.yes:
            if not _confirm(m, args, out):
                return EXIT_USAGE
        report = _run(m, args, args.dry_run)
    except ConfigError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.field.startswith("--") else EXIT_ERRORS
    except FbaCacheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    finally:
        if bar is not None:
            bar.close()
    for key in config.unknown_keys:
        report.warnings.append(f"unknown config key ignored: {key}")
    if args.json:
        data = report.to_dict()
        data["verb"] = args.verb
        json.dump(data, out, indent=1, default=str)
        out.write("\n")
    else:
        print(render(report, args.verbose), file=out)
    return _STATUS_EXIT[report.status]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
