"""Edge cases of the core index, run on both implementations."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

from fbacache import _core

POLICIES = ["lru", "lfu", "fifo", "random", "probability"]


@pytest.mark.parametrize("policy", POLICIES)
def test_zero_capacity_rejects_every_item(Index, policy):
    idx = Index(policy, max_entries=0)
    with pytest.raises(ValueError, match="too large"):
        idx.set("k", 1)
    assert len(idx) == 0
    idx._check()


@pytest.mark.parametrize("policy", POLICIES)
def test_item_heavier_than_capacity_raises_and_changes_nothing(Index, policy):
    idx = Index(policy, max_weight=10)
    idx.set("a", 1, weight=6)
    with pytest.raises(ValueError):
        idx.set("b", 2, weight=11)
    with pytest.raises(ValueError):
        idx.set("a", 2, weight=11)
    assert idx.items() == [("a", 1)] and idx.currsize == 6
    idx._check()


def test_negative_weight_rejected(Index):
    with pytest.raises(ValueError):
        Index("lru").set("a", 1, weight=-1)


def test_unknown_policy_rejected(Index):
    with pytest.raises(ValueError, match="unknown eviction policy"):
        Index("mru")


@pytest.mark.parametrize("policy", POLICIES)
def test_unhashable_key_is_a_type_error_and_leaves_index_intact(Index, policy):
    idx = Index(policy, max_entries=3)
    idx.set("a", 1)
    for op in (lambda: idx.set([1], 2), lambda: idx.get({}), lambda: idx.delete([]),
               lambda: [] in idx):
        with pytest.raises(TypeError):
            op()
    assert idx.items() == [("a", 1)]
    idx._check()


class RaisingEq:
    """A key whose equality test fails; it collides with every other instance."""

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing me")


@pytest.mark.parametrize("policy", POLICIES)
def test_key_with_raising_eq_does_not_corrupt_the_index(Index, policy):
    idx = Index(policy, max_entries=4)
    first = RaisingEq()
    idx.set(first, "first")  # no comparison needed: empty slot
    assert idx.get(first) == "first"  # identity short-cut, no __eq__
    other = RaisingEq()
    for op in (lambda: idx.set(other, "x"), lambda: idx.get(other), lambda: idx.delete(other)):
        with pytest.raises(RuntimeError):
            op()
    idx._check()
    assert len(idx) == 1 and idx.get(first) == "first"
    for i in range(10):  # still fully usable, including evicting the odd key
        idx.set(f"k{i}", i)  # (an int 7 would collide with it and raise, as in a dict)
        idx._check()
    assert len(idx) == 4


class Reentrant:
    """A key whose __eq__ mutates the index it is being looked up in."""

    def __init__(self, idx, tag):
        self.idx, self.tag = idx, tag

    def __hash__(self):
        return 99

    def __eq__(self, other):
        for i in range(50):  # forces table rebuilds in the middle of a lookup
            self.idx.set(("noise", self.tag, i), i)
        return isinstance(other, Reentrant) and other.tag == self.tag


@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_eq_that_mutates_the_index_restarts_the_lookup(Index, policy):
    idx = Index(policy, max_entries=40)
    a = Reentrant(idx, "a")
    idx.set(a, "A")
    b = Reentrant(idx, "b")
    assert idx.get(b) is None  # compared with a, which inserted noise meanwhile
    idx._check()
    assert len(idx) <= 40


class Haunted:
    """A value whose finaliser writes to the index that is dropping it."""

    def __init__(self, idx, n):
        self.idx, self.n = idx, n

    def __del__(self):
        if self.n < 30:
            self.idx.set(("ghost", self.n), Haunted(self.idx, self.n + 100))


@pytest.mark.parametrize("policy", POLICIES)
def test_finalisers_of_evicted_values_may_use_the_index(Index, policy):
    idx = Index(policy, max_entries=5, seed=3)
    for n in range(40):
        idx.set(n, Haunted(idx, n))
        idx._check()
    idx.delete(39)
    idx.clear()
    idx._check()


def test_value_referring_to_its_cache_is_collected(Index):
    idx = Index("lru", max_entries=10)
    idx.set("self", idx)
    ref = weakref.ref(idx)
    del idx
    gc.collect()
    assert ref() is None, "a reference cycle through a cached value was not collected"


def test_expired_entries_are_never_returned_and_go_lazily(Index, clock):
    idx = Index("lru", timer=clock)
    idx.set("a", 1, expires_at=clock.now + 10)
    idx.set("b", 2)
    clock.now += 10
    assert idx.get("a") is None and "a" not in idx
    assert idx.expirations == 1 and len(idx) == 1
    assert idx.keys() == ["b"]
    idx._check()


def test_clock_going_backwards_keeps_entries_alive(Index, clock):
    idx = Index("lru", timer=clock)
    idx.set("a", 1, expires_at=clock.now + 5)
    clock.now -= 1000
    assert idx.get("a") == 1
    clock.now += 2000
    assert idx.expire() == [("a", 1)]
    idx._check()


def test_expire_sweep_visits_only_what_expired(Index, clock):
    idx = Index("lru", timer=clock)
    for i in range(1000):
        idx.set(i, i, expires_at=clock.now + (1 if i < 10 else 1e9))
    clock.now += 5
    assert sorted(idx.expire()) == [(i, i) for i in range(10)]
    assert len(idx) == 990 and idx.expirations == 10
    idx._check()


def test_set_expiry_and_expiry(Index, clock):
    idx = Index("lfu", timer=clock)
    idx.set("a", 1)
    assert idx.expiry("a") is None
    assert idx.set_expiry("a", clock.now + 3)
    assert idx.expiry("a") == clock.now + 3
    assert idx.set_expiry("a", None) and idx.expiry("a") is None
    assert not idx.set_expiry("zz", 1.0)
    with pytest.raises(KeyError):
        idx.expiry("zz")


def test_full_cache_sweeps_expired_entries_before_evicting(Index, clock):
    idx = Index("lru", max_entries=3, timer=clock)
    idx.set("old", 0, expires_at=clock.now + 1)
    idx.set("a", 1)
    idx.set("b", 2)
    clock.now += 2
    idx.set("c", 3)
    assert sorted(idx.keys()) == ["a", "b", "c"]
    assert idx.evictions == 0 and idx.expirations == 1


def test_lfu_ties_go_to_the_least_recently_used(Index):
    idx = Index("lfu", max_entries=3)
    for k in "abc":
        idx.set(k, k)
    idx.get("a")
    idx.get("b")
    idx.get("c")  # all at frequency 2; "a" is the least recent
    assert idx.victims_for() == ["a"]
    idx.set("d", "d")
    assert "a" not in idx and idx.keys()[0] == "d"


def test_probability_policy_evicts_lowest(Index):
    idx = Index("probability", max_entries=3, default_probability=0.5)
    for k in "abc":
        idx.set(k, k)
    assert idx.set_probabilities({"a": 0.9, "b": 0.1, "zz": 0.0}) == 2
    assert idx.victims_for() == ["c"] or idx.victims_for() == ["b"]
    assert idx.victims_for() == ["b"]
    idx.set("d", "d")
    assert "b" not in idx
    with pytest.raises(TypeError):
        Index("lru").set_probability("a", 0.1)


def test_random_policy_is_uniform_and_seedable(Index):
    counts = {k: 0 for k in range(10)}
    for seed in range(2000):
        idx = Index("random", max_entries=10, seed=seed)
        for k in range(10):
            idx.set(k, k)
        (victim, _), = idx.evict(1)
        counts[victim] += 1
    assert min(counts.values()) > 120 and max(counts.values()) < 280
    a, b = Index("random", max_entries=5, seed=42), Index("random", max_entries=5, seed=42)
    for idx in (a, b):
        for k in range(50):
            idx.set(k, k)
    assert a.keys() == b.keys()


def test_victims_for_predicts_exactly_what_set_evicts(Index):
    for policy in POLICIES:
        idx = Index(policy, max_weight=20, seed=5)
        for k in range(12):
            idx.set(k, k, weight=(k % 3) + 1)
            idx.get(k // 2)
        predicted = idx.victims_for(7)
        before = set(idx.keys())
        idx.set("new", 0, weight=7)
        assert before - set(idx.keys()) == set(predicted), policy


def test_on_evict_sees_capacity_evictions_only(Index, clock):
    seen = []
    idx = Index("lru", max_entries=2, timer=clock)
    idx.on_evict = lambda k, v: seen.append((k, v))
    idx.set("x", 0, expires_at=clock.now + 1)
    idx.set("a", 1)
    clock.now += 5
    idx.set("b", 2)  # "x" expired: swept, not evicted
    idx.set("c", 3)
    idx.delete("c")
    assert seen == [("a", 1)]


@pytest.mark.skipif(not _core.NATIVE, reason="compiled core not built")
def test_a_million_inserts_with_evictions_leave_memory_flat():
    code = r"""
