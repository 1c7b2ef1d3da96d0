"""Crash-safe file primitives: atomic replace, durable moves, strict JSON reads.

Every write goes to a temporary file in the destination's own directory (so the
final ``rename`` never crosses a filesystem), is ``fsync``-ed, renamed over the
target, and then the directory itself is ``fsync``-ed so the rename survives a
power cut. A reader therefore sees the old file or the new file, never a torn
one. A failed write (``ENOSPC``, ``EACCES``...) removes its temporary file and
leaves the target untouched.

The ``writer`` parameter is the seam for fault injection: a callable
``writer(fd, chunk)`` that must write the whole chunk or raise ``OSError``.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> atomic_write_json(os.path.join(d, "x.json"), {"a": 1})
    >>> read_json(os.path.join(d, "x.json"))
    {'a': 1}
"""
from __future__ import annotations

import errno
import json
import os
from typing import Any, Callable, Optional, cast

from fbacache.errors import CorruptFile
from fbacache.fba.safe import open_regular, read_regular

__all__ = [
    "TMP_PREFIX", "Writer", "AtomicFile", "atomic_write_bytes", "atomic_write_json",
    "default_writer", "fsync_dir", "move_file", "copy_file_atomic", "read_json", "is_temp_name",
    "parse_json_bytes", "fast_json",
]

#: Prefix of every temporary file this module creates (``optimize`` removes stale ones).
TMP_PREFIX = ".fbacache-tmp-"

Writer = Callable[[int, bytes], None]


def default_writer(fd: int, chunk: bytes) -> None:
    """Write all of ``chunk`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(chunk)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def is_temp_name(name: str) -> bool:
    """True for names of temporary files created by :class:`AtomicFile`."""
    return name.startswith(TMP_PREFIX)


def fsync_dir(path: str) -> None:
    """``fsync`` a directory so renames and unlinks inside it are durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A write-only file that replaces ``path`` atomically when closed without error.

    Use as a context manager; an exception inside the block discards the
    temporary file and leaves ``path`` as it was.
    """

    def __init__(self, path: str, *, writer: Optional[Writer] = None,
                 mode: int = 0o644, mtime: Optional[float] = None) -> None:
        self.path = path
        self._writer = writer or default_writer
        self._mtime = mtime
        directory, name = os.path.split(os.path.abspath(path))
        self._dir = directory
        self.tmp = os.path.join(directory, f"{TMP_PREFIX}{name[:80]}-{os.urandom(4).hex()}")
        try:
            mode = os.stat(path).st_mode & 0o7777  # keep the permissions of the file we replace
        except OSError:
            pass
        self._fd: Optional[int] = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        self.bytes_written = 0

    def write(self, chunk: bytes) -> int:
        """Write ``chunk`` through the writer seam; returns its length."""
        if self._fd is None:
            raise ValueError("write to a closed AtomicFile")
        if chunk:
            self._writer(self._fd, bytes(chunk))
            self.bytes_written += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        """No buffering here; present for file-object compatibility."""

    def commit(self) -> None:
        """fsync, rename over the target and fsync the directory."""
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._mtime is not None:
            os.utime(self.tmp, (self._mtime, self._mtime))
        os.replace(self.tmp, self.path)
        fsync_dir(self._dir)

    def discard(self) -> None:
        """Drop the temporary file; the target is untouched."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()


def atomic_write_bytes(path: str, data: bytes, *, writer: Optional[Writer] = None,
                       mtime: Optional[float] = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Raises:
        OSError: the write failed; ``path`` still holds its previous content.
    """
    with AtomicFile(path, writer=writer, mtime=mtime) as fh:
        fh.write(data)


def atomic_write_json(path: str, value: Any, *, writer: Optional[Writer] = None,
                      indent: Optional[int] = 2) -> None:
    """Serialise ``value`` as UTF-8 JSON and write it with :func:`atomic_write_bytes`."""
    data = json.dumps(value, indent=indent, ensure_ascii=False).encode("utf-8")
    atomic_write_bytes(path, data, writer=writer)


def read_json(path: str) -> Any:
    """Parse a JSON file strictly; symlinks, FIFOs and devices are never opened.

    Raises:
        FileNotFoundError: the file does not exist (the only "absent" case).
        CorruptFile: the file exists but is empty, not UTF-8 or not JSON. It is
            never returned as an empty value.
        NotRegularFile: (a ``CorruptFile``) ``path`` is a symlink, FIFO or device.
    """
    return parse_json_bytes(path, read_regular(path))


def _fast_decoder() -> Optional[Callable[[bytes], Any]]:
    # msgspec (the optional `fast` extra) parses ~2x faster than the stdlib; it is only a
    # fast path for files it accepts: anything it refuses is judged by the stdlib below,
    # so verdicts and messages are the stdlib's (NaN literals, huge ints, deep nesting)
    if os.environ.get("FBACACHE_JSON") == "stdlib":
        return None
    try:
        import msgspec
    except ImportError:
        return None
    return cast(Callable[[bytes], Any], msgspec.json.Decoder().decode)


_UNSET: Any = object()
_FAST: Any = _UNSET  # chosen on first use: `metrics` never parses and never imports msgspec


def fast_json() -> bool:
    """True when :func:`parse_json_bytes` uses msgspec (installed, ``FBACACHE_JSON`` unset)."""
    global _FAST
    if _FAST is _UNSET:
        _FAST = _fast_decoder()
    return _FAST is not None


def parse_json_bytes(path: str, raw: bytes) -> Any:
    """Decode ``raw`` (the content of ``path``) as JSON; raises :class:`CorruptFile`.

    Uses msgspec when installed (``pip install fbacache[fast]``) for files it accepts;
    the result equals ``json.loads``'s, and every refusal is the stdlib's verdict.
    """
    if not raw.strip():
        raise CorruptFile(path, "empty file")
    if _FAST is _UNSET:
        fast_json()
    if _FAST is not None and not raw.startswith(b"\xef\xbb\xbf"):
        try:
            return _FAST(raw)
        except Exception:  # noqa: BLE001 - any refusal goes to the stdlib for its verdict
            pass
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise CorruptFile(path, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:
        raise CorruptFile(path, f"invalid JSON: {exc}") from None
    except RecursionError:
        # the decoder recurses per nesting level: a file nested this deep is damage, not data
        raise CorruptFile(path, "nested too deeply") from None


def copy_file_atomic(src: str, dst: str, *, writer: Optional[Writer] = None,
                     chunk_size: int = 1 << 20) -> None:
    """Copy ``src`` to ``dst`` through a temp file + rename; keeps ``src``'s mtime."""
    fd, st = open_regular(src)  # never copy what a symlink or FIFO put in src's place
    with os.fdopen(fd, "rb") as fin, AtomicFile(dst, writer=writer, mtime=st.st_mtime) as fout:
        while True:
            chunk = fin.read(chunk_size)
            if not chunk:
                break
            fout.write(chunk)


def move_file(src: str, dst: str, *, writer: Optional[Writer] = None) -> None:
    """Move a file durably, creating ``dst``'s parent directories.

    Same filesystem: one ``rename`` (atomic). Across filesystems: an atomic copy,
    then the source is unlinked, so a crash in between leaves two copies, never none.
    """
    parent = os.path.dirname(dst)
    os.makedirs(parent, exist_ok=True)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "destination exists", dst)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_file_atomic(src, dst, writer=writer)
        os.unlink(src)
    fsync_dir(parent)
    fsync_dir(os.path.dirname(os.path.abspath(src)))
