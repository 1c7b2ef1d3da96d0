"""get_or_set single flight: one factory call, shared result or exception, timeouts."""
from __future__ import annotations

import threading
import time

import pytest

from fbacache import SingleFlightTimeout


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = target()
        except BaseException as exc:  # collected and asserted by the test
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


@pytest.mark.parametrize("fmt", ["none", "pickle"])
def test_64_threads_one_cold_key_one_factory_call(make_manager, fmt):
    m = make_manager(serialization_format=fmt)
    calls = []
    release = threading.Event()

    def factory():
        calls.append(threading.get_ident())
        release.wait(0.2)  # keep the flight open while the others arrive
        return {"v": 42}

    results, errors = _run_threads(64, lambda: m.get_or_set("cold", factory, ttl=60))
    assert errors == [None] * 64
    assert len(calls) == 1
    assert results == [{"v": 42}] * 64
    assert m.get_metrics()["single_flight_leaders"] == 1


def test_factory_runs_without_the_manager_lock(make_manager):
    m = make_manager()

    def factory():
        # Other operations (including on other keys) work while the factory runs.
        m.set("other", 1)
        assert m.get("other") == 1
        return 5

    assert m.get_or_set("k", factory) == 5


def test_factory_exception_reaches_every_waiter_and_caches_nothing(make_manager):
    m = make_manager()
    calls = []

    class Boom(Exception):
        pass

    def factory():
        calls.append(1)
        time.sleep(0.2)
        raise Boom("db down")

    results, errors = _run_threads(16, lambda: m.get_or_set("k", factory))
    assert len(calls) == 1
    assert all(isinstance(e, Boom) for e in errors)
    assert not m.exists("k")
    assert m.get_or_set("k", lambda: "later") == "later"  # no poisoned state


def test_waiter_timeout(make_manager):
    m = make_manager()
    started = threading.Event()
    finish = threading.Event()

    def slow():
        started.set()
        finish.wait(10)
        return "slow"

    leader = threading.Thread(target=lambda: m.get_or_set("k", slow))
    leader.start()
    assert started.wait(10)
    with pytest.raises(SingleFlightTimeout):
        m.get_or_set("k", lambda: "never", timeout=0.05)
    finish.set()
    leader.join(10)
    assert m.get("k") == "slow"
    assert m.get_metrics()["single_flight_timeouts"] == 1


def test_reentrant_get_or_set_same_key_does_not_deadlock(make_manager):
    m = make_manager()

    def outer():
        return m.get_or_set("k", lambda: 1, timeout=1) + 1

    assert m.get_or_set("k", outer, timeout=1) == 2
    assert m.get("k") == 2


def test_hit_does_not_call_factory(make_manager):
    m = make_manager()
    m.set("k", 1)
    assert m.get_or_set("k", lambda: pytest.fail("factory called on a hit")) == 1
