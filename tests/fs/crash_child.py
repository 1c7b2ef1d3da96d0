"""Child process for test_crash.py: runs one maintenance op; the parent SIGKILLs it.

Usage: python crash_child.py CONFIG ROOT OP [STRATEGY]; prints "ready" once
imports and config are done, so the kill lands inside the operation itself.
"""
import sys

from fbacache.fs import Maintenance, load_config


def run() -> None:
    config, root, op = sys.argv[1:4]
    m = Maintenance(load_config(config, root), lock_timeout=10)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if op == "clear":
        r = m.clear(sys.argv[4])
    elif op == "backup":
        r = m.backup()
    else:
        r = m.restore()
    sys.stdout.write(f"done {r.status}\n")


if __name__ == "__main__":
    run()
