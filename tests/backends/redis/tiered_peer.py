"""A second process for the tiered tests and the propagation benchmark (not a test module).

    python tiered_peer.py URL NAMESPACE

Reads one JSON command per line on stdin, answers one JSON line on stdout:
``{"op": "get", "key": k}`` -> ``{"value": v, "in_l1": bool}`` (in_l1: after the read);
``{"op": "set", "key": k, "value": v}``; ``{"op": "wait", "n": N, "timeout": s}`` ->
``{"ok": bool, "received": n, "at": time.monotonic() of the last invalidation applied}``;
``{"op": "quit"}``. Prints ``{"ready": true}`` once its invalidation channel is subscribed.
"""
from __future__ import annotations

import json
import sys
import time

from fbacache import CacheManager


def main(url: str, namespace: str) -> None:
    cache = CacheManager(backend_type="tiered", serialization_format="msgpack",
                         key_prefix=namespace,
                         backend_config={"url": url, "invalidation_ping_interval": 0.2})
    backend = cache.backend
    print(json.dumps({"ready": backend.bus.wait_up(10)}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "get":
            value = cache.get(cmd["key"])
            reply = {"value": value, "in_l1": backend.l1.peek(cmd["key"]) is not None}
        elif op == "set":
            cache.set(cmd["key"], cmd["value"])
            reply = {"ok": True}
        elif op == "wait":
            deadline = time.monotonic() + cmd["timeout"]
            while backend.bus.received.value < cmd["n"] and time.monotonic() < deadline:
                time.sleep(0.0002)
            reply = {"ok": backend.bus.received.value >= cmd["n"],
                     "received": backend.bus.received.value, "at": backend.bus.last_received_at}
        elif op == "quit":
            break
        else:
            reply = {"error": f"unknown op {op!r}"}
        print(json.dumps(reply), flush=True)
    cache.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
