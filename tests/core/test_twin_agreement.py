"""The compiled core and the pure-Python twin agree, step by step.

A hypothesis state machine per policy applies the same operations to both
implementations and compares every result, the contents in eviction order,
the sizes and the counters; ``_check()`` verifies each structure after every
step.  The RANDOM policy is included: both use the same seeded splitmix64
generator, so even its victims must agree.
"""
from __future__ import annotations

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
              seed=st.integers(0, 2**64 - 1), default=st.floats(0, 1))
        def create(self, max_entries, max_weight, seed, default):
            clock = lambda: self.now[0]  # noqa: E731
            self.pair = [
                impl(policy, max_entries=max_entries, max_weight=max_weight, timer=clock,
                     seed=seed, default_probability=default)
                for impl in (_index_c.Index, _index_py.Index)
            ]
            self.evicted = ([], [])
            for log, idx in zip(self.evicted, self.pair):
                idx.on_evict = lambda k, v, log=log: log.append((k, v))

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
            assert (a.hits, a.misses, a.evictions, a.expirations) == (
                b.hits, b.misses, b.evictions, b.expirations)
            assert self.evicted[0] == self.evicted[1]

    Agreement.__name__ = f"Agreement_{policy}"
    return Agreement


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "random", "probability"])
def test_compiled_core_agrees_with_twin(policy):
    machine = machine_for(policy)
    machine.TestCase.settings = settings(max_examples=120, stateful_step_count=60, deadline=None)
    machine.TestCase().runTest()
