"""Fork detection without a system call, and one lock for the after-fork rebuild.

A backend remembers :data:`generation` when it builds its per-process state (pool, breaker,
fallback) and compares it with the current value on every call: a forked child sees a new
value. The count is bumped by ``os.register_at_fork(after_in_child=...)``, which CPython runs
in the child of every fork that goes on running Python (``os.fork``, ``os.forkpty``,
``multiprocessing``'s fork and forkserver start methods); a fork that only ``exec``\\ s (such as
``subprocess``) never runs a cache call. Comparing an int costs a few nanoseconds where
``os.getpid()`` is a system call on every cache operation.

A forked child may inherit a lock held by a thread of its parent that does not exist in the
child; the lock is therefore re-created in every child. Backends call :func:`fork_lock` each
time (never keep the returned lock).

>>> import fbacache.backends.redis.forksafe as forksafe
>>> seen = forksafe.generation
>>> seen == forksafe.generation            # no fork in between
True
>>> with fork_lock():
...     pass
"""
from __future__ import annotations

import os
import threading

__all__ = ["fork_lock", "generation"]

_lock = threading.Lock()

#: Forks this process descends from (0 in the process that imported us first, +1 in each
#: forked child). Read it as ``forksafe.generation`` (module attribute), never copy it
#: into a module of your own: the copy would not change in the child.
generation = 0


def fork_lock() -> threading.Lock:
    """The lock guarding a backend's after-fork rebuild in this process.

    >>> with fork_lock():
    ...     pass
    """
    return _lock


def _after_fork_in_child() -> None:
    global _lock, generation
    _lock = threading.Lock()
    generation += 1


if hasattr(os, "register_at_fork"):  # platforms without it have no fork() either
    os.register_at_fork(after_in_child=_after_fork_in_child)
