"""Core throughput and memory of fbacache's cache classes against their peers.

Command (from the repository root, after ``.venv/bin/pip install -e .``)::

    .venv/bin/python benchmarks/bench_core.py                # full run (a few minutes)
    .venv/bin/python benchmarks/bench_core.py --quick        # small sizes, smoke only
    .venv/bin/python benchmarks/bench_core.py --json out.json

Measures, side by side in one run, ns per operation and the ratio to a plain
``dict`` for get-hit, get-miss, set with eviction (capacity 10k, 1M distinct
keys) and a Zipf(0.99) get-or-set mix (capacity 10k, 1M requests over 1M keys,
with its hit ratio); then bytes per entry for 10^6 int -> int entries, each
library measured in a fresh subprocess by RSS delta (tracemalloc cannot see
Rust/C allocations).  Contenders: every fbacache class, functools.lru_cache,
cachetools, cachebox, lru-dict and theine (peers that are not installed are
skipped).  Each timing is the best of ``--repeat`` rounds, interleaved across
contenders, because the machine may be shared.  Timed loops run with the
cyclic GC disabled (as ``timeit`` does) and include the loop overhead, shown
on its own row.  A final "targets" section holds each fbacache class against
cachebox's class of the same policy (ratio <= 1.0 passes).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    BASELINE, EMPTY_LOOP, OP_TITLES, OPS, PEERS, TARGET_POLICIES, Peer, compile_loop, now_ns,
    peer_by_name,
)
from _zipf import scrambled_keys, zipf_keys  # noqa: E402

MISS = object()


@dataclass(frozen=True)
class Sizes:
    """Workload sizes of one run."""

    capacity: int
    ops: int
    universe: int
    mem_entries: int
    repeat: int


FULL = Sizes(capacity=10_000, ops=1_000_000, universe=1_000_000, mem_entries=1_000_000, repeat=5)
QUICK = Sizes(capacity=1_000, ops=10_000, universe=10_000, mem_entries=10_000, repeat=1)
QUICK_MEMORY = ("dict", "fbacache.LRUCache", "cachebox.LRUCache")  # --quick measures only these


@dataclass
class Workload:
    """Precomputed key sequences shared by every contender."""

    resident: List[int]
    hits: List[int]
    misses: List[int]
    inserts: List[int]
    zipf: List[int]

    @classmethod
    def build(cls, sizes: Sizes, seed: int = 7) -> "Workload":
        """Create the sequences for ``sizes`` (deterministic for a seed)."""
        rng = random.Random(seed)
        resident = scrambled_keys(0, sizes.capacity)
        pick = rng.randrange
        cap = sizes.capacity
        hits = [resident[pick(cap)] for _ in range(sizes.ops)]
        fresh = scrambled_keys(1 << 40, sizes.ops)  # disjoint from every other key range
        return cls(resident, hits, fresh, fresh, zipf_keys(sizes.ops, sizes.universe, 0.99, seed))


@dataclass
class Result:
    """Best timing of one contender on one operation."""

    ns: Optional[float] = None  # best ns per operation
    hit_ratio: Optional[float] = None
    runs: List[float] = field(default_factory=list)


class Bench:
    """Runs the timing rounds; one instance per benchmark run."""

    def __init__(self, peers: List[Peer], sizes: Sizes, work: Workload) -> None:
        self.peers = peers
        self.sizes = sizes
        self.work = work
        self.results: Dict[str, Dict[str, Result]] = {op: {} for op in OPS}
        self._loops: Dict[Tuple[str, str], Any] = {}

    def _loop(self, peer: Peer, body: str) -> Any:
        key = (peer.bind, body)
        if key not in self._loops:
            self._loops[key] = compile_loop(peer.bind, body)
        return self._loops[key]

    def _filled(self, peer: Peer) -> Any:
        cache = peer.factory(self.sizes.capacity)
        if peer is not EMPTY_LOOP:
            self._loop(peer, peer.set)(cache, self.work.resident, MISS, now_ns)  # type: ignore[arg-type]
        return cache

    def measure(self, peer: Peer, op: str) -> None:
        """Time ``op`` once for ``peer`` and keep the best figure."""
        body = peer.statement(op)
        result = self.results[op].setdefault(peer.name, Result())
        if body is None:
            return
        if op == "gos":
            cache = peer.factory(self.sizes.capacity)
            keys = self.work.zipf
        else:
            cache = self._filled(peer)
            keys = {"hit": self.work.hits, "miss": self.work.misses, "set": self.work.inserts}[op]
        run = self._loop(peer, body)
        gc.collect()
        gc.disable()
        try:
            elapsed, missed = run(cache, keys, MISS, now_ns)
        finally:
            gc.enable()
        ns = elapsed / len(keys)
        result.runs.append(ns)
        result.ns = ns if result.ns is None else min(result.ns, ns)
        if op == "gos" and peer is not EMPTY_LOOP:
            if peer.misses is not None:
                missed = peer.misses(cache, missed)
            result.hit_ratio = 1.0 - missed / len(keys)
        del cache

    def run(self, progress: bool) -> None:
        """All rounds, interleaved: every contender once per round, for every op."""
        for round_no in range(self.sizes.repeat):
            for op in OPS:
                for peer in self.peers:
                    self.measure(peer, op)
                    if progress:
                        print(f"\r  round {round_no + 1}/{self.sizes.repeat} {op:5} {peer.name:28}",
                              end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)


# ---------------------------------------------------------------------------- memory
def _trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``) before an RSS reading.

    Without it, what a contender freed while growing (an old table, a list buffer) may
    stay in RSS or not depending on glibc's dynamic mmap threshold, so the same cache
    read 45-51 bytes/entry from run to run; trimmed, RSS is what is live.  No-op off glibc.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def memory_child(name: str, entries: int) -> None:
    """Subprocess body: RSS growth from filling one cache with ``entries`` int -> int pairs."""
    import psutil

    peer = peer_by_name(name)
    peer.available()  # import the library before the first RSS reading
    keys = scrambled_keys(0, entries)  # values are the keys: no allocation per value
    fill = compile_loop(peer.bind, peer.set or "c[k] = k")
    proc = psutil.Process()
    gc.collect()
    _trim_heap()
    before = proc.memory_info().rss
    cache = peer.factory(entries)
    fill(cache, keys, MISS, now_ns)
    if peer.settle is not None:
        peer.settle(cache)
    gc.collect()
    _trim_heap()
    after = proc.memory_info().rss
    size = len(cache) if hasattr(cache, "__len__") else cache.cache_info().currsize
    print(json.dumps({"bytes": after - before, "entries": entries, "resident": size}))


def measure_memory(peer: Peer, entries: int, repeat: int = 1) -> Optional[float]:
    """Bytes per entry of ``peer``: the smallest RSS growth over ``repeat`` fresh interpreters.

    Returns None (and reports on stderr) if a child fails.  RSS moves in whole
    pages and allocator arenas, so single readings wobble by a few MB; the
    minimum is the reading with the least incidental growth.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", peer.name,
           "--entries", str(entries)]
    readings = []
    for _ in range(repeat):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            print(f"memory child for {peer.name} failed:\n{proc.stderr}", file=sys.stderr)
            return None
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        if data["resident"] != entries:
            print(f"warning: {peer.name} kept {data['resident']} of {entries} entries",
                  file=sys.stderr)
        readings.append(data["bytes"] / entries)
    return min(readings)


