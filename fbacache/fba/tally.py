"""Count one cache directory for ``metrics`` at the cost of ``du``: no Python object per file.

:func:`tally_dir` walks the same files as :func:`~fbacache.fba.scan.scan_dir` (symlinks
counted, never followed; hidden and results directories not entered; FIFOs, sockets and
devices counted, never opened) and sorts them the same way, but keeps counters only:

* each directory is opened once (``O_DIRECTORY``; below the top also ``O_NOFOLLOW``) and its
  files are ``lstat``-ed relative to that descriptor (``fstatat``), as ``du`` does, so the
  kernel does not walk the whole path again for every file;
* only entries are ``stat``-ed (their size and age are what ``metrics`` reports);
* an entry is recognised by one regular expression per file (the type's naming pattern,
  guarded against hidden and results names); every other name goes through
  :func:`~fbacache.fba.scan.classify` itself, so the two cannot disagree.

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

import os
import re
from typing import Iterable, Optional

from fbacache.fba.scan import _GENERIC_ENTRY, _PROTECTED, _RESULTS_DIRS, _RESULTS_NAME, \
    ENTRY_PATTERNS, classify, is_temp_name

__all__ = ["Tally", "tally_dir"]

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_SUBDIR_FLAGS = _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0)
# scandir(fd) + DirEntry.stat() is fstatat(fd, name); without it, paths as scan_dir uses
_BY_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY")
_FAST: dict[str, re.Pattern[str]] = {}
# every name _PROTECTED matches ends so: a str test spares most expired entries the regex
_PROTECTED_ENDS = ("linking_map.json", "_ai_category_cache.json", "_processing_state.json")


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
            between the listing and its ``lstat``.
    """
    fast = _entry_regex(cache_type).match
    protected = _PROTECTED.match
    skip = {os.path.normpath(p) for p in exclude}
    out = Tally()
    n = size = expired = other = links = special = 0
    oldest, newest = float("inf"), float("-inf")
    check_age = ttl is not None
    ttl_s = 0.0 if ttl is None else ttl
    stack = [(directory, _DIR_FLAGS)]
    while stack:
        current, flags = stack.pop()
        fd = -1
        try:
            if _BY_FD:
                fd = os.open(current, flags)
                it = os.scandir(fd)
            else:  # pragma: no cover - platforms without scandir(fd): paths, as scan_dir
                it = os.scandir(current)
        except BaseException as exc:
            if fd >= 0:
                os.close(fd)
            if isinstance(exc, FileNotFoundError):
                continue  # vanished since its parent was listed (or never existed)
            raise
        try:
            with it:
                for de in it:
                    # regular files first: nearly every entry is one, and a symlink is
                    # never one (follow_symlinks=False reads the entry's own type)
                    if de.is_file(follow_symlinks=False):
                        name = de.name
                        if fast(name) is None:
                            if name[0] == "." and not is_temp_name(name):
                                continue  # lock files and other hidden bookkeeping
                            # results are counted nowhere; a name that is neither
                            # results nor temp and still an entry does not exist here
                            kind = classify(cache_type, name)[0]
                            if kind == "other" or kind == "temp":
                                other += 1
                            elif kind == "entry":  # pragma: no cover - fast() matched it
                                raise AssertionError(f"{name}: entry missed by the fast path")
                            continue
                        st = de.stat(follow_symlinks=False)
                        n += 1
                        size += st.st_size
                        mt = st.st_mtime
                        if mt < oldest:
                            oldest = mt
                        if mt > newest:
                            newest = mt
                        if check_age and now - mt > ttl_s and not (
                                keep_protected and name.endswith(_PROTECTED_ENDS)
                                and protected(name)):
                            expired += 1
                    elif de.is_dir(follow_symlinks=False):
                        name = de.name
                        if name[0] == "." or name in _RESULTS_DIRS:
                            continue
                        path = os.path.join(current, name)
                        if skip and os.path.normpath(path) in skip:
                            continue
                        stack.append((path, _SUBDIR_FLAGS))
                    elif de.is_symlink():
                        links += 1
                    else:
                        # a FIFO would block whoever opens it; count it, never open it
                        try:
                            de.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        special += 1
        finally:
            if fd >= 0:
                os.close(fd)
    out.entries, out.size, out.expired, out.other = n, size, expired, other
    out.symlinks, out.special = links, special
    if n:
        out.oldest, out.newest = oldest, newest
    return out
