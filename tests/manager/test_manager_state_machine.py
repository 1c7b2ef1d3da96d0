"""Hypothesis state machine: CacheManager against a plain-dict model with an injected clock.

One machine per eviction policy x codec (serializer x compressor). Capacity is
drawn per run: with room for every key the cache must equal the model exactly;
with a small capacity the cache must stay a subset of the model (an entry
missing from the cache but live in the model was evicted) and never exceed it.
Examples are bounded so the whole file runs in well under a minute.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test,
)
from manager_support import FakeClock

from fbacache import CacheManager, CacheManagerConfig

POLICIES = ["lru", "lfu", "fifo", "random", "probability"]
CODECS = [("none", None)] + [(f, c) for f in ("pickle", "msgpack", "json")
                             for c in (None, "zlib", "zstd")]
KEYS = st.sampled_from([f"k{i}" for i in range(6)])
TTLS = st.sampled_from([None, 1.0, 2.5, 5.0, math.inf])
PATTERNS = st.sampled_from(["*", "k[0-2]", "k?", "k5", "x*"])
SCALARS = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
           | st.text(max_size=20) | st.text(alphabet="ab", min_size=100, max_size=400))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=8)
BIG = 100


def make_machine(policy: str, fmt: str, compression):
    class ManagerMachine(RuleBasedStateMachine):
        @initialize(cap=st.sampled_from([3, BIG]))
        def setup(self, cap):
            self.clock = FakeClock()
            self.cap = cap
            self.cache = CacheManager(CacheManagerConfig(
                eviction_policy=policy, serialization_format=fmt, compression=compression,
                compression_threshold=64, max_entries=cap, seed=7, timer=self.clock))
            self.model: dict[str, tuple[object, float | None, dict]] = {}

        # ---------------------------------------------------------------- model helpers
        def live(self, key):
            entry = self.model.get(key)
            if entry is None:
                return None
            if entry[1] is not None and self.clock.now >= entry[1]:
                del self.model[key]
                return None
            return entry

        def deadline(self, ttl):
            return None if ttl is None or ttl == math.inf else self.clock.now + ttl

        def absent_in_cache(self, key):
            """The cache lacks a key: fine if the model lacks it or it was evicted."""
            if self.live(key) is not None:
                assert self.cap < BIG, f"{key} vanished without eviction pressure"
                del self.model[key]

        # ---------------------------------------------------------------- rules
        @rule(key=KEYS, value=VALUES, ttl=TTLS, meta=st.booleans())
        def set(self, key, value, ttl, meta):
            metadata = {"tag": key} if meta else None
            self.cache.set(key, value, ttl=ttl, metadata=metadata)
            self.model[key] = (value, self.deadline(ttl), metadata or {})

        @rule(key=KEYS)
        def get(self, key):
            got = self.cache.get(key, "<default>")
            if got == "<default>":
                self.absent_in_cache(key)
            else:
                entry = self.live(key)
                assert entry is not None and got == entry[0]

        @rule(key=KEYS, value=VALUES)
        def get_or_set(self, key, value):
            computed = []
            got = self.cache.get_or_set(key, lambda: computed.append(key) or value)
            if not computed:  # a hit: the model must hold it, deadline and all
                entry = self.live(key)
                assert entry is not None and got == entry[0]
                return
            # a miss (absent, expired or evicted): stored afresh, without a deadline, even
            # when the new value equals the one the model remembers
            assert got == value
            self.absent_in_cache(key)  # a miss of a key the model holds needs eviction pressure
            self.model[key] = (value, None, {})

        @rule(keys=st.lists(KEYS, max_size=4))
        def get_many(self, keys):
            got = self.cache.get_many(keys)
            for key in keys:
                if key in got:
                    assert got[key] == self.live(key)[0]
                else:
                    self.absent_in_cache(key)

        @rule(mapping=st.dictionaries(KEYS, VALUES, max_size=3), ttl=TTLS)
        def set_many(self, mapping, ttl):
            self.cache.set_many(mapping, ttl=ttl)
            for key, value in mapping.items():
                self.model[key] = (value, self.deadline(ttl), {})

        @rule(key=KEYS)
        def delete(self, key):
            removed = self.cache.delete(key)
            expected = self.live(key) is not None
            if self.cap >= BIG:
                assert removed == expected
            self.model.pop(key, None)

        @rule(keys=st.lists(KEYS, max_size=4, unique=True))
        def delete_many(self, keys):
            n = self.cache.delete_many(keys)
            expected = sum(self.live(k) is not None for k in keys)
            assert n == expected if self.cap >= BIG else n <= expected
            for k in keys:
                self.model.pop(k, None)

        @rule(key=KEYS)
        def exists(self, key):
            if not self.cache.exists(key):
                self.absent_in_cache(key)
            else:
                assert self.live(key) is not None

        @rule(key=KEYS, ttl=TTLS)
        def touch(self, key, ttl):
            ok = self.cache.touch(key, ttl)
            entry = self.live(key)
            if ok:
                assert entry is not None
                self.model[key] = (entry[0], self.deadline(ttl), entry[2])
            else:
                self.absent_in_cache(key)

        @rule(key=KEYS)
        def ttl(self, key):
            remaining = self.cache.ttl(key)
            entry = self.live(key)
            if remaining is None:
                self.absent_in_cache(key)
            elif entry[1] is None:
                assert remaining == math.inf
            else:
                assert remaining == pytest.approx(entry[1] - self.clock.now)

        @rule(key=KEYS)
        def metadata(self, key):
            meta = self.cache.get_metadata(key)
            if meta is None:
                self.absent_in_cache(key)
            else:
                assert meta == self.live(key)[2]

        @rule(pattern=PATTERNS)
        def invalidate(self, pattern):
            import fnmatch
            n = self.cache.invalidate(pattern)
            doomed = [k for k in list(self.model) if fnmatch.fnmatchcase(k, pattern)
                      and self.live(k) is not None]
            assert n == len(doomed) if self.cap >= BIG else n <= len(doomed)
            for k in doomed:
                del self.model[k]

        @rule()
        def clear(self):
            self.cache.clear()
            self.model.clear()

        @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 10.0]))
        def advance(self, seconds):
            self.clock.advance(seconds)

        @precondition(lambda self: policy == "lru")
        @rule(n=st.integers(1, 2))
        def evict_lru(self, n):
            before = set(self.cache.keys())
            assert self.cache.evict_lru(n) == min(n, len(before))
            for k in before - set(self.cache.keys()):
                self.model.pop(k, None)

        # ---------------------------------------------------------------- invariants
        @invariant()
        def matches_model(self):
            if not hasattr(self, "cache"):
                return
            self.cache.check()
            cached = set(self.cache.keys())
            live = {k for k in list(self.model) if self.live(k) is not None}
            assert cached <= live, (cached, live)
            assert len(self.cache) == len(cached) <= self.cap
            if self.cap >= BIG:
                assert cached == live

        def teardown(self):
            if hasattr(self, "cache"):
                self.cache.stop()

    ManagerMachine.__name__ = f"ManagerMachine_{policy}_{fmt}_{compression}"
    return ManagerMachine


@pytest.mark.parametrize("fmt, compression", CODECS, ids=[f"{f}-{c}" for f, c in CODECS])
@pytest.mark.parametrize("policy", POLICIES)
def test_manager_matches_dict_model(policy, fmt, compression):
    run_state_machine_as_test(
        make_machine(policy, fmt, compression),
        settings=settings(max_examples=15, stateful_step_count=30, deadline=None,
                          suppress_health_check=list(HealthCheck)))
