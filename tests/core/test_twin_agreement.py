"""The compiled core and the pure-Python twin agree, step by step.

A hypothesis state machine per policy applies the same operations to both
implementations and compares every result, the contents in eviction order,
the sizes and the counters; ``_check()`` verifies each structure after every
step.  The RANDOM policy is included: both use the same seeded splitmix64
generator, so even its victims must agree.
"""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fbacache import _core
from fbacache._core import _index_py

pytestmark = pytest.mark.skipif(not _core.NATIVE, reason="compiled core not built")

KEYS = st.one_of(st.integers(0, 40), st.sampled_from(["a", "b", "c", (1, 2), 2.5, -1]))
WEIGHTS = st.integers(0, 6)


def _sorted_pairs(pairs):
    return sorted(pairs, key=repr)


def machine_for(policy: str):
    from fbacache._core import _index_c

    class Agreement(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.now = [100.0]
            self.pair = None

        @precondition(lambda self: self.pair is None)
        @rule(max_entries=st.one_of(st.none(), st.integers(1, 12)),
              max_weight=st.one_of(st.none(), st.integers(0, 30)),
              seed=st.integers(0, 2**64 - 1), default=st.floats(0, 1),
              item_ttl=st.one_of(st.none(), st.floats(0, 8)), log_evictions=st.booleans())
        def create(self, max_entries, max_weight, seed, default, item_ttl, log_evictions):
            clock = lambda: self.now[0]  # noqa: E731
            self.pair = [
                impl(policy, max_entries=max_entries, max_weight=max_weight, timer=clock,
                     seed=seed, default_probability=default)
                for impl in (_index_c.Index, _index_py.Index)
            ]
            self.evicted = ([], [])
            for log, idx in zip(self.evicted, self.pair):
                if log_evictions:  # without a callback a full index may hand slots over
                    idx.on_evict = lambda k, v, log=log: log.append((k, v))
                idx.item_ttl = item_ttl  # applies to index[key] = value only

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS, value=st.integers())
        def setitem(self, key, value):
            self.agree("__setitem__", key, value)

        def both(self, name, *args, **kwargs):
            out = []
            for idx in self.pair:
                try:
                    out.append(("ok", getattr(idx, name)(*args, **kwargs)))
                except (KeyError, ValueError, TypeError) as exc:
                    out.append(("raise", type(exc)))
            return out

        def agree(self, name, *args, normalise=lambda x: x, **kwargs):
            (ka, a), (kb, b) = self.both(name, *args, **kwargs)
            assert ka == kb, (name, args, a, b)
            if ka == "ok":
                assert normalise(a) == normalise(b), (name, args, a, b)

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS, value=st.integers(), weight=WEIGHTS,
              ttl=st.one_of(st.none(), st.floats(-1, 10)))
        def set(self, key, value, weight, ttl):
            expires = None if ttl is None else self.now[0] + ttl
            self.agree("set", key, value, weight, expires)

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS)
        def get(self, key):
            self.agree("get", key, "<default>")

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS)
        def peek(self, key):
            self.agree("peek", key)

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS)
        def contains(self, key):
            self.agree("contains", key)

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS)
        def delete(self, key):
            self.agree("delete", key)

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS)
        def pop(self, key):
            self.agree("pop", key)

        @precondition(lambda self: self.pair is not None)
        @rule()
        def popitem(self):
            self.agree("popitem")

        @precondition(lambda self: self.pair is not None)
        @rule(count=st.integers(0, 4))
        def evict(self, count):
            self.agree("evict", count)

        @precondition(lambda self: self.pair is not None)
        @rule(weight=WEIGHTS)
        def victims_for(self, weight):
            self.agree("victims_for", weight)

        @precondition(lambda self: self.pair is not None)
        @rule(seed=st.integers(0, 2**32), count=st.integers(1, 400), skew=st.floats(0.5, 2.0))
        def burst(self, seed, count, skew):
            """Many get-or-set requests at once: reaches the adaptive policy's climber and
            guard periods and its sketch halving, which single steps never do."""
            rng = random.Random(seed)
            keys = [int(rng.paretovariate(skew)) % 60 - 10 for _ in range(count)]
            miss = object()
            outcomes = []
            for idx in self.pair:
                seen = []
                for k in keys:
                    value = idx.get(k, miss)
                    if value is miss:
                        try:
                            idx[k] = k
                        except ValueError:  # capacity 0: nothing ever fits
                            value = ValueError
                    seen.append(value)
                outcomes.append(seen)
            assert outcomes[0] == outcomes[1]

        @precondition(lambda self: self.pair is not None)
        @rule(dt=st.floats(-3, 6))
        def tick(self, dt):
            self.now[0] += dt  # the clock may go backwards

        @precondition(lambda self: self.pair is not None)
        @rule()
        def expire(self):
            self.agree("expire", normalise=_sorted_pairs)

        @precondition(lambda self: self.pair is not None)
        @rule(key=KEYS, ttl=st.one_of(st.none(), st.floats(-1, 10)))
        def set_expiry(self, key, ttl):
            self.agree("set_expiry", key, None if ttl is None else self.now[0] + ttl)

        @precondition(lambda self: self.pair is not None and policy == "probability")
        @rule(key=KEYS, p=st.floats(0, 1))
        def set_probability(self, key, p):
            self.agree("set_probability", key, p)

        @precondition(lambda self: self.pair is not None)
        @rule()
        def clear(self):
            self.agree("clear")

        @invariant()
        def same_state(self):
            if self.pair is None:
                return
            a, b = self.pair
            a._check()
            b._check()
            assert len(a) == len(b)
            assert a.currsize == b.currsize
            assert list(a.items()) == list(b.items())
            assert a.items_by_expiry() == b.items_by_expiry()  # the timed caches' iteration order
            assert (a.hits, a.misses, a.evictions, a.expirations) == (
                b.hits, b.misses, b.evictions, b.expirations)
            assert self.evicted[0] == self.evicted[1]

    Agreement.__name__ = f"Agreement_{policy}"
    return Agreement


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "random", "probability", "adaptive"])
def test_compiled_core_agrees_with_twin(policy):
    machine = machine_for(policy)
    machine.TestCase.settings = settings(max_examples=120, stateful_step_count=60, deadline=None)
    machine.TestCase().runTest()


