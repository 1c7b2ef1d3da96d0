"""A short tour of fbacache on its default embedded (memory) backend.

Run it with ``python -m fbacache.demo``.
"""
from __future__ import annotations

import threading
import time

import fbacache
from fbacache import CacheManager, LRUCache


def main() -> int:
    """Run the demo and print what happens; return the exit code."""
    print(f"fbacache {fbacache.__version__}, core: {fbacache.CORE_IMPLEMENTATION}")

    # 1. a cachetools-compatible mapping on the native core
    lru: LRUCache[str, str] = LRUCache(maxsize=3)
    for key in "abcd":
        lru[key] = key.upper()
    print(f"LRUCache(maxsize=3) after inserting a..d keeps {sorted(lru)}")

    # 2. the thread-safe application cache
    with CacheManager(max_entries=10_000, default_ttl=60, serialization_format="msgpack",
                      compression="zstd") as cache:
        cache.set("product:B08B1P9KWC", {"title": "Desk lamp", "price": 19.99})
        print("get ->", cache.get("product:B08B1P9KWC"))

        calls = []

        def slow_lookup() -> dict:
            calls.append(1)
            time.sleep(0.05)
            return {"title": "Kettle", "price": 24.5}

        threads = [threading.Thread(target=cache.get_or_set, args=("product:KETTLE", slow_lookup))
                   for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"16 threads missed one key at once: the loader ran {len(calls)} time(s)")

        cache.set("big", "x" * 50_000)
        metrics = cache.get_metrics()
        print(f"compressed to {metrics['compression_ratio']:.2%} of its size, "
              f"hits {metrics['hits']}, misses {metrics['misses']}, "
              f"entries {metrics['current_entries']}")
        print("keys('product:*') ->", sorted(cache.keys("product:*"), key=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
