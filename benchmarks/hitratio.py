"""Hit ratios of every fbacache policy on real traces, next to Belady's optimum.

Each trace (one key per line, optionally ``.gz``) is replayed "get, and on a
miss insert" through the public classes ``fbacache.LRUCache``, ``LFUCache``,
``FIFOCache``, ``RRCache`` and ``AdaptiveCache`` (constructor ``(maxsize)``).
OPT is computed here (Belady with bypass, O(n log n)).
For each trace@size the table shows hit % and, in parentheses, the share of the
LRU-to-OPT gap the policy closes.

Commands::

    .venv/bin/python benchmarks/hitratio.py --paper                 # README table
    .venv/bin/python benchmarks/hitratio.py trace.gz:1000,2000 other.txt --size 500
    .venv/bin/python benchmarks/hitratio.py --paper --json > hitratio.json
    .venv/bin/python benchmarks/hitratio.py --paper --policies lru,lfu,adaptive --seed 1

``--seed N`` seeds AdaptiveCache's admission jitter (default: the class default, 0x5EED).

``--paper`` replays /work/shared/traces (or ``--traces-dir``) at the sizes of its
README and adds the published ARC and W-TinyLFU columns and the issue-7 targets.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _hitratio_paper import ANCHORS, paper_jobs  # noqa: E402
from _hitratio_policies import PUBLIC, resolve  # noqa: E402
from _hitratio_traces import belady_hits, load_trace, next_uses  # noqa: E402

DEFAULT_TRACES = Path("/work/shared/traces")
_MISS = object()


@lru_cache(maxsize=2)
def _trace(path: str) -> Tuple[List[int], List[int]]:
    keys = load_trace(path)
    return keys, next_uses(keys)


def replay(factory: Any, keys: Sequence[Any], size: int) -> int:
    """Return the hits of "get, and on a miss insert" through a cache made by ``factory(size)``."""
    cache = factory(size)
    get = cache.get
    setitem = cache.__setitem__
    miss = _MISS
    hits = 0
    for k in keys:
        if get(k, miss) is miss:
            setitem(k, True)
        else:
            hits += 1
    return hits


def run_job(job: Tuple[str, int, Tuple[str, ...], bool, Optional[int]]) -> Dict[str, Any]:
    """Replay one trace@size through the named policies and OPT; return a result row."""
    path, size, names, allow_proto, seed = job
    keys, nxt = _trace(path)
    row: Dict[str, Any] = {"trace": Path(path).name.split(".")[0], "path": path, "size": size,
                           "requests": len(keys), "unique": len(set(keys)), "hit": {},
                           "labels": {}, "seconds": {}}
    for name in names:
        label, factory = resolve(name, allow_proto)
        if name == "adaptive" and seed is not None:
            factory = partial(factory, seed=seed)
        t0 = time.perf_counter()
        row["hit"][name] = 100.0 * replay(factory, keys, size) / len(keys)
        row["seconds"][name] = round(time.perf_counter() - t0, 3)
        row["labels"][name] = label
    row["opt"] = 100.0 * belady_hits(keys, size, nxt) / len(keys)
    lru = row["hit"].get("lru")
    row["gap"] = {}
    for name, h in row["hit"].items():
        if lru is not None and row["opt"] - lru > 1e-9:
            row["gap"][name] = 100.0 * (h - lru) / (row["opt"] - lru)
    return row


def _parse_trace_args(specs: Sequence[str], sizes: Sequence[int]) -> List[Tuple[str, List[int]]]:
    out = []
    for spec in specs:
        path, _, sz = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
        own = [int(s) for s in sz.split(",") if s] if sz else []
        chosen = own or list(sizes)
        if not chosen:
            raise SystemExit(f"{spec}: no cache size (use --size N or {spec}:N,M)")
        if not Path(path).exists():
            raise SystemExit(f"{path}: no such trace file")
        out.append((path, chosen))
    return out


def summarize(rows: List[Dict[str, Any]], names: Sequence[str]) -> Dict[str, Any]:
    """Return averages: mean hit %, mean per-row gap share, and gap share of the averages."""
    summary: Dict[str, Any] = {}
    opt = sum(r["opt"] for r in rows) / len(rows)
    for name in [*names, "opt"]:
        hits = [r["opt"] if name == "opt" else r["hit"][name] for r in rows]
        gaps = [r["gap"][name] for r in rows if name in r.get("gap", {})]
        s = {"mean_hit": sum(hits) / len(hits)}
        if gaps:
            s["mean_gap_share"] = sum(gaps) / len(gaps)
        if "lru" in names and name != "opt":
            lru = sum(r["hit"]["lru"] for r in rows) / len(rows)
            if opt - lru > 1e-9:
                s["gap_share_of_means"] = 100.0 * (s["mean_hit"] - lru) / (opt - lru)
        summary[name] = s
    return summary


def paper_checks(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Check the issue-7 targets for the adaptive policy against the README anchors."""
    checks: Dict[str, Any] = {"below_best_classic": []}
    arc, ours, wt_ours, wt = [], [], [], []
    for r in rows:
        a = ANCHORS.get((r["trace"], r["size"]))
        if a is None or "adaptive" not in r["hit"]:
            continue
        h = r["hit"]["adaptive"]
        ours.append(h)
        arc.append(a[2])
        if a[3] is not None:
            wt.append(a[3])
            wt_ours.append(h)
        best = max(r["hit"].get("lru", 0.0), r["hit"].get("lfu", 0.0))
        if h < best - 1.0:
            checks["below_best_classic"].append(f"{r['trace']}@{r['size']}")
    if ours:
        checks["adaptive_mean"] = sum(ours) / len(ours)
        checks["arc_mean"] = sum(arc) / len(arc)
    if wt:
        checks["adaptive_mean_on_wtinylfu_rows"] = sum(wt_ours) / len(wt_ours)
        checks["wtinylfu_mean"] = sum(wt) / len(wt)
    return checks


