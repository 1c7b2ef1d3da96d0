"""Run a check in a forked child and bring its verdict back to the parent's test."""
from __future__ import annotations

import os
from typing import Callable


def check_in_fork(check: Callable[[], bool]) -> bool:
    """``check()`` run in a child made by ``os.fork()``: True only if it returned true.

    The child reports one byte over a pipe and leaves with ``os._exit`` (no atexit handlers,
    no pytest teardown in the child); an exception in the child counts as False.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.write(write_end, b"1" if check() else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        answer = os.read(read_end, 1)
    finally:
        os.waitpid(pid, 0)
        os.close(read_end)
    return answer == b"1"
