"""@cached against a model: any sequence of calls, invalidations and clock steps.

Hypothesis drives a decorated function with calls that take the compiled hit path
(positional str/int/bytes/None arguments, the lone argument keying the memo as itself
or several as their tuple) and calls that take the full path (floats, bools, keywords:
the same entries, found by the same keys), interleaved with ``invalidate``, a
``@cache_invalidate`` pattern, tag invalidation, ``cache_clear`` and steps of the
manager's clock past the TTL. A dict models what is cached until when. Every
result must be the uncached function's (a hit returns the very object computed
before), and ``cache_info`` and the manager's hit/miss counters must be exact.
Runs for a manager given directly and for the default manager (looked up at each
call), on a store the compiled call reads directly.
"""
from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache import CacheManager, cache_invalidate, cached
from fbacache.decorators import set_default_manager
from fbacache.testing.clock import ManualClock

TTL = 10.0
ARG = st.one_of(st.integers(-2, 2), st.sampled_from(["a", "b", b"a", None, 1.0, True, 2.5]))
STEP = st.one_of(
    st.tuples(st.just("call"), ARG, st.one_of(st.just("omit"), ARG), st.booleans()),
    st.tuples(st.just("call1"), ARG),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 4.0, 9.5, 10.0, 25.0])),
    st.tuples(st.just("invalidate"), ARG),
    st.tuples(st.just("pattern")),
    st.tuples(st.just("tag")),
    st.tuples(st.just("clear")),
)


def _typed(x):
    return (type(x), x)


@settings(max_examples=120, deadline=None)
@given(steps=st.lists(STEP, max_size=40), use_default=st.booleans())
def test_results_and_counters_match_the_uncached_function_and_a_model(steps, use_default):
    clock = ManualClock()
    manager = CacheManager(timer=clock)
    if use_default:
        set_default_manager(manager)
    try:
        _drive(manager, clock, steps, use_default)
    finally:
        if use_default:
            set_default_manager(None)


def _drive(manager, clock, steps, use_default):
    serial = itertools.count()
    target = None if use_default else manager

    @cached(ttl=TTL, manager=target, tags=["t"], key_prefix="m2")
    def two(a, b="d"):
        return [a, b, next(serial)]  # a new object per computation

    @cached(ttl=TTL, manager=target, key_prefix="m1")
    def one(a):
        return [a, next(serial)]

    @cache_invalidate(["m2:*", "m1:*"], manager=manager)
    def wipe():
        return None

    assert two.enabled and one.enabled  # the compiled call serves what it can
    model: dict = {}  # (function, typed arguments) -> (result, deadline)
    counts = {"m1": [0, 0], "m2": [0, 0]}  # hits, misses since cache_clear
    total = [0, 0]

    def call(name, fn, mkey, args, kwargs):
        entry = model.get(mkey)
        result = fn(*args, **kwargs)
        if entry is not None and clock() < entry[1]:
            assert result is entry[0], (mkey, result, entry)
            counts[name][0] += 1
            total[0] += 1
        else:
            assert entry is None or result is not entry[0]
            model[mkey] = (result, clock() + TTL)
            counts[name][1] += 1
            total[1] += 1

    for step in steps:
        kind = step[0]
        if kind == "call":
            _, a, b, as_keyword = step
            bound_b = "d" if b == "omit" else b
            args = (a,) if b == "omit" else (a, b)
            kwargs = {}
            if as_keyword and b != "omit":
                args, kwargs = (a,), {"b": b}
            call("m2", two, ("m2", _typed(a), _typed(bound_b)), args, kwargs)
        elif kind == "call1":
            call("m1", one, ("m1", _typed(step[1])), (step[1],), {})
        elif kind == "advance":
            clock.advance(step[1])
        elif kind == "invalidate":
            two.invalidate(step[1])
            model.pop(("m2", _typed(step[1]), _typed("d")), None)
        elif kind == "pattern":
            wipe()
            model.clear()
        elif kind == "tag":
            manager.invalidate_tags("t")
            model = {k: v for k, v in model.items() if k[0] != "m2"}
        elif kind == "clear":
            one.cache_clear()
            counts["m1"] = [0, 0]
            model = {k: v for k, v in model.items() if k[0] != "m1"}
        for name, fn in (("m1", one), ("m2", two)):
            info = fn.cache_info()
            assert [info.hits, info.misses] == counts[name], (name, step)
        live = sum(1 for k, (_, deadline) in model.items() if k[0] == "m2" and clock() < deadline)
        assert two.cache_info().currsize == live
    metrics = manager.get_metrics()
    assert [metrics["hits"], metrics["misses"]] == total


@pytest.mark.parametrize("shape", ["one", "two"])
def test_threads_hitting_while_entries_are_invalidated_get_the_functions_results(shape):
    manager = CacheManager()
    computed = itertools.count()

    @cached(ttl=60, manager=manager)
    def f(*args):
        next(computed)
        return ("v",) + args

    keys = [(i,) if shape == "one" else (i, f"s{i}") for i in range(16)]
    errors: list = []
    stop = threading.Event()
    calls_per_thread = 3000

    def reader():
        try:
            for n in range(calls_per_thread):
                args = keys[n % len(keys)]
                assert f(*args) == ("v",) + args
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def invalidator():
        n = 0
        while not stop.is_set():
            f.invalidate(*keys[n % len(keys)])
            n += 1

    readers = [threading.Thread(target=reader) for _ in range(4)]
    inv = threading.Thread(target=invalidator)
    inv.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join(60)
    stop.set()
    inv.join(10)
    assert not errors
    info = f.cache_info()
    assert info.hits + info.misses == 4 * calls_per_thread  # every call counted once
    assert info.misses == next(computed)  # a miss is a computation (waiters of one: hits)
    metrics = manager.get_metrics()
    assert metrics["hits"] + metrics["misses"] == 4 * calls_per_thread  # one lookup a call
