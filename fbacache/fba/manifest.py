"""Backup manifests, written and read one file entry at a time.

A manifest is one JSON object (so any JSON reader, including fbacache before
format 3, reads it whole), laid out so that it can also be streamed:

.. code-block:: text

    {"format": 3, "id": ..., "file_count": 2, ..., "files": [
    {"path": "a.json", "size": 10, "mtime": 1.5, "sha256": "..."},
    {"path": "sub/b.json", "size": 7, "mtime": 2.0, "sha256": "...", "in": "<id>"}
    ]}

The first line is the header (every key but ``files``, the counts included), then
one entry per line, sorted by path component (``path.split("/")``, the order of
a depth-first walk that visits each directory's names sorted), then ``]}``. The
archive a format-3 manifest describes holds its members in the same order, so
restore and the incremental comparison merge sorted streams instead of building
an index of every file.

Manifests of formats 1 and 2 (one ``indent=1`` document, entries in scan order),
and any manifest that is valid JSON but not laid out as above, are read whole
and their entries sorted in memory: they still restore, at the old memory cost.

A manifest is data: every entry is checked (:func:`entry_problem`), a streamed
one must be strictly sorted, hold as many entries as its header says and end
with ``]}``; anything else is a :class:`~fbacache.errors.BackupError`.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> w = ManifestWriter(d)
    >>> w.add({"path": "a.json", "size": 1, "mtime": 0.0, "sha256": "x"})
    >>> w.commit(os.path.join(d, "b.manifest.json"), {"format": 3, "id": "b"})
    >>> header, streamed = read_header(os.path.join(d, "b.manifest.json"))
    >>> header["file_count"], streamed
    (1, True)
    >>> [e["path"] for e in iter_entries(os.path.join(d, "b.manifest.json"), "b")]
    ['a.json']
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from fbacache.errors import BackupError, CorruptFile
from fbacache.fba.atomic import TMP_PREFIX, AtomicFile, Writer, parse_json_bytes
from fbacache.fba.safe import open_regular

__all__ = ["FORMAT", "MAX_HEADER_LINE", "MAX_ENTRY_LINE", "MAX_WHOLE_MANIFEST", "path_key", "entry_problem", "ManifestWriter", "read_header", "iter_entries",
           "load_manifest"]

#: 3: streamed layout, entries and archive members sorted; 2: incremental entries ("in")
#: and depends_on; 1: full backups only. Formats 1 and 2 still load.
FORMAT = 3

_OPEN = b', "files": [\n'
_CLOSE = b"]}"

#: The longest header line read from a streamed manifest (ours are a few hundred bytes).
MAX_HEADER_LINE = 1 << 20
#: The longest entry line (ours are ~200 bytes; a path of PATH_MAX bytes, JSON-escaped
#: at 6 bytes per byte, fits).
MAX_ENTRY_LINE = 1 << 17
#: The largest manifest read whole (formats 1-2, any layout but the streamed one):
#: ~1,000,000 entries of format 2.
MAX_WHOLE_MANIFEST = 1 << 28


def path_key(rel: str) -> tuple[str, ...]:
    """Sort key of a relative path: by component, so ``a/x`` sorts before ``a.json``
    exactly as a depth-first walk of sorted directory listings visits them."""
    return tuple(rel.split("/"))


def _is_timestamp(value: float) -> bool:
    # restore sets this mtime with os.utime: NaN, inf and values beyond time_t would raise there
    if 0 <= value < 253402300800:  # 1970..9999: every real mtime, without building a datetime
        return True
    try:
        datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, ValueError, OSError):
        return False
    return True


def entry_problem(entry: Any) -> Optional[str]:
    """Why a manifest entry cannot be used, or ``None``: a forged or damaged entry is
    a :class:`BackupError` before anything is staged, not a crash halfway."""
    if not isinstance(entry, dict):
        return f"is {type(entry).__name__}, not an object"
    if not isinstance(entry.get("path"), str) or not entry["path"]:
        return "has no path (a non-empty string)"
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return f"has no valid size (got {size!r})"
    mtime = entry.get("mtime")
    if isinstance(mtime, bool) or not isinstance(mtime, (int, float)) or not _is_timestamp(mtime):
        return f"has no valid mtime (got {mtime!r})"
    if not isinstance(entry.get("sha256"), str):
        return "has no sha256"
    if "in" in entry and not isinstance(entry["in"], str):
        return f"names a holder that is not a backup id (got {entry['in']!r})"
    return None


class ManifestWriter:
    """Collects a backup's entries (in sorted order) in an anonymous spool file, then
    writes the manifest atomically: header first (with the counts), entries, ``]}``.

    The spool lives in the backup directory (``O_TMPFILE`` where available, so a
    killed run leaves nothing behind); memory stays the same whatever the file count.
    """

    def __init__(self, directory: str) -> None:
        self._spool = tempfile.TemporaryFile(dir=directory, prefix=TMP_PREFIX)
        self.file_count = self.referenced_count = self.total_bytes = 0
        self.depends_on: set[str] = set()
        self._last: Optional[tuple[str, ...]] = None

    def add(self, entry: dict[str, Any]) -> None:
        """Append one entry; entries must come strictly sorted by :func:`path_key`.

        Raises:
            ValueError: ``entry`` is out of order (a bug, never data).
            OSError: the spool could not be written (ENOSPC).
        """
        key = path_key(entry["path"])
        if self._last is not None and key <= self._last:
            raise ValueError(f"manifest entry {entry['path']!r} out of order")
        self._last = key
        if self.file_count:
            self._spool.write(b",\n")
        # ASCII escapes: a file name that is not UTF-8 (surrogate escapes) still round-trips
        self._spool.write(json.dumps(entry).encode("ascii"))
        self.file_count += 1
        self.total_bytes += entry["size"]
        if "in" in entry:
            self.referenced_count += 1
            self.depends_on.add(entry["in"])

    def commit(self, path: str, header: dict[str, Any], writer: Optional[Writer] = None) -> None:
        """Write the manifest to ``path`` (temp file, fsync, rename) with ``header``'s keys
        plus ``file_count``, ``referenced_count``, ``total_bytes`` and ``depends_on``.

        Raises:
            OSError: the write failed; nothing is left under ``path``.
        """
        head = dict(header, file_count=self.file_count, referenced_count=self.referenced_count,
                    total_bytes=self.total_bytes, depends_on=sorted(self.depends_on))
        with AtomicFile(path, writer=writer) as out:
            out.write(json.dumps(head).encode("ascii")[:-1] + _OPEN)
            self._spool.seek(0)
            while True:
                chunk = self._spool.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
            out.write((b"\n" if self.file_count else b"") + _CLOSE + b"\n")
        self.close()

    def close(self) -> None:
        """Drop the spool (done by :meth:`commit`; call it on failure)."""
        self._spool.close()


def read_header(path: str) -> tuple[dict[str, Any], bool]:
    """``(manifest, streamed)``: the header of a streamed (format 3) manifest, or the
    whole parsed document of any other one (``streamed`` False; it may not be a dict).

    A manifest is data, so what is read is bounded: the header line by
    :data:`MAX_HEADER_LINE`, a manifest read whole by :data:`MAX_WHOLE_MANIFEST`.

    Raises:
        FileNotFoundError, NotRegularFile, OSError: it cannot be read as a regular file.
        CorruptFile: it is not JSON, or it is larger than it may be.
    """
    fd, st = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        first = fh.readline(MAX_HEADER_LINE + 1)
        if first.endswith(_OPEN) and first.startswith(b"{"):
            head = parse_json_bytes(path, first[:-len(_OPEN)] + b"}")
            if isinstance(head, dict) and isinstance(head.get("format"), int) \
                    and head["format"] >= 3:
                return head, True
        return _read_whole(path, fh, st.st_size), False


def _read_whole(path: str, fh: Any, size: int) -> Any:
    # one document (formats 1-2): read from the descriptor already checked, at most
    # the cap + 1 bytes, so a file that grew past the cap since its fstat is refused too
    if size <= MAX_WHOLE_MANIFEST:
        fh.seek(0)
        raw = fh.read(MAX_WHOLE_MANIFEST + 1)
        if len(raw) <= MAX_WHOLE_MANIFEST:
            return parse_json_bytes(path, raw)
        size = len(raw)
    raise CorruptFile(path, f"a manifest of {size} bytes is larger than the "
                            f"{MAX_WHOLE_MANIFEST} bytes fbacache reads whole")


def load_manifest(path: str, bid: str) -> dict[str, Any]:
    """The whole manifest as one document, every entry checked (any layout).

    Raises:
        BackupError: the manifest is missing or corrupt.
    """
    try:
        fd, st = open_regular(path)
        with os.fdopen(fd, "rb") as fh:
            m = _read_whole(path, fh, st.st_size)
    except (OSError, CorruptFile) as exc:
        raise BackupError(f"manifest of {bid} unreadable: {exc}") from exc
    if not isinstance(m, dict) or not isinstance(m.get("files"), list):
        raise BackupError(f"manifest of {bid} has no file list")
    for i, entry in enumerate(m["files"]):
        problem = entry_problem(entry)
        if problem:
            raise BackupError(f"manifest of {bid}: files[{i}] {problem}")
    return m


def iter_entries(path: str, bid: str) -> Iterator[dict[str, Any]]:
    """Every file entry of the manifest at ``path``, checked, strictly sorted by
    :func:`path_key`. A streamed manifest is read one line at a time; any other is
    loaded whole and sorted.

    Raises (while iterating):
        BackupError: the manifest is unreadable, damaged, out of order, or holds a
            path twice; entries already yielded were valid.
    """
    try:
        head, streamed = read_header(path)
    except (OSError, CorruptFile) as exc:
        raise BackupError(f"manifest of {bid} unreadable: {exc}") from exc
    if not streamed:
        files = load_manifest(path, bid)["files"]
        files.sort(key=lambda e: path_key(e["path"]))
        yield from _checked_order(iter(files), bid)
        return
    yield from _checked_order(_stream(path, bid, head), bid)


def _checked_order(entries: Iterator[dict[str, Any]], bid: str) -> Iterator[dict[str, Any]]:
    last: Optional[tuple[str, ...]] = None
    for i, e in enumerate(entries):
        key = path_key(e["path"])
        if last is not None and key <= last:
            why = "is listed twice" if key == last else "is out of order"
            raise BackupError(f"manifest of {bid}: files[{i}] {e['path']!r} {why}")
        last = key
        yield e


def _stream(path: str, bid: str, head: dict[str, Any]) -> Iterator[dict[str, Any]]:
    count = head.get("file_count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise BackupError(f"manifest of {bid} has no valid file_count")
    try:
        fd, _ = open_regular(path)
    except OSError as exc:
        raise BackupError(f"manifest of {bid} unreadable: {exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        fh.readline(MAX_HEADER_LINE + 1)  # the header, already parsed
        n, comma = 0, True
        while True:
            line = fh.readline(MAX_ENTRY_LINE + 1)
            if not line:
                break
            if len(line) > MAX_ENTRY_LINE:
                raise BackupError(f"manifest of {bid}: files[{n}] is longer than "
                                  f"{MAX_ENTRY_LINE} bytes")
            body = line.rstrip(b"\n")
            if body == _CLOSE:
                if n and comma:  # "E,\n]}": a trailing comma is not JSON
                    break
                if fh.read(1):
                    raise BackupError(f"manifest of {bid}: data after the end of the file list")
                if n != count:
                    raise BackupError(f"manifest of {bid} lists {n} file(s); its header says {count}")
                return
            if not comma:  # the previous entry had no comma: this line must have been "]}"
                break
            comma = body.endswith(b",")
            try:
                entry = parse_json_bytes(path, body[:-1] if comma else body)
            except CorruptFile as exc:
                raise BackupError(f"manifest of {bid}: files[{n}] {exc}") from exc
            problem = entry_problem(entry)
            if problem:
                raise BackupError(f"manifest of {bid}: files[{n}] {problem}")
            n += 1
            yield entry
    raise BackupError(f"manifest of {bid} is truncated or damaged after files[{n}]")
