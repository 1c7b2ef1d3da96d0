"""pytest-benchmark version of bench_app.py: the application path next to its peers (issue 13).

Command (from the repository root; not part of the default test run)::

    .venv/bin/pytest benchmarks/test_bench_app.py --benchmark-enable

Every row of bench_app.py's speed table is one benchmark here, built by the same code
(``bench_app.build_rows``: the same caches, keys and generated loops, every call a hit),
grouped so that each group compares the calls a user chooses between:

* ``decorator hit``: ``functools.lru_cache``, ``cachebox.cached``, ``cachetools.cached``
  with a lock, theine's ``Memoize`` and ``fbacache.cached``, default settings;
* ``get hit``, ``set``, ``get_or_set hit``: ``CacheManager`` (default, LRU and adaptive
  bounded at the same capacity) and cachebox's ``TTLCache``;
* ``codec pickle`` / ``codec msgpack`` / ``codec json``: ``CacheManager(serialization_format=F).get``
  next to ``F``'s own ``loads`` of the same payload.

Peers that are not installed are skipped. Each benchmark checks afterwards that its cache
still hits (a table of misses measures nothing). The ratio targets are judged by
bench_app.py, which times the rows in interleaved rounds; pytest-benchmark times each row
in its own block, so its ratios are noisier on a shared machine.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

import bench_app
from _peers import now_ns

KEYS = 1024
CALLS = 100_000
ROUNDS = 5

ROW_NAMES = [
    "functools.lru_cache hit", "cachebox.cached(TTLCache) hit",
    "cachetools.cached(TTLCache, Lock) hit", "theine Memoize hit", "fbacache.cached hit",
    "cachebox.TTLCache.get", "CacheManager().get hit", "CacheManager(lru).get hit",
    "CacheManager(adaptive).get hit",
    "cachebox.TTLCache.insert", "CacheManager().set", "CacheManager(lru).set",
    "CacheManager(adaptive).set",
    "CacheManager().get_or_set hit", "CacheManager(lru).get_or_set hit",
    "CacheManager(adaptive).get_or_set hit",
    "CacheManager(pickle).get hit", "pickle loads alone",
    "CacheManager(msgpack).get hit", "msgpack loads alone",
    "CacheManager(json).get hit", "json loads alone",
]


def group_of(name: str) -> str:
    """The comparison a row belongs to (see the module docstring)."""
    for fmt in ("pickle", "msgpack", "json"):
        if name.startswith((f"CacheManager({fmt})", f"{fmt} ")):
            return f"codec {fmt}"
    if name.endswith("get_or_set hit"):
        return "get_or_set hit"
    if name.endswith((".get hit", "TTLCache.get")):
        return "get hit"
    if name.endswith((".set", ".insert")):
        return "set"
    return "decorator hit"


@pytest.fixture(scope="module")
def table() -> Tuple[Dict[str, Any], Dict[str, Any]]:
    rows, state = bench_app.build_rows(KEYS)
    bench_app.check_hits(rows, state)
    return {row.name: row for row in rows}, state


def test_every_row_has_a_group() -> None:
    """A row added to bench_app.py without a place here would silently not be measured."""
    rows, _ = bench_app.build_rows(8)
    assert {row.name for row in rows} <= set(ROW_NAMES)
    assert {group_of(n) for n in ROW_NAMES} == {
        "decorator hit", "get hit", "set", "get_or_set hit",
        "codec pickle", "codec msgpack", "codec json"}


@pytest.mark.parametrize("name", ROW_NAMES)
def test_row(benchmark: Any, table: Tuple[Dict[str, Any], Dict[str, Any]], name: str) -> None:
    """One row of bench_app.py's table, ``CALLS`` calls per round."""
    rows, state = table
    if name not in rows:
        pytest.skip(f"{name}: its library is not installed")
    row = rows[name]
    benchmark.group = group_of(name)
    seq: List[Any] = row.keys * max(1, CALLS // len(row.keys))
    benchmark.extra_info["calls_per_round"] = len(seq)
    benchmark.pedantic(row.run, args=(row.obj, seq, row.arg, now_ns),
                       rounds=ROUNDS, iterations=1, warmup_rounds=1)
    bench_app.check_hits(list(rows.values()), state)
