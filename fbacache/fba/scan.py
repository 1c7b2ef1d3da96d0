"""Walk one cache directory and classify every file, without following symlinks.

Classification is by name (the FBA layout; docs/maintain.md in the sdist):

* ``entry``   a cache file of the directory's type (``amazon_*.json`` ...);
* ``results`` FBA results (``fba_summary_*``, financial reports...): never matched by anything;
* ``temp``    a temporary file (``.fbacache-tmp-*``, ``*.tmp``);
* ``symlink`` a symbolic link: reported, never followed, never acted on;
* ``special`` a FIFO, socket or device: reported, never opened, never acted on;
* ``other``   anything else (old-tool ``.backup_<epoch>`` copies, notes...).

``protected`` marks the system's memory (linking map, ai category cache,
processing states): no clearing strategy deletes those. Hidden directories
(the tool's own staging, locks) and nested configured directories are skipped.

Example:
    >>> classify("amazon_cache", "amazon_B08B1P9KWC_5053249240312.json")
    ('entry', False)
    >>> classify("amazon_cache", "fba_summary_x_20250603_155225.json")
    ('results', False)
"""
from __future__ import annotations

import os
import re
from stat import S_ISDIR, S_ISLNK, S_ISREG
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from fbacache.errors import UnsafePath
from fbacache.fba.atomic import is_temp_name

__all__ = ["FileInfo", "classify", "scan_dir", "guard_path", "is_results_path", "ENTRY_PATTERNS"]

#: Which file names hold entries of each cache type.
ENTRY_PATTERNS = {
    "supplier_cache": re.compile(r".+_products_cache\.json\Z"),
    "amazon_cache": re.compile(r"amazon_[^/]+\.json\Z"),
    "ai_category_cache": re.compile(r".+_ai_category_cache\.json\Z"),
    "linking_map": re.compile(r"linking_map\.json\Z"),
}
_GENERIC_ENTRY = re.compile(r".+\.json\Z")
_PROTECTED = re.compile(r"(linking_map\.json|.+_ai_category_cache\.json|.+_processing_state\.json)\Z")
_RESULTS_NAME = re.compile(r"(fba_summary_|fba_profitable_finds_|fba_financial_report_|combined-data)")
_RESULTS_DIRS = {"financial_reports", "homepage_analysis", "New folder"}
_RESULTS_EXT = (".csv", ".xlsx", ".html", ".png")


@dataclass
class FileInfo:
    """One regular file (or symlink, or special file) found under a cache directory."""

    path: str
    rel: str
    size: int
    mtime: float
    kind: str
    protected: bool

    def age(self, now: float) -> float:
        """Seconds since the last modification (never negative)."""
        return max(0.0, now - self.mtime)


def is_results_path(rel: str) -> bool:
    """True for FBA results (summaries, financial reports...), which no operation may touch."""
    parts = rel.replace(os.sep, "/").split("/")
    if any(p in _RESULTS_DIRS for p in parts[:-1]):
        return True
    name = parts[-1]
    return bool(_RESULTS_NAME.match(name)) or name.lower().endswith(_RESULTS_EXT)


def _plain_entry(cache_type: str) -> re.Pattern[str]:
    # one match for the common case, an unprotected entry at the top of the directory: the
    # type's pattern (all end in .json: no results extension, no .tmp), not hidden (so not a
    # temp file), not a results name, not a protected name
    fast = _PLAIN.get(cache_type)
    if fast is None:
        pattern = ENTRY_PATTERNS.get(cache_type, _GENERIC_ENTRY).pattern
        assert pattern.endswith(r"\.json\Z"), pattern
        fast = _PLAIN[cache_type] = re.compile(
            rf"(?!\.|{_RESULTS_NAME.pattern}|{_PROTECTED.pattern})(?:{pattern})")
    return fast


_PLAIN: dict[str, re.Pattern[str]] = {}


def classify(cache_type: str, rel: str) -> tuple[str, bool]:
    """Return ``(kind, protected)`` for a path relative to a ``cache_type`` directory."""
    if "/" not in rel and os.sep not in rel and _plain_entry(cache_type).match(rel):
        return "entry", False  # what _classify says, in one match (validate's 48k files)
    return _classify(cache_type, rel)


def _classify(cache_type: str, rel: str) -> tuple[str, bool]:
    # the rules in full (the sdist's tests/fba/test_scan_classify.py holds classify equal)
    if "/" in rel or os.sep in rel:
        name = os.path.basename(rel)
        if is_results_path(rel):
            return "results", bool(_PROTECTED.match(name))
    else:  # a file at the top of the directory (most of them): no directory part to check
        name = rel
        if _RESULTS_NAME.match(name) or name.lower().endswith(_RESULTS_EXT):
            return "results", bool(_PROTECTED.match(name))
    protected = bool(_PROTECTED.match(name))
    if is_temp_name(name) or name.endswith(".tmp"):
        return "temp", False
    # a custom cache type has no known naming scheme: every JSON file is one of its entries
    pattern = ENTRY_PATTERNS.get(cache_type, _GENERIC_ENTRY)
    if pattern.match(name):
        return "entry", protected
    return "other", protected


