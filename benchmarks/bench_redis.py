"""Redis backends: CacheManager overhead over raw redis-py, batches, tiered propagation.

Command (starts its own private redis-server on a free loopback port)::

    .venv/bin/python benchmarks/bench_redis.py               # ~1 minute
    .venv/bin/python benchmarks/bench_redis.py --quick       # smoke run, a few seconds
    .venv/bin/python benchmarks/bench_redis.py --rounds 81   # more rounds, steadier medians

Like with like: our side is ``CacheManager.from_url(url, key_prefix="bench")``, the backend as a
user configures it (msgpack, the default pool: a ``BlockingConnectionPool`` of 32, redis-py's own
retries off). The baseline is a raw ``redis.Redis`` on a pool with exactly those settings
(:func:`fbacache.backends.redis.client.make_client`), reading and writing keys of the same length
(namespace ``bencr`` instead of ``bench``) holding the very bytes our backend stores (envelope +
codec frame + msgpack), so both sides move the same bytes over the same kind of connection:

- ``get``: ``cache.get(k)`` vs raw ``GET`` (raw returns the stored bytes, decodes nothing);
- ``set``: ``cache.set(k, value, ttl=60)`` vs raw ``SET k bytes PX 60000`` (bytes prebuilt);
- ``get_many(100)``: one ``MGET`` on both sides;
- ``set_many(100)``: 100 ``SET PX`` in one non-transactional pipeline on both sides (Redis has no
  ``MSET`` with an expiry; ``MULTI``/``EXEC`` is not sent by either side).

Rows marked ``(info)`` have no target: raw ``GET``/``MGET`` + ``msgpack.unpackb`` (what a
raw-redis-py user caching objects pays: the targets' baselines decode nothing), raw ``SET``
through ``execute_command`` (the command as our backend sends it, without ``Redis.set``'s
option checks), the signed manager (HMAC-SHA256, see docs/threat-model.md), redis-py's
default client (``redis.Redis.from_url``: a non-blocking pool), a tiered L1 hit, and the
propagation time of a tiered invalidation to another process.

Measurement: every pair runs in interleaved rounds (baseline, ours, baseline, ours, ...; the
order alternates between rounds) in this one process; each figure is the median over rounds of
wall-clock ns per call, and each ratio the median of the per-round ratios, so a burst of load on
the shared machine hits both sides of a ratio alike. The targets are on the wall-clock ratio.
"CPU ratio" is the same median of this thread's CPU time (``time.thread_time_ns``): it leaves
out the server and the scheduler, so it shows the client-side Python we add with far less
noise than the wall clock on a loaded machine. The load average is printed with the table.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgpack
import redis

from fbacache import CacheManager
from fbacache.backends.redis.client import KeyCodec, RedisOptions, make_client
from fbacache.testing import RedisServer

VALUE = {"id": 12345, "name": "benchmark user", "tags": ["a", "b", "c"], "score": 0.75}
SIGNING_KEY = b"bench-signing-key-0123456789abcdef"
BATCH = 100


@dataclass
class Pair:
    """One row: a baseline and our call, timed in interleaved rounds."""

    name: str
    base: Callable[[], object]
    ours: Callable[[], object]
    calls: int                      # calls of each side per round
    per: int = 1                    # items per call (ns per item = ns per call / per)
    target: float | None = None     # ratio ours/base that must not be exceeded
    base_ns: list[float] = field(default_factory=list)
    ours_ns: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)


def timed(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """``(wall-clock ns, this thread's CPU ns)`` per call of ``calls`` calls of ``fn`` (the
    cyclic GC off, as in timeit)."""
    gc.disable()
    try:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        for _ in range(calls):
            fn()
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        return (t1 - t0) / calls, (c1 - c0) / calls
    finally:
        gc.enable()


def run_rounds(pairs: list[Pair], rounds: int) -> None:
    """Interleave every pair's two sides, alternating which goes first each round."""
    for pair in pairs:  # warm both sides (connections made, code paths hot)
        timed(pair.base, max(1, pair.calls // 10))
        timed(pair.ours, max(1, pair.calls // 10))
    for r in range(rounds):
        for pair in pairs:
            if r % 2:
                o, o_cpu = timed(pair.ours, pair.calls)
                b, b_cpu = timed(pair.base, pair.calls)
            else:
                b, b_cpu = timed(pair.base, pair.calls)
                o, o_cpu = timed(pair.ours, pair.calls)
            pair.base_ns.append(b)
            pair.ours_ns.append(o)
            pair.ratios.append(o / b)
            pair.cpu_ratios.append(o_cpu / b_cpu)


def report(pairs: list[Pair], title: str) -> bool:
    """Print the table of ``pairs``; True if every target holds."""
    print(f"\n### {title}\n")
    print("| operation | raw redis-py ns | CacheManager ns | ratio | target | | CPU ratio |")
    print("|---|---:|---:|---:|---:|---|---:|")
    ok = True
    for p in pairs:
        base = statistics.median(p.base_ns)
        ours = statistics.median(p.ours_ns)
        ratio = statistics.median(p.ratios)
        if p.target is None:
            target, verdict = "(info)", ""
        else:
            target = f"<= {p.target:.2f}"
            verdict = "PASS" if ratio <= p.target else "FAIL"
            ok = ok and ratio <= p.target
        cpu = statistics.median(p.cpu_ratios)
        print(f"| {p.name} | {base:,.0f} | {ours:,.0f} | {ratio:.3f} | {target} | {verdict} "
              f"| {cpu:.3f} |")
    return ok


def peer(url: str) -> None:
    """Child mode: hold key 'p' in L1, report when an invalidation dropped it."""
    cache = CacheManager.from_url(url, tiered=True, key_prefix="bench")
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
    cache = CacheManager.from_url(url, tiered=True, key_prefix="bench")
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


def build_pairs(url: str, quick: bool) -> tuple[list[Pair], list[Pair], list[Any]]:
    """The timed pairs (targets, info) and the objects to close afterwards."""
    cache = CacheManager.from_url(url, key_prefix="bench")
    signed = CacheManager.from_url(url, key_prefix="bench", signing_key=SIGNING_KEY,
                                   serialization_format="msgpack")
    # The baseline: redis-py on a pool configured exactly as our backend's (same options).
    raw = make_client(RedisOptions.from_config({"url": url}, "bencr"))
    default_raw = redis.Redis.from_url(url)
    ours_codec, raw_codec = KeyCodec("bench"), KeyCodec("bencr")
    assert len(ours_codec.prefix) == len(raw_codec.prefix)

    keys = [f"k{i:03d}" for i in range(BATCH)]
    cache.set_many({k: VALUE for k in keys}, ttl=3600)
    signed.set("s1", VALUE, ttl=3600)
    # The bytes our backend stores for VALUE (envelope + frame + msgpack), under raw keys.
    stored = raw.get(ours_codec.encode(keys[0]))
    assert stored is not None and stored.endswith(msgpack.packb(VALUE))
    raw_keys = [raw_codec.encode(k) for k in keys]
    for rk in raw_keys:
        raw.set(rk, stored, px=3_600_000)
    rk0 = raw_keys[0]
    k0 = keys[0]
    items = {k: VALUE for k in keys}
    unpackb = msgpack.unpackb

    def raw_set_many() -> None:
        pipe = raw.pipeline(transaction=False)
        for rk in raw_keys:
            pipe.set(rk, stored, px=60_000)
        pipe.execute()

    n = 100 if quick else 300
    nb = 5 if quick else 20
    targets = [
        Pair("get", lambda: raw.get(rk0), lambda: cache.get(k0), n, target=1.15),
        Pair("set (PX)", lambda: raw.set(rk0, stored, px=60_000),
             lambda: cache.set(k0, VALUE, ttl=60), n, target=1.15),
        Pair(f"get_many({BATCH}) vs MGET", lambda: raw.mget(raw_keys),
             lambda: cache.get_many(keys), nb, per=BATCH, target=1.2),
        Pair(f"set_many({BATCH}) vs pipelined SET PX", raw_set_many,
             lambda: cache.set_many(items, ttl=60), nb, per=BATCH, target=1.2),
    ]
    info = [
        Pair("get vs GET + msgpack.unpackb", lambda: unpackb(raw.get(rk0)[2:]),
             lambda: cache.get(k0), n),
        Pair(f"get_many({BATCH}) vs MGET + unpackb each",
             lambda: [unpackb(b[2:]) for b in raw.mget(raw_keys)],
             lambda: cache.get_many(keys), nb, per=BATCH),
        Pair("set vs execute_command('SET', k, v, 'PX', ms)",
             lambda: raw.execute_command("SET", rk0, stored, "PX", 60_000),
             lambda: cache.set(k0, VALUE, ttl=60), n),
        Pair("signed get", lambda: raw.get(rk0), lambda: signed.get("s1"), n),
        Pair("signed set", lambda: raw.set(rk0, stored, px=60_000),
             lambda: signed.set("s1", VALUE, ttl=60), n),
        Pair("get vs redis-py default client GET", lambda: default_raw.get(rk0),
             lambda: cache.get(k0), n),
    ]
    assert cache.get(k0) == VALUE and signed.get("s1") == VALUE
    assert unpackb(raw.get(rk0)[2:]) == VALUE
    assert len(cache.get_many(keys)) == BATCH and len(raw.mget(raw_keys)) == BATCH
    return targets, info, [cache, signed, raw, default_raw]


def tiered_pair(url: str, quick: bool) -> tuple[Pair, Any]:
    """A tiered L1 hit vs a raw GET (built last: its subscriber thread would run beside
    the other rows)."""
    tiered = CacheManager.from_url(url, tiered=True, key_prefix="bench")
    raw = make_client(RedisOptions.from_config({"url": url}, "bencr"))
    rk0 = KeyCodec("bencr").encode("k000")
    tiered.set("t1", VALUE, ttl=3600)
    tiered.get("t1")  # L1 filled
    assert tiered.get("t1") == VALUE and raw.get(rk0) is not None
    pair = Pair("tiered get, L1 hit", lambda: raw.get(rk0), lambda: tiered.get("t1"),
                100 if quick else 300)
    return pair, (tiered, raw)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables; 0 if every target holds, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few calls and rounds (smoke test)")
    ap.add_argument("--rounds", type=int, default=41, help="interleaved rounds (default 41)")
    ap.add_argument("--no-propagation", action="store_true",
                    help="skip the tiered invalidation timing (a second process)")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer:
        peer(args.peer)
        return 0
    rounds = 3 if args.quick else args.rounds
    with RedisServer() as server:
        targets, info, closing = build_pairs(server.url, args.quick)
        load0 = os.getloadavg()
        run_rounds(targets + info, rounds)
        tiered, more = tiered_pair(server.url, args.quick)
        run_rounds([tiered], rounds)
        info.append(tiered)
        closing.extend(more)
        load1 = os.getloadavg()
        print(f"redis-server {'.'.join(map(str, server.version))}, redis-py {redis.__version__},"
              f" Python {sys.version.split()[0]}, loopback; {rounds} interleaved rounds; "
              f"load average {load0[0]:.2f} before, {load1[0]:.2f} after")
        ok = report(targets, "targets (issue 13): ns per call, median of rounds")
        report(info, "for information: ns per call")
        for t in targets[2:]:
            print(f"{t.name}: {statistics.median(t.ours_ns) / t.per:,.0f} ns per item "
                  f"(raw {statistics.median(t.base_ns) / t.per:,.0f})")
        if not args.no_propagation:
            lat = sorted(propagation(server.url, 20 if args.quick else 200))
            p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3
            print(f"\ntiered invalidation, set() here -> L1 dropped in another process "
                  f"({len(lat)} sets): median {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, "
                  f"max {lat[-1] * 1e3:.2f} ms")
        for obj in closing:
            obj.close()
    print("\nall targets hold" if ok else "\nsome targets do not hold")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
