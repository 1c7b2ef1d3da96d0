"""Count one cache directory for ``metrics`` at the cost of ``du``: no Python object per file.

:func:`tally_dir` walks the same files as :func:`~fbacache.fba.scan.scan_dir` (symlinks
counted, never followed; hidden and results directories not entered; FIFOs, sockets and
devices counted, never opened) and sorts them the same way, but keeps counters only:

* the top directory is opened by path, each sub-directory relative to its parent's
  descriptor with ``O_NOFOLLOW``, and files are ``lstat``-ed relative to their directory's
  descriptor (``fstatat``), as ``du`` does: the kernel does not walk the path again for
  every file, and a directory renamed or swapped for a symlink after its parent was listed
  cannot lead the walk out of the tree (a sub-directory that is gone or no longer a
  directory when it is reached counts nothing, like one deleted);
* only entries are ``stat``-ed (their size and age are what ``metrics`` reports);
* an entry is recognised by one regular expression per file (the type's naming pattern,
  guarded against hidden and results names); every other name goes through
  :func:`~fbacache.fba.scan.classify` itself, so the two cannot disagree.

The loop has two implementations with the same arguments and results: the compiled
``fbacache.fba._tally_c.walk`` (``readdir`` and ``fstatat`` from C, counters in C; built
with the compiled core where a C compiler is found, on POSIX systems) and :func:`_walk_py`
here, the reference twin, used when the extension is absent or ``FBACACHE_NO_EXTENSIONS=1``
(``FBACACHE_REQUIRE_EXTENSIONS=1``: a missing extension is an ``ImportError``).
:data:`IMPLEMENTATION` says which one runs. Each holds one descriptor per directory level
being walked (as ``nftw`` does).

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("amazon_B0X.json", "notes.txt", "fba_summary_1.json"):
    ...     open(os.path.join(d, name), "w").close()
    >>> t = tally_dir("amazon_cache", d)
    >>> t.entries, t.other, t.expired
    (1, 1, 0)
"""
from __future__ import annotations

import errno
import importlib
import os
import re
import sys
from typing import Callable, Collection, Iterable, Optional

from fbacache.fba.scan import _GENERIC_ENTRY, _PROTECTED, _RESULTS_DIRS, _RESULTS_NAME, \
    ENTRY_PATTERNS, classify, is_temp_name

