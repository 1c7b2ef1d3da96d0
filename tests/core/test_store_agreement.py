"""The compiled store and its pure-Python twin agree, step by step, and keep their promises.

A hypothesis state machine applies the same operations to ``_store_c.Store`` and
``_store_py.Store`` (same policy, capacity, clock and default TTL) and compares
every result, the contents in eviction order, the metadata and the counters;
``_check()`` verifies both after every step. A plain dict model of what each key
was last set to checks that a value is never returned after its TTL and that
metadata never outlives the entry it was written with.
"""
from __future__ import annotations

import sys
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fbacache import _core
from fbacache._core import _store_py

needs_c = pytest.mark.skipif(not _core.NATIVE, reason="compiled core not built")

KEYS = st.one_of(st.integers(0, 30), st.sampled_from(["a", "b", (1, "x"), 2.5, b"k"]))
TTLS = st.one_of(st.just("default"), st.none(), st.floats(0.5, 20))
MISSING = object()


class StoreAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = [100.0]
        self.pair = None
        self.model: dict = {}  # key -> (value, deadline or None, meta) as last set

    @precondition(lambda self: self.pair is None)
    @rule(policy=st.sampled_from(["lru", "lfu", "fifo", "adaptive"]),
          max_entries=st.one_of(st.none(), st.integers(1, 10)),
          max_weight=st.one_of(st.none(), st.integers(1, 30)),
          default_ttl=st.one_of(st.none(), st.floats(1, 10)))
    def create(self, policy, max_entries, max_weight, default_ttl):
        from fbacache._core import _store_c

        clock = lambda: self.now[0]  # noqa: E731
        self.pair = [impl(policy, max_entries=max_entries, max_weight=max_weight, timer=clock,
                          seed=1, default_ttl=default_ttl)
                     for impl in (_store_c.Store, _store_py.Store)]
        self.default_ttl = default_ttl

    def both(self, name, *args):
        out = []
        for store in self.pair:
            try:
                out.append(("ok", getattr(store, name)(*args)))
            except (KeyError, ValueError, TypeError) as exc:
                out.append(("raise", type(exc)))
        assert out[0] == out[1], (name, args, out)
        return out[0]

    def _ttl(self, ttl):
        return _core.DEFAULT_TTL if ttl == "default" else ttl

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS, value=st.integers(), weight=st.integers(1, 8), ttl=TTLS,
          meta=st.one_of(st.none(), st.dictionaries(st.sampled_from("xy"), st.integers(), max_size=2)))
    def set(self, key, value, weight, ttl, meta):
        kind, _ = self.both("set", key, value, weight, self._ttl(ttl), meta)
        if kind == "ok":
            seconds = self.default_ttl if ttl == "default" else ttl
            deadline = None if seconds is None else self.now[0] + seconds
            self.model[key] = (value, deadline, meta)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS, value=st.one_of(st.integers(), st.text(max_size=40), st.binary(max_size=40)),
          max_size=st.integers(20, 90), extra=st.booleans(), as_method=st.booleans())
    def put(self, key, value, max_size, extra, as_method):
        """The compiled front-end write (Put) against the twin's: same result, same state."""
        from fbacache._core import _store_c

        slow_calls = []

        def slow(*args, **kwargs):
            slow_calls.append((args, kwargs))
            return "slow"

        puts = [impl(store, max_size, slow)
                for impl, store in zip((_store_c.Put, _store_py.Put), self.pair)]
        if as_method:  # what CacheManager installs: the compiled one a builtin method
            puts = [put.method for put in puts]
        args = (key, value, 5) if extra else (key, value)
        out = [put(*args) for put in puts]
        assert out[0] == out[1], (args, out)
        assert slow_calls[:1] == slow_calls[1:], slow_calls  # both fell through, or neither
        size = sys.getsizeof(value)
        limit = self.pair[1].index.max_weight
        expect_slow = extra or size > max_size or (limit is not None and size > limit)
        assert (out[0] == "slow") == expect_slow, (args, out, size, limit)
        if not expect_slow:  # stored like set(key, value, getsizeof(value)) with the default TTL
            found = [s.index.peek(key, MISSING) for s in self.pair]
            assert found[0] == found[1]
            if found[0] is not MISSING:  # (an admission policy may refuse a newcomer)
                assert found[0] == value
                assert [s.index.weight(key) for s in self.pair] == [size, size]
            deadline = None if self.default_ttl is None else self.now[0] + self.default_ttl
            self.model[key] = (value, deadline, None)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS, extra=st.booleans(), as_method=st.booleans())
    def get_or(self, key, extra, as_method):
        """The compiled get_or_set hit (GetOr) against the twin's."""
        from fbacache._core import _store_c

        gets = [impl(store, lambda k, f: ("missed", f()), lambda *a, **k: "slow")
                for impl, store in zip((_store_c.GetOr, _store_py.GetOr), self.pair)]
        if as_method:
            gets = [g.method for g in gets]
        args = (key, lambda: "made", 1) if extra else (key, lambda: "made")
        out = [g(*args) for g in gets]
        assert out[0] == out[1], (args, out)
        if extra:
            assert out[0] == "slow"
        elif out[0] != ("missed", "made"):
            self._against_model(key, out[0])

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS, default=st.sampled_from([None, 0]), limit=st.integers(1, 8),
          by_keyword=st.booleans(), buffers=st.booleans(),
          blob=st.one_of(st.none(), st.binary(max_size=7),
                         st.binary(max_size=7).map(lambda b: b"\x00" + b)))
    def read(self, key, default, limit, by_keyword, buffers, blob):
        """The compiled codec read (Reader) against the twin's: raw frames (bytes items
        starting with a zero byte, up to ``limit`` bytes) go to loads (a bytes copy of
        the payload, or with ``buffers`` a read-only buffer over the stored bytes),
        one in two to timed (sample=2), a load that raises and any other item to the
        fallback; two reads each, so both the plain and the timed load run."""
        from fbacache._core import _store_c

        if blob is not None:  # else whatever set/put left there
            self.set(key, blob, 1, "default", None)

        def loads(payload):
            assert (type(payload) is bytes) is not buffers, type(payload)
            with memoryview(payload) as view:
                assert view.readonly and view.nbytes == len(payload)
                data = view.tobytes()
            if data[:1] == b"\xff":
                raise ValueError("unreadable")
            return ("loads", data)

        def timed(payload):
            return ("timed", loads(payload)[1])

        readers = [impl(store, loads, limit, timed, lambda k, i, d: ("fallback", k, i, d), 2,
                        buffers=buffers)
                   for impl, store in zip((_store_c.Reader, _store_py.Reader), self.pair)]
        for _ in range(2):
            out = [r(key, default=default) if by_keyword else r(key, default) for r in readers]
            assert out[0] == out[1], (key, out)
            item = out[0]
            if item == default:
                continue
            raw = (type(item) is tuple and item[0] in ("loads", "timed"))
            if raw:
                self._against_model(key, b"\x00" + item[1])
            else:  # not a raw frame within the limit, or one whose load raised
                stored = item[2]
                assert not (type(stored) is bytes and 0 < len(stored) <= limit
                            and stored[0] == 0 and stored[1:2] != b"\xff"), (key, item)

    @precondition(lambda self: self.pair is not None)
    @rule(items=st.lists(st.tuples(KEYS, st.integers(), st.integers(1, 4)), max_size=4), ttl=TTLS)
    def set_many(self, items, ttl):
        kind, _ = self.both("set_many", items, self._ttl(ttl))
        seconds = self.default_ttl if ttl == "default" else ttl
        deadline = None if seconds is None else self.now[0] + seconds
        for key, value, weight in items:  # stored up to the first refused one, without metadata
            if self.pair[1].index.max_weight is not None and weight > self.pair[1].index.max_weight:
                break
            self.model[key] = (value, deadline, None)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS)
    def get(self, key):
        kind, value = self.both("get", key, MISSING)
        self._against_model(key, value)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS)
    def peek(self, key):
        self._against_model(key, self.both("peek", key, MISSING)[1])

    def _against_model(self, key, value):
        if value is MISSING or key not in self.model:
            return
        stored, deadline, _ = self.model[key]
        # a value returned is one that was set and has not reached its deadline
        assert deadline is None or self.now[0] < deadline, (key, value, deadline, self.now[0])

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS)
    def get_meta(self, key):
        _, meta = self.both("get_meta", key)
        if meta is not None and key in self.model:
            assert meta == (self.model[key][2] or {}), (key, meta, self.model[key])

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS)
    def remaining_and_contains(self, key):
        self.both("remaining", key)
        self.both("contains", key)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS, ttl=TTLS)
    def touch(self, key, ttl):
        kind, ok = self.both("touch", key, self._ttl(ttl))
        if ok and key in self.model:
            seconds = self.default_ttl if ttl == "default" else ttl
            value, _, meta = self.model[key]
            self.model[key] = (value, None if seconds is None else self.now[0] + seconds, meta)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS)
    def delete(self, key):
        self.both("delete", key)
        self.model.pop(key, None)

    @precondition(lambda self: self.pair is not None)
    @rule(key=KEYS)
    def discard_if_present(self, key):
        values = [s.peek(key, MISSING) for s in self.pair]
        assert [v is MISSING for v in values] == [values[0] is MISSING] * 2
        removed = [s.discard_if(key, v) for s, v in zip(self.pair, values)]
        assert removed[0] == removed[1] == (values[0] is not MISSING)

    @precondition(lambda self: self.pair is not None)
    @rule(dt=st.floats(0, 6))
    def advance(self, dt):
        self.now[0] += dt

    @precondition(lambda self: self.pair is not None)
    @rule()
    def expire(self):
        self.both("expire")

    @precondition(lambda self: self.pair is not None)
    @rule()
    def clear(self):
        self.both("clear")
        self.model.clear()

    @invariant()
    def same_state(self):
        if self.pair is None:
            return
        c, p = self.pair
        c._check()
        p._check()
        ic, ip = c.index, p.index
        assert list(ic.items()) == list(ip.items())
        assert (ic.hits, ic.misses, ic.evictions, ic.expirations, ic.currsize) == \
               (ip.hits, ip.misses, ip.evictions, ip.expirations, ip.currsize)
        assert (c.sets, c.mixed) == (p.sets, p.mixed)
        assert c.meta == p.meta