def scan_dir(cache_type: str, directory: str, *, exclude: Iterable[str] = (),
             include_hidden_files: bool = False, stat: bool = True,
             ordered: bool = False) -> Iterator[FileInfo]:
    """Yield every file below ``directory`` with its classification.

    Symlinks are yielded as ``kind='symlink'`` and never followed; hidden
    directories and the directories in ``exclude`` (other configured cache
    directories nested here) are not entered. A missing directory yields nothing.
    ``stat=False`` leaves ``size`` and ``mtime`` of regular files at 0 (one system call
    less per file, for a caller that ``fstat``-s what it opens anyway).
    ``ordered=True`` yields depth-first with each directory's names sorted, i.e. sorted
    by ``rel.split("/")`` (what ``backup`` merges against the previous manifest); it
    holds the names of the directories being walked, nothing per file beyond that.
    """
    if ordered:
        yield from _scan_ordered(cache_type, directory, exclude, include_hidden_files)
        return
    skip = {os.path.normpath(p) for p in exclude}
    stack = [(directory, "")]
    while stack:
        current, prefix = stack.pop()
        try:
            it = os.scandir(current)
        except FileNotFoundError:
            continue
        with it:
            for de in it:
                rel = prefix + de.name
                if de.is_symlink():
                    st = de.stat(follow_symlinks=False)
                    yield FileInfo(de.path, rel, st.st_size, st.st_mtime, "symlink", False)
                elif de.is_dir(follow_symlinks=False):
                    if de.name.startswith(".") or os.path.normpath(de.path) in skip:
                        continue
                    if de.name in _RESULTS_DIRS:
                        continue
                    stack.append((de.path, rel + "/"))
                elif de.is_file(follow_symlinks=False):
                    if de.name.startswith(".") and not include_hidden_files \
                            and not is_temp_name(de.name):
                        continue  # lock files and other hidden bookkeeping
                    kind, protected = classify(cache_type, rel)
                    if not stat:
                        yield FileInfo(de.path, rel, 0, 0.0, kind, protected)
                        continue
                    st = de.stat(follow_symlinks=False)
                    yield FileInfo(de.path, rel, st.st_size, st.st_mtime, kind, protected)
                else:
                    # a FIFO would block whoever opens it; report it, never open it
                    try:
                        st = de.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield FileInfo(de.path, rel, 0, st.st_mtime, "special", False)


def _listing(path: str) -> list[str]:
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    names.sort()
    names.reverse()  # popped from the end: smallest first
    return names


def _scan_ordered(cache_type: str, directory: str, exclude: Iterable[str],
                  include_hidden_files: bool) -> Iterator[FileInfo]:
    # Names only (no DirEntry objects, no FileInfo list): a flat 48k-file directory costs its
    # sorted names, a few MiB; each name is lstat-ed as it is reached (what scandir's stat does).
    skip = {os.path.normpath(p) for p in exclude}
    stack = [(directory, "", _listing(directory))]
    while stack:
        current, prefix, names = stack[-1]
        if not names:
            stack.pop()
            continue
        name = names.pop()
        path, rel = os.path.join(current, name), prefix + name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # removed since the listing
        mode = st.st_mode
        if S_ISLNK(mode):
            yield FileInfo(path, rel, st.st_size, st.st_mtime, "symlink", False)
        elif S_ISDIR(mode):
            if name.startswith(".") or os.path.normpath(path) in skip or name in _RESULTS_DIRS:
                continue
            stack.append((path, rel + "/", _listing(path)))
        elif S_ISREG(mode):
            if name.startswith(".") and not include_hidden_files and not is_temp_name(name):
                continue  # lock files and other hidden bookkeeping
            kind, protected = classify(cache_type, rel)
            yield FileInfo(path, rel, st.st_size, st.st_mtime, kind, protected)
        else:
            yield FileInfo(path, rel, 0, st.st_mtime, "special", False)


def guard_path(path: str, root: str, *, must_exist: bool = True) -> str:
    """Check that ``path`` is a real (non-symlink) file strictly inside ``root``.

    Every destructive action calls this immediately before acting, so a file
    swapped for a symlink after the scan is still refused.

    Raises:
        UnsafePath: ``path`` is outside ``root``, is a symlink, or sits below a
            symlinked directory that leads out of ``root``.
    """
    real_root = os.path.realpath(root)
    parent = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    if parent != real_root and not parent.startswith(real_root + os.sep):
        raise UnsafePath(f"{path} is outside {root}")
    if must_exist or os.path.lexists(path):
        if os.path.islink(path):
            raise UnsafePath(f"{path} is a symlink; not followed")
    return os.path.join(parent, os.path.basename(path))


def find_root(path: str, roots: Iterable[str]) -> Optional[str]:
    """The configured root that contains ``path``, or ``None``."""
    real = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for root in roots:
        r = os.path.realpath(root)
        if real == r or real.startswith(r + os.sep):
            return root
    return None
