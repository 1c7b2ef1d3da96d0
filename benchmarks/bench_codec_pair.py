"""A codec hit's two halves, apart and together (issue 13, sixth pass in README.md).

Command::

    .venv/bin/python benchmarks/bench_codec_pair.py [--rounds 9] [--keys 1024] [--calls 100000]

For pickle and msgpack, four loops over the same ``(key, payload)`` pairs, timed with
the thread's CPU clock in interleaved rounds (median shown): ``L`` the loop alone,
``A`` the serializer's ``loads`` of the payload, ``B`` a plain ``CacheManager().get``
of the key, ``C`` both in one iteration. ``C - A - B + L`` is what running the two
back to back costs beyond their sum: on the 2-core VM of the sixth pass it was
~170-280 ns for pickle and ~80-110 ns for msgpack (their code together overflows sets
of the instruction cache; see the README). No fbacache codec code runs here.
"""
from __future__ import annotations

import argparse
import functools
import gc
import os
import pickle
import statistics
import sys
import time
from typing import Any, List, Optional

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _peers import compile_loop  # noqa: E402

from fbacache import CacheManager  # noqa: E402

VALUE = {"id": 7, "name": "widget", "price": 19.99, "tags": ["a", "b"]}


def _formats() -> List[tuple]:
    out = [("pickle", functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL),
            pickle.loads, "f(k[1])")]
    try:
        import msgpack
    except ImportError:
        return out
    out.append(("msgpack", functools.partial(msgpack.packb, use_bin_type=True),
                msgpack.unpackb, "f(k[1], raw=False, strict_map_key=False)"))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the four loops per format and print the excess of running both halves together."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--keys", type=int, default=1024)
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args(argv)
    keys = [f"key:{i}" for i in range(args.keys)]
    plain = CacheManager(default_ttl=3600)
    for k in keys:
        plain.set(k, k)
    rows: List[tuple] = []
    for fmt, dumps, loads, call in _formats():
        pairs = [(k, dumps(VALUE)) for k in keys]  # one payload object per key
        target: Any = (plain.get, loads)
        bodies = {"L": "k[0]; k[1]", "A": "k[0]; " + call, "B": "g(k[0]); k[1]",
                  "C": "g(k[0]); " + call}
        for tag, body in bodies.items():
            rows.append((fmt, tag, compile_loop("g, f = c", body), target, pairs, []))
    reps = max(1, args.calls // len(keys))
    for _ in range(args.rounds):
        for _fmt, _tag, run, target, pairs, samples in rows:
            seq = pairs * reps
            gc.disable()
            try:
                elapsed, _ = run(target, seq, None, time.thread_time_ns)
            finally:
                gc.enable()
            samples.append(elapsed / len(seq))
    print(f"ns per iteration (thread CPU clock), median of {args.rounds} interleaved rounds; "
          f"load average {os.getloadavg()[0]:.2f}")
    for fmt in dict.fromkeys(r[0] for r in rows):
        s = {tag: samples for f, tag, _r, _t, _p, samples in rows if f == fmt}
        excess = statistics.median(c - a - b + l for l, a, b, c in
                                   zip(s["L"], s["A"], s["B"], s["C"]))
        med = {tag: statistics.median(v) for tag, v in s.items()}
        print(f"{fmt:8} L {med['L']:6.0f}  A (loads) {med['A']:6.0f}  B (get) {med['B']:5.0f}  "
              f"C (both) {med['C']:6.0f}  C-A-B+L {excess:5.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