TestStoreAgreement = needs_c(StoreAgreement.TestCase)
TestStoreAgreement.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@pytest.fixture(params=["c", "py"])
def Store(request):
    if request.param == "c":
        if not _core.NATIVE:
            pytest.skip("compiled core not built")
        from fbacache._core import _store_c
        return _store_c.Store
    return _store_py.Store


def test_lock_free_reads_only_for_plain_keys_gil_and_native_clock(Store):
    fast = Store("lru", max_entries=10)
    slow_clock = Store("lru", max_entries=10, timer=lambda: 0.0)
    assert fast.lock_free == (Store is not _store_py.Store)
    assert not slow_clock.lock_free
    fast.set(("k", 1, 2.5, b"x", None, True), 1)
    assert not fast.mixed, "a tuple of plain values is plain"

    class Key:
        def __hash__(self):
            return 1

        def __eq__(self, other):
            return self is other

    fast.set(Key(), 2)
    assert fast.mixed, "a key with Python __eq__ makes every later read take the lock"
    fast.clear()
    assert not fast.mixed


def test_metadata_dies_with_its_entry(Store):
    s = Store("lru", max_entries=2)
    s.set("a", 1, meta={"v": 1})
    s.set("b", 2)
    s.set("c", 3)  # evicts "a"
    assert s.get_meta("a") is None and s.meta == {}
    s.set("a", 1, meta={"v": 2})
    s.set("a", 5)  # a write without metadata drops it
    assert s.get_meta("a") == {}


