"""Streamed output of ``validate``: each file's row is printed as it is checked.

The report then keeps counts only, so a 48,000-file tree costs no more memory than a
small one. Text rows are aligned per block of :data:`BLOCK` rows (the header takes the
first block's widths; a later, longer path widens its own block only). ``--json``
writes the same one object as every other verb, with the envelope's ``status`` and
``exit_code`` after ``files`` (known only at the end; key order carries no meaning in
JSON) and one file object per line.

A reader that closes the pipe early (``validate | head``) ends the output, not the run:
the exit code is still the run's own.

Example:
    >>> import io, json
    >>> from fbacache.fba.results import FileCheck, ValidationReport
    >>> buf = io.StringIO()
    >>> s = ValidateStream(as_json=True, quiet=False, verbose=False, now=0.0, stream=buf)
    >>> s.file(FileCheck("/d/a.json", "t", True, [], [], 3, "1970-01-01T00:00:00Z"))
    >>> r = ValidationReport(checked_files=1)
    >>> s.finish(r, 0, [])
    >>> doc = json.loads(buf.getvalue())
    >>> doc["schema_version"], doc["status"], doc["total_files"], doc["files"][0]["path"]
    (1, 'ok', 1, '/d/a.json')
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Optional, TextIO

from fbacache import __version__
from fbacache.fba.cli_output import SCHEMA_VERSION, quiet_streams
from fbacache.fba.issues import Issue
from fbacache.fba.render import human_bytes
from fbacache.fba.results import FileCheck, ValidationReport, iso_utc

__all__ = ["ValidateStream", "BLOCK"]

#: Rows aligned (and flushed) together.
BLOCK = 256
_HEADERS = ("path", "result", "size", "modified", "reason")


class ValidateStream:
    """Prints ``validate``'s files as they are checked, then the summary.

    Args:
        as_json, quiet, verbose: the CLI flags.
        now: ``--now`` (for ``generated_at``), or ``None`` for the clock.
        stream: where to write (stdout).
        before_write: called before each block is written (clears a progress line).
    """

    def __init__(self, *, as_json: bool, quiet: bool, verbose: bool, now: Optional[float],
                 stream: Optional[TextIO] = None,
                 before_write: Optional[Callable[[], None]] = None) -> None:
        self.as_json, self.quiet, self.verbose = as_json, quiet, verbose
        self._now = now
        self._out = stream if stream is not None else sys.stdout
        self._before = before_write
        self._closed = False  # the reader went away: drop output, finish the run
        self._rows: list[list[str]] = []
        self._widths: Optional[list[int]] = None
        self._json_started = False

    # -- what the run asks for ---------------------------------------------------------------
    @property
    def every_file(self) -> bool:
        """Whether clean files get a row too (``--verbose``, ``--json``)."""
        return self.as_json or self.verbose

    @property
    def on_file(self) -> Optional[Callable[[FileCheck], None]]:
        """The per-file sink to give ``Maintenance.validate`` (``None`` under ``--quiet``)."""
        return None if self.quiet and not self.as_json else self.file

    def file(self, fc: FileCheck) -> None:
        """One checked file (in scan order)."""
        if self._closed:
            return
        if self.as_json:
            self._write((",\n" if self._json_started else self._json_head())
                        + json.dumps(fc.to_dict()))
            self._json_started = True
            return
        self._rows.append([fc.path, "valid" if fc.is_valid else "INVALID",
                           human_bytes(fc.file_size), fc.last_modified,
                           "; ".join(fc.errors + fc.warnings)[:160]])
        if len(self._rows) >= BLOCK:
            self._flush_rows()

    def finish(self, report: ValidationReport, code: int, notes: list[Issue]) -> None:
        """The summary (text) or the rest of the JSON object, after the last file."""
        if self.as_json:
            data = report.to_dict()
            del data["files"]
            data.update(status=report.status, exit_code=code,
                        config_notes=[{"code": n.code, "message": str(n)} for n in notes])
            head = "" if self._json_started else self._json_head()
            self._write(head + "\n], " + json.dumps(data, default=str)[1:] + "\n")
        elif self.quiet:
            if report.errors:
                self._write("\n".join(f"error: {e}" for e in report.errors) + "\n")
        else:
            self._flush_rows()
            n, bad = report.checked_files, report.invalid_count
            lines = [f"checked {n} file(s): {n - bad} valid, {bad} invalid"]
            lines += [f"warning: {w}" for w in report.warnings]
            lines += [f"error: {e}" for e in report.errors]
            lines += [f"note: {x}" for x in notes]
            self._write("\n".join(lines) + "\n")
        self._flush()

    # -- plumbing ----------------------------------------------------------------------------
    def _json_head(self) -> str:
        head: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "tool": "fbacache-maintain",
            "version": __version__, "verb": "validate",
            "generated_at": iso_utc(time.time() if self._now is None else self._now)}
        return json.dumps(head)[:-1] + ', "files": [\n'

    def _flush_rows(self) -> None:
        rows, self._rows = self._rows, []
        if not rows or self._closed:
            return
        lines = []
        if self._widths is None:
            self._widths = [max([len(h)] + [len(r[i]) for r in rows])
                            for i, h in enumerate(_HEADERS)]
            lines.append("  ".join(h.ljust(w) for h, w in zip(_HEADERS, self._widths)).rstrip())
            lines.append("  ".join("-" * w for w in self._widths))
        widths = [max([w] + [len(r[i]) for r in rows]) for i, w in enumerate(self._widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        self._write("\n".join(lines) + "\n")
        self._flush()

    def _write(self, text: str) -> None:
        if self._closed:
            return
        if self._before is not None:
            self._before()
        try:
            self._out.write(text)
        except BrokenPipeError:
            self._gone()

    def _flush(self) -> None:
        if self._closed:
            return
        try:
            self._out.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        # the reader closed the pipe: nothing more is printed, the run goes on to its own code
        self._closed = True
        if self._out is sys.stdout:
            quiet_streams()
