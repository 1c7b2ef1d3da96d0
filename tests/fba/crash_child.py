"""Child process for test_crash.py: runs one maintenance op; the parent SIGKILLs it.

Usage: python crash_child.py CONFIG ROOT NOW OP [STRATEGY]; prints "ready" once
imports and config are done, so the kill lands inside the operation itself. NOW (Unix
seconds) is the run's clock: the tree's pinned instant, not today's date.
"""
import sys
import time

from fbacache.fba import Maintenance, load_config


def run() -> None:
    config, root, now, op = sys.argv[1:5]
    start = time.monotonic()
    # starts at the pinned instant and ticks, so successive backups still sort by time
    m = Maintenance(load_config(config, root), lock_timeout=10,
                    clock=lambda: float(now) + (time.monotonic() - start))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if op == "clear":
        r = m.clear(sys.argv[5])
    elif op == "backup":
        r = m.backup()
    else:
        r = m.restore()
    sys.stdout.write(f"done {r.status}\n")


if __name__ == "__main__":
    run()
