"""Safe filesystem primitives: the one place that decides what may be opened, created or named.

Everything on disk below a cache root is data, not instructions: a cache file,
a backup manifest or an archive member may have been written by anyone who can
write there. Three rules follow, and every verb of ``maintain`` and the
filesystem backend go through the functions here to apply them:

* **Open only regular files, never through a final symlink** (:func:`open_regular`).
  The file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat``
  on the opened descriptor, so a FIFO cannot block the reader, a device is never
  read, and the size checked is the size of the file actually being read.
* **A path taken from data stays in its directory** (:func:`confine`): no
  absolute paths, no ``..``, no NUL, no empty components.
* **Tool directories are real directories** (:func:`make_dirs`, :func:`real_dir`):
  every component from a trusted *anchor* (the root the operator named) down to
  the directory is opened with ``O_NOFOLLOW``; a symlink anywhere on the way is
  :class:`~fbacache.errors.UnsafePath`, never followed.

What is not covered: an attacker racing the tool *between* a check and the
``rename``/``unlink`` that follows it (see docs/threat-model.md in the sdist).

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> confine(d, "sub/x.json") == os.path.join(d, "sub", "x.json")
    True
    >>> confine(d, "../x")
    Traceback (most recent call last):
    ...
    fbacache.errors.UnsafePath: path '../x' from data escapes its directory
    >>> make_dirs(os.path.join(d, "a", "b"), d) == os.path.join(d, "a", "b")
    True
    >>> real_dir(os.path.join(d, "a", "b"), d), real_dir(os.path.join(d, "nope"), d)
    (True, False)
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from fbacache.errors import NotRegularFile, UnsafePath

__all__ = [
    "open_regular", "read_regular", "read_sized", "read_bounded", "confine", "within", "anchor_for",
    "make_dirs", "real_dir", "describe_mode",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CHUNK = 1 << 20


def describe_mode(mode: int) -> str:
    """A word for a non-regular file type (``'FIFO'``, ``'socket'``...), for messages."""
    for test, word in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symlink")):
        if test(mode):
            return word
    return "special file"


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only if, and only if, it is a regular file; returns ``(fd, fstat)``.

    The caller closes the descriptor. ``O_NONBLOCK`` makes opening a FIFO return
    at once (it would otherwise wait for a writer forever); the type check is
    then made on the opened descriptor, so nothing can be swapped in between.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotRegularFile: ``path`` is a symlink, FIFO, socket, device or directory.
        OSError: any other failure to open (permission denied...).
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(path, "is a symlink; not followed") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a socket / a directory
            raise NotRegularFile(path, "is not a regular file; not opened") from None
        raise
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(path, f"is a {describe_mode(st.st_mode)}, not a regular file; "
                                   "not read")
    return fd, st


def read_bounded(fd: int, limit: Optional[int] = None) -> Optional[bytes]:
    """Read ``fd`` to its end, or ``None`` as soon as more than ``limit`` bytes arrive.

    At most ``limit + 1`` bytes are ever read, whatever the file claims or grows to.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        want = _CHUNK if limit is None else min(_CHUNK, limit + 1 - total)
        chunk = os.read(fd, want)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            return None


def read_sized(fd: int, size: int) -> bytes:
    """Read ``fd`` to its end, given its ``fstat`` size: one ``os.read`` in the common case.

    Asks for ``size + 1`` bytes: getting exactly ``size`` means the whole file was read
    (a regular file returns fewer bytes than asked only at its end); getting more (the
    file grew) or fewer (it shrank, or a short read) reads on to the real end, so the
    result is always the whole content, never a cut-off copy.
    """
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    rest = read_bounded(fd)
    assert rest is not None
    return data + rest


def read_regular(path: str) -> bytes:
    """The content of the regular file ``path`` (see :func:`open_regular` for what is refused)."""
    fd, st = open_regular(path)
    try:
        return read_sized(fd, st.st_size)
    finally:
        os.close(fd)


def within(path: str, directory: str) -> bool:
    """True when ``path`` is ``directory`` or below it, compared lexically (no symlinks resolved)."""
    p, d = os.path.abspath(path), os.path.abspath(directory)
    return p == d or p.startswith(d.rstrip(os.sep) + os.sep)


def confine(directory: str, rel: object, *, what: str = "path") -> str:
    """Join a relative path read from data (a manifest, an archive) to ``directory``, or refuse.

    ``rel`` uses ``/`` as separator. Absolute paths, ``..``, ``.``, empty
    components, backslashes and NUL are refused rather than normalised away, so
    what is checked is exactly what is used.

    Raises:
        UnsafePath: ``rel`` is not a string or would not stay inside ``directory``.
    """
    if not isinstance(rel, str) or not rel:
        raise UnsafePath(f"{what} {rel!r} from data is not a relative path")
    parts = rel.split("/")
    if rel.startswith("/") or "\0" in rel or "\\" in rel \
            or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"{what} {rel!r} from data escapes its directory")
    return os.path.join(directory, *parts)


def anchor_for(tool_dir: str, root: str) -> str:
    """Where symlink checks of ``tool_dir`` start: the root when it lies inside it, else itself.

    The anchor is trusted as the operator named it; every component below it is checked.
    """
    return os.path.abspath(root) if within(tool_dir, root) else os.path.abspath(tool_dir)


def _components(path: str, anchor: str) -> list[str]:
    if not within(path, anchor):
        raise UnsafePath(f"{path} is outside {anchor}")
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(anchor))
    return [] if rel == "." else rel.split(os.sep)


def _walk(path: str, anchor: str, create: bool) -> bool:
    parts = _components(path, anchor)
    if create:
        os.makedirs(anchor, exist_ok=True)  # the anchor itself is trusted as named
    try:
        fd = os.open(anchor, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                nfd = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                return False
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(f"{os.path.join(anchor, *parts)}: component {part!r} is a "
                                     f"symlink or not a directory; not followed") from None
                raise
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    return True


def make_dirs(path: str, anchor: str) -> str:
    """Create ``path`` (like ``os.makedirs``) without following any symlink below ``anchor``.

    Returns ``path``. Each component is created with ``mkdir`` relative to its
    parent's descriptor and re-opened with ``O_NOFOLLOW``.

    Raises:
        UnsafePath: ``path`` is outside ``anchor``, or a component is a symlink or a file.
    """
    _walk(path, anchor, create=True)
    return path


def real_dir(path: str, anchor: str) -> bool:
    """True if ``path`` exists as a chain of real directories below ``anchor``; False if absent.

    Raises:
        UnsafePath: a component below ``anchor`` is a symlink or not a directory.
    """
    return _walk(path, anchor, create=False)