import psutil, sys
from fbacache._core import Index
idx = Index("lru", max_entries=10_000)
proc = psutil.Process()
for i in range(200_000):
    idx[i] = i
before = proc.memory_info().rss
for i in range(200_000, 1_200_000):
    idx[i] = i
after = proc.memory_info().rss
idx._check()
print(after - before)
"""
    growth = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True, env={**os.environ}).stdout.strip())
    assert growth < 2 * 1024 * 1024, f"RSS grew by {growth} bytes over 10^6 evicting inserts"


def test_adaptive_window_stays_bounded_with_more_keys_than_capacity(Index):
    """Weight-0 keys let a weight-bounded index hold more keys than the policy's
    capacity; growing the window must not push it past its maximum (found by the
    twin state machine: max_weight=22, one weight-0 key, then a Pareto burst)."""
    import random

    idx = Index("adaptive", max_weight=22, timer=lambda: 0.0, seed=0)
    idx.set(0, 0, 0)
    rng = random.Random(0)
    for _ in range(2000):
        k = int(rng.paretovariate(1.0)) % 60 - 10
        if idx.get(k) is None:
            idx[k] = k
        idx._check()
    assert len(idx) == 23 and idx.currsize == 22


def _int_boundaries():
    """Ints at every digit and hash-modulus edge (30-bit digits, modulus 2**61 - 1)."""
    out = {0, 1, -1, -2, 2, 7}
    for bits in (29, 30, 31, 59, 60, 61, 62, 63, 64, 89, 90, 91, 120):
        for delta in (-2, -1, 0, 1, 2):
            out.update({2**bits + delta, -(2**bits + delta)})
    modulus = 2**61 - 1
    for k in (1, 2, 3, 2**29, 2**29 + 1):
        out.update({k * modulus, k * modulus - 1, k * modulus + 1, -k * modulus, -k * modulus - 1})
    return sorted(out)


@pytest.mark.parametrize("policy", ["lru", "random"])
def test_int_keys_meet_their_equals_of_other_types(Index, policy):
    """An int key is found by an equal Decimal/float/bool and the other way round.

    The compiled core hashes exact ints (and str) without calling hash(); this
    proves its result is Python's own hash at every digit and modulus boundary.
    """
    from decimal import Decimal

    idx = Index(policy, max_entries=8)
    for k in _int_boundaries():
        for twin in {Decimal(k), float(k) if float(k) == k else Decimal(k)}:
            idx.clear()
            idx.set(k, "int")
            assert idx.get(twin) == "int", k
            idx.set(twin, "other")  # replaces: the same key
            assert len(idx) == 1 and idx.get(k) == "other", k
            assert idx.delete(twin) and len(idx) == 0
    idx.set(True, "bool")
    assert idx.get(1) == "bool" and idx.get(1.0) == "bool"
    idx._check()


def test_str_keys_with_and_without_a_cached_hash(Index):
    idx = Index("lru", max_entries=4)
    fresh = "".join(["ke", "y"])  # built at run time: no hash computed yet
    idx.set(fresh, 1)
    assert idx.get("key") == 1
    idx.set("".join(["k", "ey"]), 2)
    assert len(idx) == 1 and idx.get("key") == 2
    idx._check()