def test_value_that_can_never_fit_raises_and_changes_nothing(Store):
    s = Store("lru", max_weight=10)
    s.set("a", 1, 4)
    with pytest.raises(ValueError):
        s.set("b", 2, 11)
    assert s.index.keys() == ["a"] and s.sets == 1


def test_a_key_calling_back_into_the_store_from_another_thread_does_not_deadlock(Store):
    """A key's __eq__ runs while a thread holds the lock; other threads wait, then proceed."""
    s = Store("lru", max_entries=100)
    entered, release = threading.Event(), threading.Event()

    class Slow:
        def __hash__(self):
            return 7

        def __eq__(self, other):
            entered.set()
            release.wait(5)
            return isinstance(other, Slow)

    s.set(Slow(), 1)
    t = threading.Thread(target=s.get, args=(Slow(),))  # an equal key: __eq__ runs, locked
    t.start()
    assert entered.wait(5)
    results = []
    t2 = threading.Thread(target=lambda: results.append(s.get("plain")))
    t2.start()
    t2.join(0.2)
    assert t2.is_alive(), "a mixed store's reads wait for the lock holder"
    release.set()
    t.join(5)
    t2.join(5)
    assert results == [None]


def test_a_key_calling_back_into_the_store_from_the_same_thread_re_enters(Store):
    """The lock is re-entrant: a key whose __hash__/__eq__ writes to the same store (a
    logging or metrics hook) finishes instead of deadlocking, and the store stays whole."""
    s = Store("lru", max_entries=4)

    class Hooked:
        def __init__(self, name):
            self.name = name

        def __hash__(self):
            s.set(f"side:{self.name}", 1, meta={"from": "hash"})  # re-enters the lock
            return hash(self.name)

        def __eq__(self, other):
            s.get("side:eq")  # re-enters on a read too
            return isinstance(other, Hooked) and other.name == self.name

    done = []

    def scenario():
        s.set(Hooked("a"), "v", meta={"m": 1})
        done.append(s.get(Hooked("a")))
        done.append(s.get_meta(Hooked("a")))
        with s:  # a compound operation holding the lock may call methods too
            done.append(s.contains(Hooked("a")))
        for i in range(40):  # evictions and the metadata prune run __hash__ under the lock
            s.set(Hooked(f"k{i}"), i, meta={"i": i})
        done.append(s.delete(Hooked("k39")))

    t = threading.Thread(target=scenario, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "re-entering the store from a key's __hash__ deadlocked"
    assert done == ["v", {"m": 1}, True, True]
    s._check()
    t2 = threading.Thread(target=s.set, args=("after", 1), daemon=True)
    t2.start()
    t2.join(5)
    assert not t2.is_alive(), "the lock was left held after the re-entrant calls"
    assert s.get("after") == 1
