"""CacheManager.get/set cost against the raw core and cachetools, as ratios from one run.

Command::

    .venv/bin/python benchmarks/bench_manager.py [--rounds 7] [--keys 10000]

Table 1 — a memory hit with serialization 'none': ns per ``get`` for the raw
``fbacache._core.Index.get`` (no lock: the baseline), ``CacheManager.get``,
and ``cachetools.LRUCache`` behind a ``threading.Lock`` (what an application
would otherwise write). Every variant is timed over the same key sequence,
interleaved round by round, and the best round counts (noise on a shared
machine only makes things slower). Targets: manager/core <= 3,
manager/cachetools+lock < 1.

Table 2 — codec paths: ns per get and per set for pickle, msgpack, zlib and
zstd on a ~1 KB and a ~10 KB value; "stored B" is the stored size (0 for
'none') and the per-KB columns divide by the value's pickled size.
"""
from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import threading
import time
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import cachetools  # noqa: E402

from fbacache import CORE_IMPLEMENTATION, CacheManager  # noqa: E402
from fbacache._core import Index  # noqa: E402


def _loop_time(fn: Callable[[Any], Any], keys: list, number: int) -> float:
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            for k in keys:
                fn(k)
        return (time.perf_counter() - t0) / (number * len(keys))
    finally:
        gc.enable()


def bench_hits(n_keys: int, rounds: int) -> dict[str, float]:
    keys = [f"key:{i}" for i in range(n_keys)]
    index = Index("lru", max_entries=2 * n_keys)
    manager = CacheManager(serialization_format="none", max_entries=2 * n_keys)
    lru = cachetools.LRUCache(2 * n_keys)
    lock = threading.Lock()
    for k in keys:
        index.set(k, k)
        manager.set(k, k)
        lru[k] = k

    def locked_lru_get(key: Any, _lock: Any = lock, _get: Any = lru.get) -> Any:
        with _lock:
            return _get(key)

    variants = {"core Index.get": index.get, "CacheManager.get": manager.get,
                "cachetools LRUCache+Lock": locked_lru_get}
    best = {name: float("inf") for name in variants}
    number = max(1, 200_000 // n_keys)
    for _ in range(rounds):
        for name, fn in variants.items():
            best[name] = min(best[name], _loop_time(fn, keys, number))
    assert manager.get(keys[0]) == keys[0]
    return best


def bench_codecs(rounds: int) -> list[tuple[str, int, float, float, float]]:
    small = {"id": 1, "name": "widget", "tags": ["a", "b"], "text": "lorem ipsum " * 80}
    large = {"rows": [{"id": i, "v": f"value-{i}", "ok": i % 2 == 0} for i in range(400)]}
    configs = [("none", None), ("pickle", None), ("msgpack", None), ("json", None),
               ("pickle", "zlib"), ("pickle", "zstd"), ("msgpack", "zstd")]
    out = []
    for fmt, comp in configs:
        for label, value in (("1KB", small), ("10KB", large)):
            value_kb = len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)) / 1024
            m = CacheManager(serialization_format=fmt, compression=comp,
                             compression_threshold=512, max_entries=10_000)
            keys = [f"k{i}" for i in range(200)]
            set_t = get_t = float("inf")
            for _ in range(rounds):
                t0 = time.perf_counter()
                for k in keys:
                    m.set(k, value)
                set_t = min(set_t, (time.perf_counter() - t0) / len(keys))
                get_t = min(get_t, _loop_time(m.get, keys, 5))
            stored = m.get_metrics()["current_size_bytes"] / len(keys)
            if fmt == "none":  # shallow getsizeof is no size
                stored = 0
            name = fmt + ("+" + comp if comp else "")
            out.append((f"{name} {label}", int(stored), get_t, set_t, value_kb))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both tables and print them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--keys", type=int, default=10_000)
    args = ap.parse_args(argv)
    print(f"core implementation: {CORE_IMPLEMENTATION}; python {sys.version.split()[0]}")
    best = bench_hits(args.keys, args.rounds)
    base = best["core Index.get"]
    lru = best["cachetools LRUCache+Lock"]
    print(f"\nmemory hit, serialization 'none', {args.keys} keys, best of {args.rounds}")
    print(f"{'variant':28} {'ns/get':>8} {'x core':>8} {'x cachetools+lock':>18}")
    for name, t in best.items():
        print(f"{name:28} {t * 1e9:8.1f} {t / base:8.2f} {t / lru:18.2f}")
    ratio, vs_lru = best["CacheManager.get"] / base, best["CacheManager.get"] / lru
    print(f"\nCacheManager.get / core = {ratio:.2f} (target <= 3.0): "
          f"{'OK' if ratio <= 3.0 else 'MISSED'}")
    print(f"CacheManager.get / cachetools+lock = {vs_lru:.2f} (target < 1.0): "
          f"{'OK' if vs_lru < 1.0 else 'MISSED'}")
    print(f"\ncodec paths (best of {args.rounds})")
    print(f"{'codec / value':22} {'stored B':>9} {'ns/get':>9} {'ns/set':>9} "
          f"{'get ns/KB':>10} {'set ns/KB':>10}")
    for name, stored, g, s, kb in bench_codecs(args.rounds):
        print(f"{name:22} {stored:9d} {g * 1e9:9.0f} {s * 1e9:9.0f} "
              f"{g * 1e9 / kb:10.0f} {s * 1e9 / kb:10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
