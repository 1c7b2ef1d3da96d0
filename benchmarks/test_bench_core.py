"""pytest-benchmark version of bench_core.py: fbacache vs cachebox and cachetools per policy.

Command (from the repository root; not part of the default test run)::

    .venv/bin/pytest benchmarks/test_bench_core.py --benchmark-enable

Results are grouped per operation and policy (``--benchmark-group-by=group``
is the default), so each group compares the three libraries on the same
workload in the same session.  Sizes are a tenth of bench_core.py's so the
whole file runs in a few minutes; every test also checks what the cache did
(hits hit, evictions keep the capacity, the Zipf hit ratio is plausible).
"""
from __future__ import annotations

import random
from typing import Any, List

import pytest

from _peers import OP_TITLES, PEERS, TARGET_POLICIES, Peer, compile_loop, now_ns
from _zipf import scrambled_keys, zipf_keys

CAPACITY = 10_000
OPS = 100_000
ROUNDS = 5
LIBRARIES = ("fbacache", "cachebox", "cachetools")
MISS = object()

CONTENDERS = [p for p in PEERS if p.library in LIBRARIES and p.policy in TARGET_POLICIES]


class Workload:
    """Key sequences shared by every test of the session."""

    def __init__(self) -> None:
        rng = random.Random(7)
        self.resident = scrambled_keys(0, CAPACITY)
        self.hits = [self.resident[rng.randrange(CAPACITY)] for _ in range(OPS)]
        self.inserts = scrambled_keys(1 << 40, OPS)
        self.zipf = zipf_keys(OPS, OPS, 0.99, seed=7)


@pytest.fixture(scope="module")
def work() -> Workload:
    return Workload()


def _available(peer: Peer) -> Peer:
    if not peer.available():
        pytest.skip(f"{peer.module} is not installed")
    if peer.library == "fbacache":
        import fbacache

        if fbacache.CORE_IMPLEMENTATION != "c":
            pytest.skip("benchmarks need the compiled core (fbacache.CORE_IMPLEMENTATION == 'c')")
    return peer


def _filled(peer: Peer, keys: List[int]) -> Any:
    cache = peer.factory(CAPACITY)
    compile_loop(peer.bind, peer.set)(cache, keys, MISS, now_ns)  # type: ignore[arg-type]
    return cache


def _ids(peer: Peer) -> str:
    return peer.name


@pytest.mark.parametrize("peer", CONTENDERS, ids=_ids)
def test_get_hit(benchmark: Any, work: Workload, peer: Peer) -> None:
    """Lookups of resident keys (uniform over the 10k residents)."""
    _available(peer)
    benchmark.group = f"{OP_TITLES['hit']} {peer.policy}"
    cache = _filled(peer, work.resident)
    run = compile_loop(peer.bind, peer.hit)  # type: ignore[arg-type]
    # c[k] raises KeyError on a miss, so completing the loop proves every lookup hit
    benchmark.pedantic(run, args=(cache, work.hits, MISS, now_ns),
                       rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert len(cache) == CAPACITY


@pytest.mark.parametrize("peer", CONTENDERS, ids=_ids)
def test_set_with_eviction(benchmark: Any, work: Workload, peer: Peer) -> None:
    """Inserts of distinct keys into a full cache: every insert evicts."""
    _available(peer)
    benchmark.group = f"{OP_TITLES['set']} {peer.policy}"
    run = compile_loop(peer.bind, peer.set)  # type: ignore[arg-type]
    caches: List[Any] = []

    def setup() -> Any:
        caches.append(_filled(peer, work.resident))
        return (caches[-1], work.inserts, MISS, now_ns), {}

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    last = caches[-1]
    assert len(last) == CAPACITY
    assert work.inserts[-1] in last


@pytest.mark.parametrize("peer", CONTENDERS, ids=_ids)
def test_zipf_get_or_set(benchmark: Any, work: Workload, peer: Peer) -> None:
    """Zipf(0.99) get-or-set from a cold cache; records the hit ratio."""
    _available(peer)
    benchmark.group = f"{OP_TITLES['gos']} {peer.policy}"
    run = compile_loop(peer.bind, peer.gos)  # type: ignore[arg-type]

    def setup() -> Any:
        return (peer.factory(CAPACITY), work.zipf, MISS, now_ns), {}

    _, missed = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    hit_ratio = 1.0 - missed / len(work.zipf)
    benchmark.extra_info["hit_ratio"] = round(hit_ratio, 4)
    # 10k of 100k keys under Zipf(0.99): every policy here lands near 0.5-0.7
    assert 0.35 < hit_ratio < 0.85, hit_ratio
