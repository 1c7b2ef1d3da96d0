"""Stale-while-revalidate (grace period) and TTL jitter."""
from __future__ import annotations

import logging
import random
import threading
import time

import pytest

from fbacache import CacheManager, ConfigError, Jitter, cached


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_fresh_then_stale_then_refreshed(manager, clock):
    version = iter(range(100))
    load = lambda: next(version)  # noqa: E731
    assert manager.get_or_set("k", load, ttl=10, grace=5) == 0
    assert manager.ttl("k") == pytest.approx(15)
    clock.advance(9)
    assert manager.get_or_set("k", load, ttl=10, grace=5) == 0  # fresh
    clock.advance(2)  # stale: the caller that notices refreshes inline
    assert manager.get_or_set("k", load, ttl=10, grace=5) == 1
    assert manager.ttl("k") == pytest.approx(15)
    m = manager.get_metrics()
    assert (m["swr_stale_served"], m["swr_refreshes"]) == (1, 1)
    clock.advance(16)  # past ttl + grace: a normal blocking load
    assert manager.get_or_set("k", load, ttl=10, grace=5) == 2
    assert manager.get_metrics()["swr_stale_served"] == 1


def test_one_refresh_others_served_stale_without_waiting(manager, clock):
    manager.get_or_set("k", lambda: "old", ttl=10, grace=30)
    clock.advance(11)
    entered, release = threading.Event(), threading.Event()
    runs = []

    def slow():
        runs.append(1)
        entered.set()
        release.wait(10)
        return "new"

    refresher_result = []
    t = threading.Thread(target=lambda: refresher_result.append(
        manager.get_or_set("k", slow, ttl=10, grace=30)))
    t.start()
    assert entered.wait(10)
    # while the refresh runs, every other caller gets the stale value at once
    others = [manager.get_or_set("k", slow, ttl=10, grace=30) for _ in range(20)]
    assert others == ["old"] * 20
    release.set()
    t.join(10)
    assert refresher_result == ["new"] and runs == [1]
    assert manager.get_or_set("k", slow, ttl=10, grace=30) == "new"
    assert manager.get_metrics()["swr_stale_served"] == 21


def test_background_refresh(manager, clock):
    manager.get_or_set("k", lambda: "old", ttl=10, grace=30)
    clock.advance(11)
    gate = threading.Event()

    def load():
        gate.wait(10)
        return "new"

    assert manager.get_or_set("k", load, ttl=10, grace=30, background=True) == "old"
    assert manager.get_or_set("k", load, ttl=10, grace=30, background=True) == "old"
    gate.set()
    assert wait_for(lambda: manager.get_metrics()["swr_refreshes"] == 1)
    assert wait_for(lambda: manager.get("k") == "new")
    assert manager.get_metrics()["swr_refreshes"] == 1


def test_failed_refresh_keeps_serving_stale_and_logs_no_value(manager, clock, caplog):
    manager.get_or_set("k", lambda: "secret-old-value", ttl=10, grace=30)
    clock.advance(11)

    def boom():
        raise RuntimeError("upstream down")

    with caplog.at_level(logging.DEBUG, logger="fbacache"):
        assert manager.get_or_set("k", boom, ttl=10, grace=30) == "secret-old-value"
        assert manager.get_or_set("k", boom, ttl=10, grace=30) == "secret-old-value"
    assert manager.get_metrics()["swr_refresh_errors"] == 2
    assert any(r.name == "fbacache.swr" and r.levelno == logging.WARNING for r in caplog.records)
    assert "secret-old-value" not in caplog.text
    clock.advance(30)
    with pytest.raises(RuntimeError):
        manager.get_or_set("k", boom, ttl=10, grace=30)


def test_a_miss_waits_for_the_running_refresh(manager, clock):
    manager.get_or_set("k", lambda: "old", ttl=10, grace=30)
    clock.advance(11)
    entered, release = threading.Event(), threading.Event()
    runs = []

    def slow():
        runs.append(1)
        entered.set()
        release.wait(10)
        return "new"

    t = threading.Thread(target=manager.get_or_set, args=("k", slow, 10, None, None),
                         kwargs={"grace": 30})
    t.start()
    assert entered.wait(10)
    manager.delete("k")  # the stale value is gone: a plain caller must join the refresh
    got = []
    waiter = threading.Thread(target=lambda: got.append(manager.get_or_set("k", slow, ttl=10)))
    waiter.start()
    time.sleep(0.05)
    release.set()
    t.join(10)
    waiter.join(10)
    assert got == ["new"] and runs == [1]


def test_grace_validation(manager):
    for bad in (0, -1, "5", True):
        with pytest.raises(ConfigError):
            manager.get_or_set("k", lambda: 1, ttl=5, grace=bad)
    with pytest.raises(ConfigError):
        manager.set("k", 1, ttl=5, grace=-2)


def test_decorator_with_grace(manager, clock):
    n = []

    @cached(ttl=10, grace=20, manager=manager)
    def f(x):
        n.append(x)
        return len(n)

    assert f(1) == 1
    clock.advance(12)
    assert f(1) == 2  # the refreshing caller gets the new value
    assert f(1) == 2 and len(n) == 2


def test_jitter_is_reproducible_and_bounded(clock):
    def ttls(seed):
        m = CacheManager(timer=clock, ttl_jitter=Jitter(0.2, rng=random.Random(seed)))
        for i in range(50):
            m.set(f"k{i}", i, ttl=100)
        return [m.ttl(f"k{i}") for i in range(50)]

    a, b, c = ttls(1), ttls(1), ttls(2)
    assert a == b and a != c
    assert all(80 < t <= 100 for t in a)
    assert len(set(a)) > 40  # spread out


def test_jitter_applies_to_default_ttl_not_to_infinity(clock):
    m = CacheManager(timer=clock, default_ttl=50, ttl_jitter=0.5)
    m.set("d", 1)
    m.set("inf", 1, ttl=float("inf"))
    assert 25 < m.ttl("d") <= 50 and m.ttl("inf") == float("inf")
    m2 = CacheManager(timer=clock, ttl_jitter=Jitter(0.1, rng=random.Random(0)))
    m2.get_or_set("g", lambda: 1, ttl=100, grace=10)
    assert 90 + 10 < m2.ttl("g") <= 110  # jitter on the fresh part only


def test_jitter_validation():
    for bad in (-0.1, 1.0, "x", True):
        with pytest.raises(ConfigError):
            Jitter(bad)