# ---------------------------------------------------------------------------- report
def _fmt(value: Optional[float], spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _ratio(value: Optional[float], base: Optional[float]) -> Optional[float]:
    if value is None or not base:
        return None
    return value / base


def _table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join(("-" * (w + 2)) if i < 2 else ("-" * (w + 1) + ":")
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def timing_tables(bench: Bench) -> str:
    """One markdown table per timed operation."""
    out = []
    for op in OPS:
        res = bench.results[op]
        base = res[BASELINE.name].ns
        header = ["policy", "cache", "ns/op", "x dict"] + (["hit ratio"] if op == "gos" else [])
        rows = []
        for peer in bench.peers:
            r = res.get(peer.name, Result())
            row = [peer.policy, peer.name, _fmt(r.ns, ".1f"), _fmt(_ratio(r.ns, base), ".2f")]
            if op == "gos":
                row.append(_fmt(r.hit_ratio, ".3f"))
            rows.append(row)
        title = OP_TITLES[op]
        out.append(f"### {title} (ns/op, best of {bench.sizes.repeat})\n\n{_table(header, rows)}\n")
    return "\n".join(out)


def memory_table(memory: Dict[str, Optional[float]], peers: List[Peer], entries: int,
                 repeat: int) -> str:
    """Markdown table of bytes per entry."""
    base = memory.get(BASELINE.name)
    rows = [[p.policy, p.name, _fmt(memory.get(p.name), ".1f"), _fmt(_ratio(memory.get(p.name), base), ".2f")]
            for p in peers if p.name in memory]
    return (f"### memory ({entries:,} int -> int entries; RSS growth in a fresh process, "
            f"least of {repeat})\n\n"
            + _table(["policy", "cache", "bytes/entry", "x dict"], rows) + "\n")


def targets(bench: Bench, memory: Dict[str, Optional[float]]) -> Tuple[str, Dict[str, Any], bool]:
    """The fbacache-vs-cachebox ratios, their verdicts, and whether all passed."""
    names = {p.name for p in bench.peers}
    rows, data, all_pass = [], {}, True
    for pol in TARGET_POLICIES:
        fb = next((p.name for p in bench.peers if p.library == "fbacache" and p.policy == pol), None)
        cb = next((p.name for p in bench.peers if p.library == "cachebox" and p.policy == pol), None)
        if fb is None or cb is None or fb not in names:
            continue
        cells, entry = [pol, f"{fb} / {cb}"], {}
        for metric in ("hit", "set", "gos", "memory"):
            if metric == "memory":
                ratio = _ratio(memory.get(fb), memory.get(cb)) if memory else None
            else:
                ratio = _ratio(bench.results[metric][fb].ns, bench.results[metric][cb].ns)
            if ratio is None:
                cells.append("n/a")
                continue
            ok = ratio <= 1.0
            all_pass &= ok
            entry[metric] = {"ratio": ratio, "pass": ok}
            cells.append(f"{ratio:.2f} {'PASS' if ok else 'FAIL'}")
        rows.append(cells)
        data[fb] = entry
    header = ["policy", "fbacache / cachebox", "get-hit", "set-evict", "zipf mix", "bytes/entry"]
    text = ("### targets: fbacache / cachebox, same policy, same run (<= 1.00 passes)\n\n"
            + _table(header, rows) + "\n")
    return text, data, all_pass


def _versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("fbacache", "cachebox", "cachetools", "lru-dict", "theine"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--repeat", type=int, help="timing rounds (best is kept)")
    parser.add_argument("--only", help="comma-separated substrings: keep matching contenders")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--allow-twin", action="store_true",
                        help="run even if the pure-Python twin is loaded instead of the C core")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        memory_child(args.memory_child, args.entries)
        return 0

    import fbacache

    impl = fbacache.CORE_IMPLEMENTATION
    if impl != "c" and not args.allow_twin:
        print(f"fbacache.CORE_IMPLEMENTATION is {impl!r}, not 'c': rebuild with "
              "`.venv/bin/pip install -e .` (or pass --allow-twin)", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    if args.repeat:
        sizes = Sizes(sizes.capacity, sizes.ops, sizes.universe, sizes.mem_entries, args.repeat)

    peers, skipped = [], []
    for peer in PEERS:
        if args.only and not any(s in peer.name for s in args.only.split(",")):
            continue
        (peers if peer.available() else skipped).append(peer)
    peers = [BASELINE, EMPTY_LOOP, *peers]

    versions = _versions()
    print("# fbacache core benchmark\n")
    print(f"core: {impl} | python {versions['python']} | {platform.machine()} | "
          f"cpus: {os.cpu_count()} | " + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "python"))
    print(f"sizes: capacity={sizes.capacity:,} ops={sizes.ops:,} zipf universe={sizes.universe:,} "
          f"memory entries={sizes.mem_entries:,} | best of {sizes.repeat} interleaved rounds")
    if skipped:
        print("skipped (not installed): " + ", ".join(p.name for p in skipped))
    print()

    from fbacache import _core

    core_file = Path(_core._impl.__file__)  # the loaded extension (or the twin module)
    core_stamp = core_file.stat().st_mtime_ns
    work = Workload.build(sizes)
    bench = Bench(peers, sizes, work)
    bench.run(progress=sys.stderr.isatty())
    print(timing_tables(bench))

    memory: Dict[str, Optional[float]] = {}
    if not args.no_memory:
        # one fresh interpreter per contender; RSS deltas are independent, so two run at once
        measured = [p for p in peers if p is not EMPTY_LOOP]
        mem_repeat = 1 if args.quick else 3
        if args.quick:  # smoke: exercise the path on a few contenders only
            measured = [p for p in measured if p.name in QUICK_MEMORY]
        with ThreadPoolExecutor(max_workers=2) as pool:
            sizes_ = pool.map(lambda p: measure_memory(p, sizes.mem_entries, mem_repeat), measured)
            memory = dict(zip((p.name for p in measured), sizes_))
        print(memory_table(memory, peers, sizes.mem_entries, mem_repeat))

    rebuilt = core_file.stat().st_mtime_ns != core_stamp
    if rebuilt:
        print(f"WARNING: {core_file.name} was rebuilt during this run: the figures mix two builds; "
              "run again\n")
    text, target_data, all_pass = targets(bench, memory)
    print(text)
    print("all targets PASS" if all_pass else "some targets FAIL (see benchmarks/README.md)")

    notes = [f"- {p.name}: {p.note}" for p in peers if p.note]
    if notes:
        print("\nnotes:\n" + "\n".join(notes))

    if args.json:
        payload = {
            "core": impl, "versions": versions, "cpus": os.cpu_count(),
            "sizes": sizes.__dict__, "skipped": [p.name for p in skipped],
            "timings": {op: {name: {"ns": r.ns, "runs": r.runs, "hit_ratio": r.hit_ratio}
                             for name, r in bench.results[op].items()} for op in OPS},
            "memory_bytes_per_entry": memory, "targets": target_data, "all_pass": all_pass,
            "core_rebuilt_during_run": rebuilt,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
