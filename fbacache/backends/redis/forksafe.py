"""One process-wide lock for rebuilding per-process state after ``fork()``.

A forked child may inherit a lock held by a thread of its parent that does not
exist in the child; the lock is therefore re-created in every child.
Backends call :func:`fork_lock` each time (never keep the returned lock).
"""
from __future__ import annotations

import os
import threading

__all__ = ["fork_lock"]

_lock = threading.Lock()


def fork_lock() -> threading.Lock:
    """The lock guarding a backend's after-fork rebuild in this process.

    >>> with fork_lock():
    ...     pass
    """
    return _lock


def _reset() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset)
