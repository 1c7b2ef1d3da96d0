"""Tests of the adaptive policy: its reference twin driven through its protocol, and the
behaviour (scan resistance, loops, recency adaptation) through the public
``fbacache.AdaptiveCache`` on the compiled core and on the twin.

The protocol driver mimics the core's index: a dict of residents, ``miss`` + ``insert`` on a
missed lookup, ``access`` on a hit, ``victim``/``remove`` while over capacity.
"""
from __future__ import annotations

import os
import random

import pytest

import fbacache
from fbacache import _core
from fbacache._core import PyIndex
from fbacache._core._adaptive_py import M64, AdaptivePolicy, FrequencySketch, key_hash, mix64
from fbacache.caches import _cache_base

STRESS = float(os.environ.get("FBACACHE_STRESS", "1"))


class Driver:
    """Minimal index: residents + policy, "get, and on a miss insert"."""

    def __init__(self, capacity: int, seed: int = 1) -> None:
        self.capacity = capacity
        self.p = AdaptivePolicy(capacity, seed)
        self.resident: set = set()
        self.hits = 0

    def request(self, key: object) -> bool:
        if key in self.resident:
            self.p.access(key)
            self.hits += 1
            return True
        self.p.miss(key)
        self.insert(key)
        return False

    def insert(self, key: object) -> None:
        self.evict(1)  # like the index: make room first, then insert
        self.p.insert(key)
        self.resident.add(key)

    def evict(self, room: int = 0) -> None:
        while self.resident and len(self.resident) + room > self.capacity:
            v = self.p.victim()
            assert v in self.resident
            self.p.remove(v)
            self.resident.discard(v)

    def delete(self, key: object) -> None:
        self.p.remove(key)
        self.resident.discard(key)


class _TwinAdaptiveCache(_cache_base(PyIndex)):  # type: ignore[misc]
    """``fbacache.AdaptiveCache``'s mapping layer on the pure-Python twin core."""

    _policy_name = "adaptive"


class PublicDriver:
    """The same requests through the public mapping class: ``get``, and on a miss set."""

    def __init__(self, cls: type, capacity: int, seed: int = 1) -> None:
        self.cache = cls(capacity, seed=seed)
        self.hits = 0
        self._miss = object()

    def request(self, key: object) -> bool:
        if self.cache.get(key, self._miss) is self._miss:
            self.cache[key] = key
            return False
        self.hits += 1
        return True

    @property
    def resident(self) -> set:
        return set(self.cache.keys())

    def check(self) -> None:
        self.cache._check()


def _policy_driver(capacity: int) -> Driver:
    d = Driver(capacity)
    d.check = lambda: d.p.check(d.resident)  # type: ignore[attr-defined]
    return d


@pytest.fixture(params=["policy", "c", "py"])
def make_driver(request: pytest.FixtureRequest):
    """A driver factory: the twin policy's protocol, or AdaptiveCache on each core."""
    if request.param == "policy":
        return _policy_driver
    if request.param == "c":
        if not _core.NATIVE:
            pytest.skip("compiled core not built")
        assert issubclass(fbacache.AdaptiveCache, _core.Index) and _core.Index is not PyIndex
        return lambda cap: PublicDriver(fbacache.AdaptiveCache, cap)
    return lambda cap: PublicDriver(_TwinAdaptiveCache, cap)


def test_mix64_is_64_bit_splitmix_finalizer() -> None:
    assert mix64(0) == 0
    assert mix64(1) == 0x5692161D100B05E5  # splitmix64 finalizer of 1
    for x in (1, 2**63, M64, 12345678901234567):
        assert 0 <= mix64(x) <= M64
    # dense small keys land far apart
    assert len({key_hash(i) >> 54 for i in range(256)}) > 150
    assert key_hash(-1) == mix64(hash(-1) & M64)


def test_sketch_counts_saturate_and_halve() -> None:
    sk = FrequencySketch(16)
    h = key_hash("k")
    for _ in range(20):
        sk.increment(h)
    assert sk.frequency(h) == 15
    other = [key_hash(i) for i in range(sk.sample_size)]
    for x in other:
        sk.increment(x)
        if sk.additions == 0 or sk.frequency(h) < 15:
            break
    assert sk.frequency(h) <= 7, "reset halves counters"
    assert key_hash("never") not in other and sk.frequency(key_hash("never")) <= 7


