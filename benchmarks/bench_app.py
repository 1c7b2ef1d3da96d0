"""The application path (issue 13): CacheManager and @cached next to their in-process peers.

Command::

    .venv/bin/python benchmarks/bench_app.py [--rounds 9] [--keys 1024] [--calls 200000]
        [--threads 8] [--thread-rounds 5] [--pin-threads CPU] [--memory-entries 1000000] [--no-memory] [--json out.json] [--cpu]

Every row is ns per call on a cache holding ``--keys`` resident str keys, so
every call is a hit (sets overwrite resident keys). Our side runs with default
settings: ``CacheManager(default_ttl=3600)`` and ``@fbacache.cached(ttl=3600)``
on such a manager; the peers are ``functools.lru_cache``, ``cachebox.cached``
on a ``TTLCache``, ``cachetools.cached`` on a ``TTLCache`` behind a Lock,
theine's ``Memoize`` and ``cachebox.TTLCache.get/insert``. Each row is the same
generated loop (``_peers.compile_loop``) with only the call differing; rows are
interleaved round by round (a burst of load from other processes hits them all
alike) and the table shows the median round. The cyclic GC is off while timing.
``--cpu`` times the rows with this thread's CPU clock (``time.thread_time_ns``)
instead of the wall clock: it leaves out the time the thread waits for a core, so
on a shared, loaded machine it is far steadier (cache and memory contention from
other processes still show).

Policy rows: ``CacheManager(max_entries=4 * keys, eviction_policy=lru | adaptive)``
side by side, to decide whether the adaptive policy can be the manager's default.

Codec rows: ``CacheManager(serialization_format=F).get`` of a small dict next
to ``F``'s own ``loads`` of the same payload (target: at most loads + 150 ns; the
figure is the median over rounds of the per-round difference, the two rows being
timed one after the other). The 150 ns were set on a machine where
``cachebox.TTLCache.get`` took 73 ns; a second row states the same target in that
same-run unit (excess / cachebox get <= 150 / 73), so that it means the same on a
slower or faster machine (the project's VM runs cachebox's get at 110-145 ns).

Threads: aggregate ``get`` throughput of ``--threads`` threads on one manager
(one cachebox TTLCache) divided by one thread's (target for the manager: >= 1,
no lock convoy). Each of ``--thread-rounds`` rounds times one thread and then
``--threads`` threads (the order alternating) for each subject in turn; the
figure is the median of the per-round ratios. With the GIL only one thread runs
at a time, so 1.0 is the ceiling, less the interpreter's forced switches (every
5 ms) and the caches of a thread moved to the other core: cachebox, a Rust
store with no Python lock, and ``dict.get``, which takes no lock and writes
nothing, are timed beside it as the references for what that costs.
``--pin-threads CPU`` runs these rows on one CPU, so that every switch stays on
one core and other processes on a shared machine stay out of the ratio. Memory: RSS growth per entry of a fresh interpreter holding
``--memory-entries`` str -> str entries (the value is the key, so only the
container counts; glibc ``malloc_trim`` before each reading, as bench_core).

Targets (ratios from this run) are marked pass/fail at the end.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _peers import compile_loop  # noqa: E402

import fbacache  # noqa: E402
from fbacache import CacheManager  # noqa: E402

TTL = 3600.0
# issue 13's codec target and, from its table, the unit it was set in
ISSUE_EXCESS_NS = 150.0
ISSUE_BOX_GET_NS = 73.0


def _identity(x: Any) -> Any:
    return x


def _optional(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None


cachebox = _optional("cachebox")
cachetools = _optional("cachetools")
theine = _optional("theine")
msgpack = _optional("msgpack")


class Row:
    """One timed call: a target object, the loop's bind line and its statement."""

    def __init__(self, name: str, obj: Any, bind: str, body: str, keys: List[Any],
                 arg: Any = None) -> None:
        self.name = name
        self.obj = obj
        self.keys = keys
        self.arg = arg
        self.run = compile_loop(bind, body)
        self.samples: List[float] = []

    def time_round(self, calls: int, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        """Append the ns per call of one round of about ``calls`` calls."""
        reps = max(1, calls // len(self.keys))
        seq = self.keys * reps
        gc.disable()
        try:
            elapsed, _ = self.run(self.obj, seq, self.arg, clock)
        finally:
            gc.enable()
        self.samples.append(elapsed / len(seq))

    @property
    def median(self) -> float:
        """Median ns per call over the rounds so far."""
        return statistics.median(self.samples)


def _theine_memoize(keys: List[str]) -> Optional[Callable[[str], str]]:
    if theine is None or not hasattr(theine, "Memoize"):
        return None
    import datetime

    # auto-key mode (no key function), as a user decorating a function would write it
    @theine.Memoize(4 * len(keys), datetime.timedelta(seconds=TTL))
    def f(x: str) -> str:
        return x

    return f


def build_rows(n_keys: int) -> Tuple[List[Row], Dict[str, Any]]:
    """Every row of the speed table, its caches filled so that each call hits."""
    keys = [f"key:{i}" for i in range(n_keys)]
    cap = 4 * n_keys
    rows: List[Row] = []

    lru = functools.lru_cache(maxsize=cap)(_identity)
    rows.append(Row("functools.lru_cache hit", lru, "f = c", "f(k)", keys))
    if cachebox is not None:
        cb = cachebox.cached(cachebox.TTLCache(cap, TTL))(_identity)
        rows.append(Row("cachebox.cached(TTLCache) hit", cb, "f = c", "f(k)", keys))
    if cachetools is not None:
        ct = cachetools.cached(cachetools.TTLCache(cap, TTL), lock=threading.Lock())(_identity)
        rows.append(Row("cachetools.cached(TTLCache, Lock) hit", ct, "f = c", "f(k)", keys))
    memo = _theine_memoize(keys)
    if memo is not None:
        rows.append(Row("theine Memoize hit", memo, "f = c", "f(k)", keys))
    deco_manager = CacheManager(default_ttl=TTL)
    fc = fbacache.cached(ttl=TTL, manager=deco_manager)(_identity)
    rows.append(Row("fbacache.cached hit", fc, "f = c", "f(k)", keys))

    if cachebox is not None:
        box = cachebox.TTLCache(cap, TTL)
        for k in keys:
            box.insert(k, k)
        rows.append(Row("cachebox.TTLCache.get", box, "get = c.get", "get(k)", keys))
        rows.append(Row("cachebox.TTLCache.insert", box, "ins = c.insert", "ins(k, k)", keys))
    manager = CacheManager(default_ttl=TTL)
    for k in keys:
        manager.set(k, k)
    rows.append(Row("CacheManager().get hit", manager, "get = c.get", "get(k)", keys))
    rows.append(Row("CacheManager().get_or_set hit", manager, "gos = c.get_or_set",
                    "gos(k, MISS)", keys, arg=_identity))
    rows.append(Row("CacheManager().set", manager, "st = c.set", "st(k, k)", keys))
    # The adaptive policy as a candidate default (issue 13: adopt only if <= 1.1x LRU here):
    # both bounded at the same capacity, every call a hit.
    for policy in ("lru", "adaptive"):
        pm = CacheManager(default_ttl=TTL, max_entries=cap, eviction_policy=policy)
        for k in keys:
            pm.set(k, k)
        rows.append(Row(f"CacheManager({policy}).get hit", pm, "get = c.get", "get(k)", keys))
        rows.append(Row(f"CacheManager({policy}).get_or_set hit", pm, "gos = c.get_or_set",
                        "gos(k, MISS)", keys, arg=_identity))
        rows.append(Row(f"CacheManager({policy}).set", pm, "st = c.set", "st(k, k)", keys))

    value = {"id": 7, "name": "widget", "price": 19.99, "tags": ["a", "b"]}
    # (dumps, loads, the loop's call of loads): loads called as a user would call it, the
    # options spelled out in the call (a functools.partial with keywords costs a dict per call)
    serializers = {"pickle": (functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL),
                              pickle.loads, "f(k)"),
                   "json": (lambda v: json.dumps(v, separators=(",", ":")).encode(),
                            json.loads, "f(k)")}
    if msgpack is not None:
        serializers["msgpack"] = (functools.partial(msgpack.packb, use_bin_type=True),
                                  msgpack.unpackb, "f(k, raw=False, strict_map_key=False)")
    for fmt, (dumps, loads, call) in serializers.items():
        m = CacheManager(default_ttl=TTL, serialization_format=fmt)
        for k in keys:
            m.set(k, value)
        rows.append(Row(f"CacheManager({fmt}).get hit", m, "get = c.get", "get(k)", keys))
        # one payload object per key, as the store holds one blob per key (the same
        # object n_keys times would stay hot in the CPU cache and flatter loads)
        payloads = [dumps(value) for _ in range(n_keys)]
        rows.append(Row(f"{fmt} loads alone", loads, "f = c", call, payloads))

    for fn in (lru, fc):  # the first call of each key is a miss: fill before timing
        for k in keys:
            fn(k)
    for row in rows:
        if row.name.endswith("hit") and row.obj is not manager and callable(row.obj):
            for k in keys:
                row.obj(k)
    return rows, {"manager": manager, "decorated": fc, "keys": keys}


def check_hits(rows: List[Row], state: Dict[str, Any]) -> None:
    """Fail loudly if a row that should hit did not (a benchmark of misses measures nothing)."""
    manager, keys = state["manager"], state["keys"]
    assert all(manager.get(k) == k for k in keys)
    info = state["decorated"].cache_info()
    assert info.currsize == len(keys), info
    for row in rows:
        if row.name.startswith(("CacheManager(lru)", "CacheManager(adaptive)")):
            assert all(row.obj.get(k) == k for k in keys), row.name
        elif row.name.startswith("CacheManager(") and not row.name.startswith("CacheManager()"):
            assert row.obj.get(keys[0])["name"] == "widget"


# ----------------------------------------------------------------------------- threads
def thread_ratio(get: Callable[[str], Any], keys: List[str], threads: int,
                 calls: int, first_single: bool = True) -> float:
    """Aggregate throughput of ``threads`` threads calling ``get`` over one thread's.

    The clock starts when every thread is running (a barrier) and stops when the last
    one is done, so thread creation is not counted as the cache's time; ``calls`` in
    all, split evenly.
    """
    def aggregate(n_threads: int) -> float:
        per = calls // n_threads // len(keys)
        barrier = threading.Barrier(n_threads + 1)

        def work() -> None:
            barrier.wait()
            for _ in range(per):
                for k in keys:
                    get(k)

        ts = [threading.Thread(target=work) for _ in range(n_threads)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        return n_threads * per * len(keys) / (time.perf_counter() - t0)

    if first_single:
        one = aggregate(1)
        return aggregate(threads) / one
    many = aggregate(threads)
    return many / aggregate(1)


def thread_ratios(gets: Dict[str, Callable[[str], Any]], keys: List[str], threads: int,
                  calls: int, rounds: int) -> Dict[str, float]:
    """Median over ``rounds`` of each subject's :func:`thread_ratio`, the subjects timed
    in turn within a round and the order of one and many threads alternating between
    rounds (a burst of load from other processes hits every subject alike)."""
    per: Dict[str, List[float]] = {name: [] for name in gets}
    for r in range(rounds):
        for name, get in gets.items():
            per[name].append(thread_ratio(get, keys, threads, calls, first_single=r % 2 == 0))
    return {name: statistics.median(v) for name, v in per.items()}


# ----------------------------------------------------------------------------- memory
_MEMORY_CHILD = r"""
import ctypes, gc, sys
sys.path.insert(0, {root!r})
def rss():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * {page}
n = {n}
keys = [f"key:{{i:08d}}" for i in range(n)]
for k in keys:
    hash(k)
kind = {kind!r}
gc.collect()
before = rss()
if kind == "manager":
    from fbacache import CacheManager
    c = CacheManager(default_ttl=3600, max_entries=n)
    for k in keys:
        c.set(k, k)
elif kind == "fbacache.TTLCache":
    from fbacache import TTLCache
    c = TTLCache(n, 3600)
    for k in keys:
        c[k] = k
else:
    import cachebox
    c = cachebox.TTLCache(n, 3600)
    for k in keys:
        c.insert(k, k)
gc.collect()
print((rss() - before) / n)
"""


def memory_per_entry(kind: str, n: int) -> Optional[float]:
    """Bytes per entry above the keys for ``kind``: the least of two fresh interpreters."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    code = _MEMORY_CHILD.format(root=root, page=os.sysconf("SC_PAGE_SIZE"), n=n, kind=kind)
    out = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            print(f"memory child {kind} failed:\n{proc.stderr}", file=sys.stderr)
            return None
        out.append(float(proc.stdout.strip()))
    return min(out)


# ----------------------------------------------------------------------------- targets
def targets(t: Dict[str, float], extra: Dict[str, Optional[float]],
            samples: Optional[Dict[str, List[float]]] = None) -> List[Tuple[str, float, float]]:
    """(description, measured ratio or excess, limit) for each issue-13 target measurable here.

    With ``samples`` (each row's per-round ns), a difference is the median of the
    per-round differences; without, the difference of the medians."""
    out = []

    def ratio(name: str, a: str, b: str, limit: float) -> None:
        if a in t and b in t:
            out.append((name, t[a] / t[b], limit))

    ratio("cached hit / cachebox.cached hit <= 1.0", "fbacache.cached hit",
          "cachebox.cached(TTLCache) hit", 1.0)
    ratio("cached hit / lru_cache hit <= 2.0 (stretch)", "fbacache.cached hit",
          "functools.lru_cache hit", 2.0)
    ratio("manager get / cachebox get <= 2.0", "CacheManager().get hit",
          "cachebox.TTLCache.get", 2.0)
    ratio("manager set / cachebox insert <= 2.0", "CacheManager().set",
          "cachebox.TTLCache.insert", 2.0)
    ratio("get_or_set hit / get hit <= 1.2", "CacheManager().get_or_set hit",
          "CacheManager().get hit", 1.2)
    for call in ("get hit", "get_or_set hit", "set"):
        ratio(f"adaptive / lru {call} <= 1.1 (to make adaptive the default)",
              f"CacheManager(adaptive).{call}", f"CacheManager(lru).{call}", 1.1)
    for fmt in ("pickle", "msgpack"):
        a, b = f"CacheManager({fmt}).get hit", f"{fmt} loads alone"
        if a in t and b in t:
            if samples is not None and a in samples and b in samples:
                excess = statistics.median(x - y for x, y in zip(samples[a], samples[b]))
            else:
                excess = t[a] - t[b]
            out.append((f"{fmt} get - loads <= 150 ns", excess, 150.0))
            box_get = t.get("cachebox.TTLCache.get")
            if box_get:
                out.append((f"{fmt} (get - loads) / cachebox get <= 150/73 (machine-scaled)",
                            excess / box_get, ISSUE_EXCESS_NS / ISSUE_BOX_GET_NS))
    if extra.get("threads manager") is not None:
        # expressed as 1 / ratio so that "<= limit" reads the same way as the rest
        out.append(("8-thread / 1-thread get throughput >= 1.0 (shown inverted)",
                    1.0 / extra["threads manager"], 1.0))
    mem, box = extra.get("memory manager"), extra.get("memory cachebox.TTLCache")
    if mem is not None and box is not None:
        out.append(("manager bytes/entry / cachebox TTLCache <= 1.0", mem / box, 1.0))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark and print its tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--keys", type=int, default=1024)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--thread-calls", type=int, default=2_000_000,
                    help="calls per thread-throughput measurement, all threads together "
                         "(long against the interpreter's 5 ms switch interval)")
    ap.add_argument("--thread-rounds", type=int, default=5)
    ap.add_argument("--pin-threads", type=int, metavar="CPU",
                    help="run the thread rows on this one CPU (Linux): every switch of the "
                         "interpreter lock then stays on one core, which takes the other "
                         "processes of a shared machine out of the ratio")
    ap.add_argument("--memory-entries", type=int, default=1_000_000)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--cpu", action="store_true",
                    help="time the rows with this thread's CPU clock, not the wall clock")
    args = ap.parse_args(argv)
    clock = time.thread_time_ns if args.cpu else time.perf_counter_ns

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"fbacache core: {fbacache.CORE_IMPLEMENTATION}; python {sys.version.split()[0]}"
          f"{'' if gil else ' (free-threaded, GIL off)'}; "
          f"peers: cachebox {getattr(cachebox, '__version__', '-')}, "
          f"cachetools {getattr(cachetools, '__version__', '-')}, "
          f"theine {'yes' if theine is not None else '-'}")
    rows, state = build_rows(args.keys)
    check_hits(rows, state)
    for _ in range(args.rounds):
        for row in rows:
            row.time_round(args.calls, clock)
    check_hits(rows, state)
    times = {row.name: row.median for row in rows}

    extra: Dict[str, Optional[float]] = {}
    keys = state["keys"]
    subjects: Dict[str, Callable[[str], Any]] = {"threads manager": state["manager"].get}
    if cachebox is not None:
        box = cachebox.TTLCache(4 * len(keys), TTL)
        for k in keys:
            box.insert(k, k)
        subjects["threads cachebox"] = box.get
    # the ceiling under the GIL: a builtin lookup that takes no lock and writes nothing
    subjects["threads dict.get"] = {k: k for k in keys}.get
    affinity = os.sched_getaffinity(0) if args.pin_threads is not None else None
    if affinity is not None:
        os.sched_setaffinity(0, {args.pin_threads})
    try:
        extra.update(thread_ratios(subjects, keys, args.threads, args.thread_calls,
                                   args.thread_rounds))
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    if not args.no_memory:
        for kind in ("manager", "fbacache.TTLCache", "cachebox.TTLCache"):
            if kind.startswith("cachebox") and cachebox is None:
                continue
            extra[f"memory {kind}"] = memory_per_entry(kind, args.memory_entries)

    print(f"\nns per call ({'thread CPU' if args.cpu else 'wall'} clock), {args.keys} resident keys, "
          f"median of {args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f}")
    print(f"{'call':42} {'ns':>8}")
    for name, ns in times.items():
        print(f"{name:42} {ns:8.1f}")
    print(f"\n{args.threads} threads / 1 thread, aggregate get throughput "
          f"(median of {args.thread_rounds} interleaved rounds"
          f"{'' if args.pin_threads is None else f', on CPU {args.pin_threads} only'})")
    for name in ("threads manager", "threads cachebox", "threads dict.get"):
        if extra.get(name) is not None:
            print(f"{name[8:]:42} {extra[name]:8.2f}")
    if not args.no_memory:
        print(f"\nbytes per str -> str entry above the keys, {args.memory_entries} entries")
        for kind in ("manager", "fbacache.TTLCache", "cachebox.TTLCache"):
            v = extra.get(f"memory {kind}")
            if v is not None:
                print(f"{kind:42} {v:8.1f}")
    print("\ntargets (issue 13)")
    results = targets(times, extra, {row.name: row.samples for row in rows})
    for desc, value, limit in results:
        print(f"{desc:62} {value:8.2f}  {'pass' if value <= limit else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times_ns": times, "extra": extra,
                       "samples": {r.name: r.samples for r in rows},
                       "targets": [list(r) for r in results]}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
