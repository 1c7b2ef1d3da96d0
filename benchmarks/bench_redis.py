"""Redis backends: CacheManager overhead over raw redis-py, batch speed-up, tiered propagation.

Command (starts its own private redis-server on a free loopback port)::

    .venv/bin/python benchmarks/bench_redis.py            # ~30 s
    .venv/bin/python benchmarks/bench_redis.py --quick    # smoke run

Every figure is a ratio against a baseline measured in the same run (medians of
``--repeat`` rounds), so a noisy shared machine shifts both sides:

- ``get``/``set``: ``CacheManager(backend_type='redis', msgpack)`` vs ``redis.Redis.get/set``
  of the same bytes (the manager adds key mapping, codec, breaker/retry and counters);
- ``get_many(100)`` (one ``MGET``) vs 100 ``CacheManager.get`` calls, and raw ``MGET`` vs
  100 raw ``GET``;
- tiered L1 hit vs a raw ``GET`` round trip;
- propagation: time from ``set()`` in this process until another process (a child running
  this script with ``--peer``) has dropped its L1 copy (``time.monotonic`` is system-wide).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgpack
import redis

from fbacache import CacheManager
from fbacache.testing import RedisServer

VALUE = {"id": 12345, "name": "benchmark user", "tags": ["a", "b", "c"], "score": 0.75}


def per_op(fn: Callable[[], object], n: int, repeat: int) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` rounds of ``n`` calls."""
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t0) / n)
    return statistics.median(rounds)


def peer(url: str) -> None:
    """Child mode: hold key 'p' in L1, report when an invalidation dropped it."""
    cache = CacheManager(backend_type="tiered", serialization_format="msgpack",
                         key_prefix="bench", backend_config={"url": url})
    bus = cache.backend.bus
    print(json.dumps({"ready": bus.wait_up(10)}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        seen = bus.received.value
        cache.get("p")  # fill L1
        print(json.dumps({"armed": True}), flush=True)
        while bus.received.value == seen:
            time.sleep(0.00005)
        print(json.dumps({"at": bus.last_received_at}), flush=True)
    cache.close()


def propagation(url: str, rounds: int) -> list[float]:
    """Seconds from set() here to the invalidation being applied in another process."""
    child = subprocess.Popen([sys.executable, __file__, "--peer", url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert json.loads(child.stdout.readline())["ready"]
    cache = CacheManager(backend_type="tiered", serialization_format="msgpack",
                         key_prefix="bench", backend_config={"url": url})
    cache.backend.bus.wait_up(10)
    out = []
    try:
        for i in range(rounds):
            child.stdin.write("go\n")
            child.stdin.flush()
            json.loads(child.stdout.readline())  # armed: L1 holds 'p'
            t0 = time.monotonic()
            cache.set("p", i)
            at = json.loads(child.stdout.readline())["at"]
            out.append(at - t0)
    finally:
        child.stdin.write("quit\n")
        child.stdin.close()
        child.wait(10)
        cache.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer:
        peer(args.peer)
        return 0
    n, repeat, batches = (200, 3, 20) if args.quick else (3000, args.repeat, 300)
    with RedisServer() as server:
        raw = redis.Redis.from_url(server.url)
        cache = CacheManager(backend_type="redis", serialization_format="msgpack",
                             key_prefix="bench", max_entries=None,
                             backend_config={"url": server.url})
        tiered = CacheManager(backend_type="tiered", serialization_format="msgpack",
                              key_prefix="bench", max_entries=None,
                              backend_config={"url": server.url})
        payload = msgpack.packb(VALUE)
        keys = [f"k{i}" for i in range(100)]
        cache.set_many({k: VALUE for k in keys})
        for k in keys:
            raw.set(f"raw:{k}", payload)
        tiered.get("k1")  # L1 filled

        rows = []
        t_raw_get = per_op(lambda: raw.get("raw:k1"), n, repeat)
        t_mgr_get = per_op(lambda: cache.get("k1"), n, repeat)
        t_raw_set = per_op(lambda: raw.set("raw:k1", payload, px=60_000), n, repeat)
        t_mgr_set = per_op(lambda: cache.set("k1", VALUE, ttl=60), n, repeat)
        t_l1 = per_op(lambda: tiered.get("k1"), n, repeat)
        rows.append(("get", t_raw_get, t_mgr_get))
        rows.append(("set (PX)", t_raw_set, t_mgr_set))
        rows.append(("tiered get, L1 hit", t_raw_get, t_l1))

        def many_gets() -> None:
            for k in keys:
                cache.get(k)

        def many_raw_gets() -> None:
            for k in keys:
                raw.get(f"raw:{k}")
        raw_keys = [f"raw:{k}" for k in keys]
        t_100 = per_op(many_gets, batches // 3, repeat)
        t_many = per_op(lambda: cache.get_many(keys), batches, repeat)
        t_raw_100 = per_op(many_raw_gets, batches // 3, repeat)
        t_raw_many = per_op(lambda: raw.mget(raw_keys), batches, repeat)

        print(f"redis-server {'.'.join(map(str, server.version))}, redis-py {redis.__version__},"
              f" loopback; median of {repeat} rounds; value = msgpack of {len(payload)} bytes")
        print(f"{'operation':<22}{'raw redis-py':>14}{'CacheManager':>14}{'ratio':>8}")
        for name, base, ours in rows:
            print(f"{name:<22}{base * 1e6:>11.1f} us{ours * 1e6:>11.1f} us{ours / base:>8.2f}")
        print(f"\n{'batch of 100':<34}{'100 x get':>12}{'get_many':>12}{'speed-up':>10}")
        print(f"{'CacheManager':<34}{t_100 * 1e3:>9.2f} ms{t_many * 1e3:>9.2f} ms"
              f"{t_100 / t_many:>9.1f}x")
        print(f"{'raw redis-py (GET vs MGET)':<34}{t_raw_100 * 1e3:>9.2f} ms"
              f"{t_raw_many * 1e3:>9.2f} ms{t_raw_100 / t_raw_many:>9.1f}x")
        print(f"CacheManager.get_many(100) / raw MGET(100): {t_many / t_raw_many:.2f}")

        lat = sorted(propagation(server.url, 20 if args.quick else 300))
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3
        print(f"\ntiered invalidation, set() here -> L1 dropped in another process "
              f"({len(lat)} sets): median {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, "
              f"max {lat[-1] * 1e3:.2f} ms")
        cache.close()
        tiered.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