@pytest.mark.parametrize("capacity", [1, 2, 7, 64, 300])
def test_invariants_after_random_operations(capacity: int) -> None:
    rng = random.Random(capacity)
    d = Driver(capacity, seed=capacity)
    n = max(500, int(4000 * STRESS))
    universe = capacity * 3 + 5
    for step in range(n):
        r = rng.random()
        key = int(rng.paretovariate(1.1)) % universe if r < 0.8 else rng.randrange(universe)
        if r < 0.05 and d.resident:
            d.delete(rng.choice(sorted(d.resident)))
        elif r < 0.07:
            d.p.miss(key)  # a lookup that does not insert
        elif r < 0.075:
            new = max(1, capacity + rng.randrange(-capacity // 2 - 1, capacity + 2))
            d.p.resize(new)
            d.capacity = new
            d.evict()
        else:
            d.request(key)
        if step % 7 == 0 or capacity < 10:
            d.p.check(d.resident)
            assert sorted(d.p.order(), key=repr) == sorted(d.resident, key=repr)
    d.p.check(d.resident)
    d.p.clear()
    d.resident.clear()
    d.p.check(set())


def test_victim_is_pure_until_remove() -> None:
    d = Driver(50)
    for k in range(200):
        d.request(k % 70)
    d.p.insert("new")
    d.resident.add("new")
    first = d.p.victim()
    assert all(d.p.victim() == first for _ in range(5))
    d.evict()
    d.p.check(d.resident)


def test_same_seed_same_victims_and_seed_changes_nothing_without_jitter() -> None:
    rng = random.Random(7)
    keys = [rng.randrange(400) for _ in range(5000)]
    runs = []
    for seed in (3, 3):
        d = Driver(100, seed)
        trace = [d.request(k) for k in keys]
        runs.append((trace, d.p.order()))
    assert runs[0] == runs[1]


def test_scan_does_not_flush_hot_working_set(make_driver) -> None:
    """A long scan of one-time keys leaves a frequently used working set resident."""
    cap = 200
    d = make_driver(cap)
    hot = list(range(100))
    for _ in range(30):
        for k in hot:
            d.request(k)
    scan = max(5000, int(20000 * STRESS))
    for i in range(scan):
        d.request(("scan", i))
        if i % 50 == 0:
            d.request(hot[(i // 50) % len(hot)])  # the hot set stays in use, lightly
    resident = d.resident
    survivors = sum(1 for k in hot if k in resident)
    assert survivors >= 95, f"scan flushed the hot set: {survivors}/100 survived"
    d.check()
    hits_before = d.hits
    for k in hot:
        d.request(k)
    assert d.hits - hits_before >= 95


def test_loop_larger_than_cache_keeps_a_stable_part(make_driver) -> None:
    """A cyclic scan over more keys than fit: LRU gets nothing, the policy most of OPT."""
    cap, n = 100, 201
    d = make_driver(cap)
    for _ in range(60):
        for k in range(n):
            d.request(k)
    opt = (cap - 1) / n  # Belady keeps cap - 1 keys
    assert d.hits / (60 * n) > 0.8 * opt


def test_adapts_to_recency_on_shifting_working_sets(make_driver) -> None:
    """Working sets that move (recency-friendly) grow the window: near LRU's hit ratio."""
    cap = 500
    d = make_driver(cap)
    rng = random.Random(5)
    lru: dict = {}
    lru_hits = 0
    total = 120000  # a convergence check, not a stress loop: the climber needs this many requests
    for i in range(total):
        base = (i // 2000) * 300  # the working set of 400 keys drifts every 2000 requests
        k = base + rng.randrange(400)
        d.request(k)
        if k in lru:
            lru_hits += 1
            del lru[k]
        elif len(lru) >= cap:
            del lru[next(iter(lru))]
        lru[k] = None
    assert d.hits >= lru_hits - 0.02 * total, (d.hits, lru_hits)
    if isinstance(d, Driver):
        assert d.p.segment_sizes()["window_max"] > cap // 100, "the window never grew"


def test_negative_capacity_rejected() -> None:
    with pytest.raises(ValueError):
        AdaptivePolicy(-1, None)
    with pytest.raises(KeyError):
        AdaptivePolicy(3, None).victim()


def test_public_class_runs_on_the_compiled_core() -> None:
    """AdaptiveCache is built on the selected core (compiled unless FBACACHE_NO_EXTENSIONS)."""
    assert issubclass(fbacache.AdaptiveCache, _core.Index)
    assert fbacache.AdaptiveCache(3).policy == "adaptive"


@pytest.mark.parametrize("impl", ["c", "py"])
@pytest.mark.parametrize("weighted", [False, True])
def test_victims_for_predicts_what_set_evicts(impl: str, weighted: bool) -> None:
    """victims_for(w) names exactly the keys the next set of a new key evicts (duel included)."""
    if impl == "c" and not _core.NATIVE:
        pytest.skip("compiled core not built")
    Index = _core.Index if impl == "c" else PyIndex
    rng = random.Random(11)
    idx = Index("adaptive", max_entries=None if weighted else 40,
                max_weight=120 if weighted else None, seed=3)
    evicted: list = []
    idx.on_evict = lambda k, v: evicted.append(k)
    duels_lost = 0  # twin only: evictions where the candidate lost, not probation's head
    for i in range(max(2000, int(8000 * STRESS))):
        k = int(rng.paretovariate(1.1)) % 150
        w = rng.randrange(0, 6) if weighted else 1
        if idx.get(k) is not None:
            continue
        predicted = idx.victims_for(w)
        if impl == "py" and predicted:
            probation = idx._policy._segs[1]
            duels_lost += bool(probation) and next(iter(probation)).key is not predicted[0]
        evicted.clear()
        idx.set(k, k, w)
        assert evicted == predicted, (i, k, predicted, evicted)
        if i % 101 == 0:
            idx._check()
    if impl == "py":
        assert duels_lost > 0, "the trace never exercised the admission duel"