__all__ = ["IMPLEMENTATION", "Tally", "tally_dir"]

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_SUBDIR_FLAGS = _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0)
# scandir(fd) + DirEntry.stat() is fstatat(fd, name), open(name, dir_fd=) is openat; without
# them (Windows), paths as scan_dir uses
_BY_FD = (os.scandir in os.supports_fd and os.open in os.supports_dir_fd
          and hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW"))
# a sub-directory opened after its parent was listed: gone, replaced by a file or a symlink
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
_FAST: dict[str, re.Pattern[str]] = {}
# every name _PROTECTED matches ends so: a str test spares most expired entries the regex
_PROTECTED_ENDS = ("linking_map.json", "_ai_category_cache.json", "_processing_state.json")

#: ``(entries, size, expired, other, symlinks, special, oldest mtime, newest mtime)``
Figures = tuple[int, int, int, int, int, int, Optional[float], Optional[float]]
Walker = Callable[[int, str, Callable[[str], object], Callable[[str], bool],
                   Optional[Callable[[str], bool]], Collection[str], Optional[float], float,
                   Optional[Callable[[str], object]], tuple[str, ...]], Figures]


def _entry_regex(cache_type: str) -> re.Pattern[str]:
    """A name this matches is an entry by :func:`classify`: the type's pattern (every one
    ends in ``.json``, so no results extension and no ``.tmp``), not hidden (so not a temp
    file), not a results name."""
    fast = _FAST.get(cache_type)
    if fast is None:
        pattern = ENTRY_PATTERNS.get(cache_type, _GENERIC_ENTRY).pattern
        if not pattern.endswith(r"\.json\Z"):  # pragma: no cover - every pattern does today
            raise AssertionError(f"{cache_type}: entry pattern must end in .json")
        fast = _FAST[cache_type] = re.compile(rf"(?!\.|{_RESULTS_NAME.pattern})(?:{pattern})")
    return fast


class Tally:
    """What :func:`tally_dir` counted (ages as mtimes; ``oldest``/``newest`` are ``None``
    when there is no entry)."""

    __slots__ = ("entries", "size", "oldest", "newest", "expired", "other", "symlinks",
                 "special")

    def __init__(self) -> None:
        self.entries = self.size = self.expired = self.other = 0
        self.symlinks = self.special = 0
        self.oldest: Optional[float] = None
        self.newest: Optional[float] = None


def tally_dir(cache_type: str, directory: str, *, exclude: Iterable[str] = (),
              ttl: Optional[float] = None, now: float = 0.0,
              keep_protected: bool = True) -> Tally:
    """Count the files below ``directory`` as ``metrics`` reports them.

    ``entries``, ``size`` and the mtimes cover entries of ``cache_type``; ``expired``
    counts entries with ``now - mtime > ttl`` (none when ``ttl`` is ``None``; protected
    ones only when ``keep_protected`` is false); ``other`` counts temp and unrecognised
    files (results files are not counted); ``symlinks`` and ``special`` what was skipped.
    A missing ``directory`` counts nothing; directories in ``exclude`` are not entered.

    Raises:
        OSError: ``directory`` (or a sub-directory) cannot be read, an entry vanished
            between the listing and its ``lstat`` (the exception names the path).
    """
    skipped = {os.path.normpath(p) for p in exclude}

    def skip(path: str) -> bool:
        return os.path.normpath(path) in skipped

    def other(name: str) -> bool:
        return _counts_as_other(cache_type, name)

    out = Tally()
    try:
        fd = os.open(directory, _DIR_FLAGS) if _BY_FD else -1
    except FileNotFoundError:
        return out  # never existed, or vanished
    try:
        figures = _walk(fd, directory, _entry_regex(cache_type).match, other,
                        skip if skipped else None, _RESULTS_DIRS, ttl, now,
                        _PROTECTED.match if keep_protected else None, _PROTECTED_ENDS)
    finally:
        if fd >= 0:
            os.close(fd)
    (out.entries, out.size, out.expired, out.other, out.symlinks, out.special, out.oldest,
     out.newest) = figures
    return out


def _counts_as_other(cache_type: str, name: str) -> bool:
    """Whether a regular file that is not an entry counts in ``other`` (temp and unknown
    files do; hidden bookkeeping and results do not): both walkers ask this."""
    if name[0] == "." and not is_temp_name(name):
        return False  # lock files and other hidden bookkeeping
    # results are counted nowhere; a name that is neither results nor temp and still an
    # entry does not exist here (the fast match took it)
    kind = classify(cache_type, name)[0]
    if kind == "entry":  # pragma: no cover - the fast match took it
        raise AssertionError(f"{name}: entry missed by the fast path")
    return kind == "other" or kind == "temp"


def _walk_py(top_fd: int, top: str, fast: Callable[[str], object],
             other: Callable[[str], bool], skip: Optional[Callable[[str], bool]],
             results_dirs: Collection[str], ttl: Optional[float], now: float,
             shielded: Optional[Callable[[str], object]], ends: tuple[str, ...]) -> Figures:
    """The reference walker: count the tree below the directory open as ``top_fd`` (named
    ``top``; left open; ``-1``: by path).

    ``fast(name)`` is not ``None`` for an entry; ``other(name)`` says whether any other
    regular file counts as other; ``skip(path)`` whether a sub-directory is not entered
    (``None``: none is); ``results_dirs`` the names never entered; entries older than
    ``ttl`` at ``now`` are expired unless ``shielded(name)`` matches a name ending in one
    of ``ends``. Returns the figures of :data:`Figures` (mtimes ``None`` without entries).
    """
    totals = [0, 0, 0, 0, 0, 0]
    oldest, newest = float("inf"), float("-inf")
    # one frame per directory level being walked: its descriptor, path, sub-directories left
    frames: list[tuple[int, str, list[str]]] = []
    try:
        fd, path = top_fd, top
        while True:
            frames.append((fd, path, []))
            *counts, old, new, subdirs = _listing(fd, path, fast, other, skip, results_dirs,
                                                  ttl, now, shielded, ends)
            frames[-1] = (fd, path, subdirs)
            totals = [a + b for a, b in zip(totals, counts)]
            oldest, newest = min(oldest, old), max(newest, new)
            fd = -2
            while frames and fd == -2:
                parent, parent_path, pending = frames[-1]
                if not pending:
                    frames.pop()
                    if parent >= 0 and parent != top_fd:
                        os.close(parent)
                    continue
                name = pending.pop()
                path = os.path.join(parent_path, name)
                fd = _open_sub(parent, name, path)
            if fd == -2:
                break
    finally:
        for parent, _, _ in frames:
            if parent >= 0 and parent != top_fd:
                os.close(parent)
    n, size, expired, others, links, special = totals
    if not n:
        return n, size, expired, others, links, special, None, None
    return n, size, expired, others, links, special, oldest, newest


def _open_sub(parent: int, name: str, path: str) -> int:
    """The descriptor of sub-directory ``name`` of ``parent`` (``-1`` without descriptors:
    it is read by ``path``), or ``-2`` when it is gone or no longer a directory."""
    if parent < 0:
        return -1
    try:
        return os.open(name, _SUBDIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in _GONE:
            return -2
        raise OSError(exc.errno, exc.strerror, path) from None


def _listing(fd: int, path: str, fast: Callable[[str], object], other: Callable[[str], bool],
             skip: Optional[Callable[[str], bool]], results_dirs: Collection[str],
             ttl: Optional[float], now: float, shielded: Optional[Callable[[str], object]],
             ends: tuple[str, ...]
             ) -> tuple[int, int, int, int, int, int, float, float, list[str]]:
    """Count the files of one directory; its sub-directories to enter come last."""
    n = size = expired = others = links = special = 0
    oldest, newest = float("inf"), float("-inf")
    check_age = ttl is not None
    ttl_s = 0.0 if ttl is None else ttl
    subdirs: list[str] = []
    try:
        it = os.scandir(fd if fd >= 0 else path)
    except FileNotFoundError:
        if fd >= 0:
            raise
        # by path (no descriptors): vanished since its parent was listed
        return n, size, expired, others, links, special, oldest, newest, subdirs
    with it:
        for de in it:
            # regular files first: nearly every entry is one, and a symlink is never one
            # (follow_symlinks=False reads the entry's own type)
            if de.is_file(follow_symlinks=False):
                name = de.name
                if fast(name) is None:
                    if other(name):
                        others += 1
                    continue
                try:
                    st = de.stat(follow_symlinks=False)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, os.path.join(path, name)) from None
                n += 1
                size += st.st_size
                mt = st.st_mtime
                if mt < oldest:
                    oldest = mt
                if mt > newest:
                    newest = mt
                if check_age and now - mt > ttl_s and not (
                        shielded is not None and name.endswith(ends) and shielded(name)):
                    expired += 1
            elif de.is_dir(follow_symlinks=False):
                name = de.name
                if name[0] == "." or name in results_dirs:
                    continue
                if skip is not None and skip(os.path.join(path, name)):
                    continue
                subdirs.append(name)
            elif de.is_symlink():
                links += 1
            else:
                # a FIFO would block whoever opens it; count it, never open it
                try:
                    de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, os.path.join(path, de.name)) from None
                special += 1
    return n, size, expired, others, links, special, oldest, newest, subdirs


def _compiled() -> Optional[Walker]:
    """The compiled walker, or ``None`` (not built, or the twin asked for)."""
    if os.environ.get("FBACACHE_NO_EXTENSIONS"):
        return None
    try:
        # by name: type checkers read no extension module (and see the twin's signature)
        compiled = importlib.import_module("fbacache.fba._tally_c")
    except ImportError:
        # it is built wherever the core is, except on Windows (no openat/fdopendir there)
        if os.environ.get("FBACACHE_REQUIRE_EXTENSIONS", "") not in ("", "0") \
                and sys.platform != "win32":
            raise
        return None
    if not _BY_FD:  # pragma: no cover - it is built only where openat and fdopendir are
        return None
    walk: Walker = compiled.walk
    return walk


_walk_c = _compiled()
#: The walker in use: ``_walk_c`` (the compiled one) when it loaded, else the twin.
_walk: Walker = _walk_c if _walk_c is not None else _walk_py
#: ``"c"`` when ``tally_dir`` runs the compiled walker, ``"py"`` when it runs the twin.
IMPLEMENTATION = "c" if _walk_c is not None else "py"