STRESS = float(os.environ.get("FBACACHE_STRESS", "1"))


@pytest.mark.parametrize("capacity", [1, 7, 300, 2000])
def test_adaptive_long_replay_agrees(capacity):
    """Long mixed traces: every hit/miss, victim and the final order agree bit for bit.

    Capacity 2000 exercises the spatially sampled LRU guard (over 1024 keys), the long runs
    the climber's resizes and several sketch halvings; shifting working sets, deletes,
    misses without insert and set on resident keys are mixed in.
    """
    from fbacache._core import _index_c

    n = max(5000, int(60000 * STRESS))
    universe = capacity * 4 + 20
    pair = [impl("adaptive", max_entries=capacity, seed=capacity)
            for impl in (_index_c.Index, _index_py.Index)]
    logs = ([], [])
    for log, idx in zip(logs, pair):
        idx.on_evict = lambda k, v, log=log: log.append(k)
    rng = random.Random(capacity)
    for i in range(n):
        r = rng.random()
        base = (i // 3000) * (universe // 3)  # the hot region drifts
        if r < 0.6:
            k = base + int(rng.paretovariate(1.0)) % universe
        elif r < 0.9:
            k = rng.randrange(universe * 2)
        else:
            k = ("s", i)  # one-time key (a tuple: hashed differently from ints)
        if r < 0.02:
            out = [idx.delete(k) for idx in pair]
        elif r < 0.04:
            out = [idx.get(k) for idx in pair]  # a miss that inserts nothing
        elif r < 0.05:
            out = [idx.set(k, -1) for idx in pair]  # set on a possibly resident key
        elif r < 0.055:
            out = [idx.victims_for() for idx in pair]
        else:
            out = []
            for idx in pair:
                hit = idx.get(k, None) is not None
                if not hit:
                    idx[k] = k
                out.append(hit)
        assert out[0] == out[1], (i, k, out)
        if i % 997 == 0:
            for idx in pair:
                idx._check()
            assert pair[0].keys() == pair[1].keys()
    assert logs[0] == logs[1]
    assert pair[0].keys() == pair[1].keys()
    assert (pair[0].hits, pair[0].misses) == (pair[1].hits, pair[1].misses)
    for idx in pair:
        idx._check()


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "random"])
def test_full_index_slot_handover_agrees(policy):
    """A full index of unit weights, no deadlines and no on_evict takes the compiled core's
    slot hand-off on every insert: victims, order and counters still match the twin's
    general path (ints, strs and tuples as keys; deletes and pops open free slots too)."""
    from fbacache._core import _index_c

    pair = [impl(policy, max_entries=50, seed=11) for impl in (_index_c.Index, _index_py.Index)]
    rng = random.Random(policy)
    n = max(3000, int(20000 * STRESS))
    for i in range(n):
        r = rng.random()
        k = rng.choice([rng.randrange(200), f"s{rng.randrange(200)}", ("t", rng.randrange(50))])
        if r < 0.03:
            out = [idx.delete(k) for idx in pair]
        elif r < 0.04:
            out = [idx.popitem() if len(idx) else None for idx in pair]
        elif r < 0.5:
            out = [idx.get(k, "<miss>") for idx in pair]
        else:
            for idx in pair:
                idx[k] = i
            out = [None, None]
        assert out[0] == out[1], (i, k, out)
        if i % 101 == 0:
            assert pair[0].keys() == pair[1].keys(), i
    a, b = pair
    assert list(a.items()) == list(b.items())
    assert (a.hits, a.misses, a.evictions) == (b.hits, b.misses, b.evictions)
    assert a.evictions > n // 10  # the hand-off ran many times
    for idx in pair:
        idx._check()


def test_random_policy_sweep_order_of_tied_deadlines():
    """Entries expiring at the same deadline are swept in the same order by both cores.

    Found by the burst rule (shrunk by hypothesis); both now break ties by when the
    deadline was set.  The sweep order matters only to RANDOM,
    whose dense array a removal permutes; the other policies end in the same state.
    """
    from fbacache._core import _index_c

    now = [100.0]
    logs = ([], [])
    pair = [impl("random", max_weight=2, timer=lambda: now[0], seed=0)
            for impl in (_index_c.Index, _index_py.Index)]
    for log, idx in zip(logs, pair):
        idx.on_evict = lambda k, v, log=log: log.append(k)
        for k in (-9, -6):
            idx[k] = k
        idx.popitem()
        idx.set(1, 0, 0, 100.0)  # weight 0, already expired
        idx.popitem()
        idx.set(0, 0, 0, 100.0)
        for k in (-9, -4, -6, -9, -4, -6):
            if idx.get(k) is None:
                idx[k] = k
    assert logs[0] == logs[1]
