"""Cross-process locks (``filelock``) for read-modify-write of shared cache files.

The FBA linking map is one JSON list that several processes append to; an
unlocked read-modify-write loses the other writer's records. :func:`file_lock`
serialises such updates across processes with an ``flock`` on a sibling
``.<name>.lock`` file; the data file itself is still replaced atomically, so
readers never need the lock.

``filelock`` is the ``fba`` extra (``pip install 'fbacache[fba]'``): it is imported when a lock
is first taken, so the filesystem backend and ``import fbacache`` do not need it.

Example:
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "linking_map.json")
    >>> with file_lock(p):
    ...     pass
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Iterator

from fbacache.errors import LockTimeout, MaintenanceAborted, MissingDependency

__all__ = ["LOCK_SUFFIX", "file_lock", "lock_path_for", "directory_lock"]

LOCK_SUFFIX = ".lock"


def lock_path_for(path: str) -> str:
    """The lock file guarding ``path``: ``<dir>/.<name>.lock`` (hidden, never scanned)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}{LOCK_SUFFIX}")


def _filelock() -> ModuleType:
    # imported on first use: filelock is the `fba` extra, which the rest of fbacache never needs
    try:
        import filelock
    except ImportError as exc:  # the extra is missing: say which one
        raise MissingDependency("the FBA maintenance locks need filelock: "
                                "pip install 'fbacache[fba]'") from exc
    return filelock


def _take(lock_file: str, timeout: float) -> Any:
    filelock = _filelock()
    lock = filelock.FileLock(lock_file, timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockTimeout(f"could not lock {lock_file} within {timeout}s") from None
    return lock


@contextmanager
def _acquire(lock_file: str, timeout: float) -> Iterator[None]:
    lock = _take(lock_file, timeout)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def file_lock(path: str, timeout: float = 30.0) -> Iterator[None]:
    """Hold the cross-process lock of ``path`` for the duration of the block.

    Raises:
        LockTimeout: another process held the lock for longer than ``timeout`` seconds.
    """
    with _acquire(lock_path_for(path), timeout):
        yield


@contextmanager
def directory_lock(directory: str, name: str = "maintain", timeout: float = 30.0) -> Iterator[None]:
    """Hold a named lock in ``directory`` (created if needed), e.g. one maintenance run at a time.

    Raises:
        LockTimeout: the lock stayed busy for ``timeout`` seconds.
        MaintenanceAborted: the lock file cannot be created (read-only or foreign
            directory); nothing was done yet.
    """
    lock_file = os.path.join(directory, f".{name}{LOCK_SUFFIX}")
    try:
        os.makedirs(directory, exist_ok=True)
        lock = _take(lock_file, timeout)
    except OSError as exc:
        # a read-only or foreign root: say so in one line instead of failing mid-run
        raise MaintenanceAborted(f"cannot create the lock file {lock_file}: "
                                 f"{exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()