def print_table(rows: List[Dict[str, Any]], names: Sequence[str], paper: bool) -> None:
    """Print the result rows as a markdown table, then averages (and targets with --paper)."""
    labels = {n: rows[0]["labels"][n] for n in names}
    head = ["trace @ size", *[labels[n] for n in names]]
    if paper:
        head += ["ARC*", "W-TinyLFU*"]
    head.append("OPT")
    print("| " + " | ".join(head) + " |")
    print("|---" + "|---:" * (len(head) - 1) + "|")
    for r in rows:
        cells = [f"{r['trace']} @ {r['size']}"]
        for n in names:
            g = r["gap"].get(n)
            cells.append(f"{r['hit'][n]:.2f}" + (f" ({g:.0f}%)" if g is not None and n != "lru" else ""))
        if paper:
            a = ANCHORS.get((r["trace"], r["size"]))
            cells += [f"{a[2]:.2f}" if a else "", f"{a[3]:.1f}" if a and a[3] is not None else "–"]
        cells.append(f"{r['opt']:.2f}")
        print("| " + " | ".join(cells) + " |")
    s = summarize(rows, names)
    print()
    print("| average | " + " | ".join(labels[n] for n in names) + " | OPT |")
    print("|---" + "|---:" * (len(names) + 1) + "|")
    print("| hit % | " + " | ".join(f"{s[n]['mean_hit']:.2f}" for n in names)
          + f" | {s['opt']['mean_hit']:.2f} |")
    print("| mean of per-row gap shares | "
          + " | ".join(f"{s[n].get('mean_gap_share', float('nan')):.1f}%" for n in names) + " | |")
    print("| gap share of the mean hit % | "
          + " | ".join(f"{s[n].get('gap_share_of_means', float('nan')):.1f}%" for n in names) + " | |")
    if paper:
        c = paper_checks(rows)
        print()
        print("(*) published figures from the traces README, not measured here.")
        if "adaptive_mean" in c:
            print(f"adaptive mean {c['adaptive_mean']:.2f} vs ARC {c['arc_mean']:.2f}; on the rows "
                  f"with a published W-TinyLFU figure {c['adaptive_mean_on_wtinylfu_rows']:.2f} vs "
                  f"{c['wtinylfu_mean']:.2f}; rows > 1 point below max(LRU, LFU): "
                  f"{', '.join(c['below_best_classic']) or 'none'}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse arguments, run the replays (in parallel with --jobs) and print table or JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("traces", nargs="*", help="trace files, optionally with sizes: trace.gz:1000,2000")
    ap.add_argument("--size", type=int, action="append", default=[], help="cache size (repeatable)")
    ap.add_argument("--paper", action="store_true", help="the traces README table")
    ap.add_argument("--traces-dir", default=str(DEFAULT_TRACES), help="where --paper finds traces")
    ap.add_argument("--policies", default=",".join(PUBLIC), help="comma-separated policy names")
    ap.add_argument("--no-proto", action="store_true", help=argparse.SUPPRESS)  # kept for old commands
    ap.add_argument("--jobs", type=int, default=min(2, multiprocessing.cpu_count()))
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--seed", type=lambda v: int(v, 0), default=None,
                    help="AdaptiveCache seed (default: the class default, 0x5EED)")
    args = ap.parse_args(argv)
    names = tuple(n.strip() for n in args.policies.split(",") if n.strip())
    for n in names:
        resolve(n)  # unknown names fail before any work
    todo: List[Tuple[str, List[int]]] = []
    if args.paper:
        for trace, sizes in paper_jobs():
            todo.append((str(Path(args.traces_dir) / f"{trace}.txt.gz"), sizes))
    todo += _parse_trace_args(args.traces, args.size)
    if not todo:
        ap.error("give trace files or --paper")
    jobs = [(path, size, names, not args.no_proto, args.seed) for path, sizes in todo for size in sizes]
    if args.jobs > 1 and len(jobs) > 1:
        with multiprocessing.Pool(args.jobs) as pool:
            rows = pool.map(run_job, jobs, chunksize=1)
    else:
        rows = [run_job(j) for j in jobs]
    if args.json:
        out = {"rows": rows, "summary": summarize(rows, names)}
        if args.paper:
            out["paper_checks"] = paper_checks(rows)
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        print_table(rows, names, args.paper)
    return 0


if __name__ == "__main__":
    sys.exit(main())
