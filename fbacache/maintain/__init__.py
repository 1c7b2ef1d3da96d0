"""Kept so ``python -m fbacache.maintain`` (the documented command) still works.

The CLI lives in :mod:`fbacache.fba.cli`; this package only forwards to it.  It is a package
rather than a ``maintain.py`` module so that git sees ``maintain.py -> fba/cli.py`` as a rename
and carries other branches' edits of the CLI to its new place.
"""
from fbacache.fba.cli import (DESTRUCTIVE, EXIT_ERRORS, EXIT_OK, EXIT_USAGE, EXIT_WARNINGS,
                              VERBS, build_parser, main)

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_WARNINGS", "EXIT_ERRORS", "EXIT_USAGE",
           "VERBS", "DESTRUCTIVE"]
