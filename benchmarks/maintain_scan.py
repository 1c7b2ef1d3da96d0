"""Benchmark: ``metrics`` and ``validate`` over N amazon-cache files vs the I/O floor.

The floor is ``find DIR -type f | xargs cat > /dev/null`` on the same tree, in
the same run, with a warm page cache for both (the tree is read once first).
Each figure is the median of ``--repeat`` runs; the ratio is what we track.

Command::

    .venv/bin/python benchmarks/maintain_scan.py --files 50000 --repeat 3

Entries are ~2.8 KB of the real amazon-entry shape (real ones average 6.6 KB: 12.8 MiB / 2015).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fbacache.fba import Maintenance, parse_config  # noqa: E402


def make_tree(root: str, n: int) -> str:
    """Write ``n`` amazon entries of the real shape; returns the amazon_cache directory."""
    d = os.path.join(root, "OUTPUTS", "FBA_ANALYSIS", "amazon_cache")
    os.makedirs(d)
    now = time.time()
    for i in range(n):
        asin = f"B{i:09d}"
        doc = {
            "asin": asin, "asin_queried": asin, "title": f"Product {i} " + "word " * 30,
            "current_price": 4.59, "rating": 4.5, "review_count": 394,
            "features": ["A feature sentence describing the product in some detail. " * 3] * 5,
            "specifications_table": {f"Spec {k}": f"value {k}" for k in range(20)},
            "keepa": {"status": "Extraction process failed" if i % 13 == 0 else
                      "Extraction process completed",
                      "product_details_tab_data": {f"Field {k}": f"v{k}" for k in range(40)}},
        }
        path = os.path.join(d, f"amazon_{asin}_{5000000000000 + i}.json")
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=2)
        t = now - (i % 30) * 86400
        os.utime(path, (t, t))
    return d


def floor(directory: str) -> float:
    """Seconds for find | xargs cat > /dev/null."""
    t0 = time.perf_counter()
    subprocess.run(f"find '{directory}' -type f -print0 | xargs -0 cat > /dev/null",
                   shell=True, check=True)
    return time.perf_counter() - t0


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    """Build the tree, time floor / metrics / validate, print a ratio table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="fbacache-bench-")
    try:
        t0 = time.perf_counter()
        d = make_tree(root, args.files)
        size = sum(e.stat().st_size for e in os.scandir(d))
        print(f"tree: {args.files} files, {size / 2**20:.1f} MiB, built in "
              f"{time.perf_counter() - t0:.1f} s at {d}")
        cfg = parse_config({"directories": {"amazon_cache": os.path.relpath(d, root)},
                            "cache_types": {"amazon_cache": {"ttl_hours": 336}}}, root)
        m = Maintenance(cfg)
        floor(d)  # warm the page cache for everyone
        res: dict[str, list[float]] = {"floor": [], "metrics": [], "validate": []}
        for _ in range(args.repeat):
            res["floor"].append(floor(d))
            res["metrics"].append(timed(lambda: m.metrics()))
            res["validate"].append(timed(lambda: m.validate()))
        base = statistics.median(res["floor"])
        print(f"{'operation':<10} {'median s':>9} {'files/s':>10} {'ratio vs floor':>15}")
        for name, xs in res.items():
            med = statistics.median(xs)
            print(f"{name:<10} {med:9.2f} {args.files / med:10.0f} {med / base:15.2f}")
        r = m.metrics()
        print(f"check: {r.types['amazon_cache'].file_count} files, "
              f"{r.types['amazon_cache'].expired_count} expired")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
