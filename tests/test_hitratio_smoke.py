"""benchmarks/hitratio.py works on any trace file in the documented format."""
from __future__ import annotations

import gzip
import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _hitratio_traces import belady_hits  # noqa: E402


def brute_force_opt(keys, size):
    """Exhaustive optimum over every admit/evict choice (tiny traces only)."""
    best = {frozenset(): 0}
    for key in keys:
        nxt = {}
        for cache, hits in best.items():
            options = []
            if key in cache:
                options.append((cache, hits + 1))
            else:
                options.append((cache, hits))  # decline to admit
                if len(cache) < size:
                    options.append((cache | {key}, hits))
                else:
                    options += [((cache - {v}) | {key}, hits) for v in cache]
            for state, h in options:
                if nxt.get(state, -1) < h:
                    nxt[state] = h
        best = nxt
    return max(best.values())


def test_belady_matches_brute_force_on_small_traces():
    rng = random.Random(7)
    for _ in range(40):
        keys = [rng.randrange(6) for _ in range(14)]
        size = rng.randrange(1, 4)
        assert belady_hits(keys, size) == brute_force_opt(keys, size), (keys, size)


def test_cli_on_text_and_gzip_traces_with_arbitrary_tokens(tmp_path):
    rng = random.Random(3)
    tokens = [f"user-{int(rng.paretovariate(1.2)) % 300}" for _ in range(5000)]
    plain = tmp_path / "tokens.txt"
    plain.write_text("\n".join(tokens) + "\n")
    packed = tmp_path / "ints.txt.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write("\n".join(str(i % 97) for i in itertools.islice(itertools.count(), 3000)))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "hitratio.py"), f"{plain}:50,100",
         str(packed), "--size", "50", "--json", "--jobs", "1"],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout
    rows = json.loads(out)["rows"]
    assert [(r["trace"], r["size"]) for r in rows] == [("tokens", 50), ("tokens", 100), ("ints", 50)]
    for row in rows:
        assert set(row["hit"]) == {"lru", "lfu", "fifo", "random", "adaptive"}
        assert all(0 <= h <= row["opt"] for h in row["hit"].values())
        assert row["labels"]["adaptive"] == "adaptive", "measured through the public class"
    loop = rows[2]  # a strict cycle of 97 keys through 50 entries: LRU gets nothing, OPT ~half
    assert loop["hit"]["lru"] == 0.0 and loop["opt"] > 45 and loop["hit"]["adaptive"] > 30
