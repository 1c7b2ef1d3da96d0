"""fbacache.backends.redis.backoff / retry / circuit: strategies, retries and the circuit breaker.

Time is injected (a manual clock) wherever the test is about *when* something happens; threads are
real wherever the test is about concurrency. Real-server versions live in
tests/backends/redis/test_resilience_redis.py.
"""
from __future__ import annotations

import doctest
import os
import random
import statistics
import threading

import pytest

import fbacache.backends.redis.backoff as backoff_module
import fbacache.backends.redis.circuit as circuit_module
import fbacache.backends.redis.retry as retry_module
from fbacache.backends.redis.backoff import Backoff, ConstantBackoff, ExponentialBackoff, NoBackoff
from fbacache.backends.redis.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from fbacache.backends.redis.retry import Retry, call_with_retry
from fbacache.errors import ConfigError

STRESS = float(os.environ.get("FBACACHE_STRESS", "1"))


class ManualClock:
    """A clock the test advances by hand (``sleep`` advances it too)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FixedRandom:
    """An injected RNG returning a fixed cycle of values."""

    def __init__(self, *values: float) -> None:
        self.values = values
        self.i = 0

    def random(self) -> float:
        value = self.values[self.i % len(self.values)]
        self.i += 1
        return value


@pytest.mark.parametrize("module", [backoff_module, retry_module, circuit_module])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


# --- backoff -------------------------------------------------------------------------------------


def test_exponential_without_jitter_doubles_up_to_the_cap() -> None:
    b = ExponentialBackoff(base=0.5, cap=3.0, jitter="none")
    assert [b.compute(n) for n in range(-1, 7)] == [0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert b.compute(10**9) == 3.0  # no overflow for absurd failure counts


def test_full_and_equal_jitter_use_the_injected_rng() -> None:
    full = ExponentialBackoff(base=1.0, cap=8.0, jitter="full", rng=FixedRandom(0.0, 0.5, 0.999))
    assert [full.compute(3) for _ in range(3)] == [0.0, 2.0, pytest.approx(3.996)]
    equal = ExponentialBackoff(base=1.0, cap=8.0, jitter="equal", rng=FixedRandom(0.0, 0.5))
    assert [equal.compute(3) for _ in range(2)] == [2.0, 3.0]


def test_jitter_is_reproducible_with_a_seed_and_stays_in_bounds() -> None:
    a = ExponentialBackoff(0.1, 2.0, "full", rng=random.Random(42))
    b = ExponentialBackoff(0.1, 2.0, "full", rng=random.Random(42))
    assert [a.compute(n) for n in range(1, 30)] == [b.compute(n) for n in range(1, 30)]
    for mode, low in (("full", 0.0), ("equal", 0.5)):
        s = ExponentialBackoff(0.1, 2.0, mode, rng=random.Random(1))
        for n in range(1, 40):
            ceiling = s.ceiling(n)
            for _ in range(20):
                assert low * ceiling <= s.compute(n) <= ceiling


def test_full_jitter_spreads_uniformly() -> None:
    s = ExponentialBackoff(1.0, 1.0, "full", rng=random.Random(3))
    samples = [s.compute(5) for _ in range(4000)]
    assert statistics.mean(samples) == pytest.approx(0.5, abs=0.03)
    assert min(samples) < 0.02 and max(samples) > 0.98


def test_constant_and_no_backoff() -> None:
    assert [ConstantBackoff(0.25).compute(n) for n in (0, 1, 5)] == [0.0, 0.25, 0.25]
    assert NoBackoff().compute(9) == 0.0
    for strategy in (ConstantBackoff(1), NoBackoff(), ExponentialBackoff()):
        assert isinstance(strategy, Backoff)


@pytest.mark.parametrize("kwargs", [{"base": -1}, {"base": 2, "cap": 1}, {"jitter": "sideways"},
                                    {"base": float("nan")}])
def test_bad_backoff_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ExponentialBackoff(**kwargs)


def test_bad_constant_backoff() -> None:
    with pytest.raises(ConfigError):
        ConstantBackoff(-0.1)


# --- retry ---------------------------------------------------------------------------------------


def _flaky(failures: int, exc: BaseException | None = None):
    exc = exc if exc is not None else ConnectionError("reset")
    calls = []

    def do() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise exc
        return f"ok after {len(calls)}"

    return do, calls


def test_retry_succeeds_after_transient_failures_with_backoff_waits() -> None:
    clock = ManualClock()
    do, calls = _flaky(3)
    failed: list[BaseException] = []
    result = call_with_retry(do, failed.append, attempts=5,
                             backoff=ExponentialBackoff(0.1, 1.0, "none"), sleep=clock.sleep)
    assert result == "ok after 4"
    assert clock.sleeps == [0.1, 0.2, 0.4]
    assert len(failed) == 3 and all(isinstance(e, ConnectionError) for e in failed)


def test_retry_gives_up_with_the_last_exception() -> None:
    clock = ManualClock()
    errors = iter([ConnectionError("first"), TimeoutError("second"), ConnectionError("third")])

    def do() -> None:
        raise next(errors)

    failed: list[BaseException] = []
    with pytest.raises(ConnectionError, match="third"):
        call_with_retry(do, failed.append, attempts=3, backoff=ConstantBackoff(1),
                        sleep=clock.sleep)
    assert len(failed) == 3           # fail() sees the last one too (drop the connection)
    assert clock.sleeps == [1.0, 1.0]  # but there is no wait after it


def test_non_retryable_errors_propagate_immediately() -> None:
    do, calls = _flaky(5, KeyError("bug"))
    failed: list[BaseException] = []
    with pytest.raises(KeyError):
        call_with_retry(do, failed.append, attempts=5, sleep=ManualClock().sleep)
    assert len(calls) == 1 and failed == []


def test_custom_retry_on_and_single_attempt() -> None:
    class Transient(Exception):
        pass

    do, calls = _flaky(1, Transient())
    assert call_with_retry(do, retry_on=(Transient,), attempts=2, sleep=ManualClock().sleep)
    do, calls = _flaky(1, Transient())
    with pytest.raises(Transient):
        call_with_retry(do, retry_on=(Transient,), attempts=1)
    assert len(calls) == 1
    with pytest.raises(ConfigError):
        call_with_retry(do, attempts=0)


def test_deadline_stops_retrying_before_a_wait_would_cross_it() -> None:
    clock = ManualClock()
    do, calls = _flaky(100)
    with pytest.raises(ConnectionError):
        call_with_retry(do, attempts=100, backoff=ConstantBackoff(0.3), deadline=1.0,
                        sleep=clock.sleep, clock=clock)
    # waits at 0.3, 0.6, 0.9 elapsed; a fourth would end at 1.2 > 1.0
    assert clock.sleeps == [0.3, 0.3, 0.3] and len(calls) == 4


def test_retry_object_reuses_its_policy() -> None:
    clock = ManualClock()
    policy = Retry(attempts=3, backoff=ConstantBackoff(0.5), sleep=clock.sleep, clock=clock)
    for _ in range(2):
        do, _calls = _flaky(2)
        assert policy.call(do) == "ok after 3"
    assert clock.sleeps == [0.5] * 4
    assert "attempts=3" in repr(policy)
    with pytest.raises(ConfigError):
        Retry(attempts=0)


def test_retry_with_real_sleep_and_threads() -> None:
    # Shared policy, real time.sleep, several threads: each retry sequence is independent.
    policy = Retry(attempts=4, backoff=ExponentialBackoff(0.001, 0.004, "full"))
    results: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        do, _ = _flaky(n % 4)
        value = policy.call(do)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"ok after {n % 4 + 1}" for n in range(16))


# --- circuit breaker -----------------------------------------------------------------------------


def _breaker(clock: ManualClock, **kwargs) -> CircuitBreaker:
    kwargs.setdefault("failure_threshold", 3)
    kwargs.setdefault("cooldown", ExponentialBackoff(1.0, 8.0, "none"))
    return CircuitBreaker(clock=clock, **kwargs)


def test_opens_after_threshold_consecutive_failures() -> None:
    clock = ManualClock()
    b = _breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()           # not consecutive: the count restarts
    b.record_failure()
    b.record_failure()
    assert b.state == CLOSED and b.allow()
    b.record_failure()
    assert b.state == OPEN
    assert not b.allow()
    assert b.retry_in() == pytest.approx(1.0)


def test_half_open_admits_one_probe_then_closes_on_success() -> None:
    clock = ManualClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.now += 0.999
    assert not b.allow()
    clock.now += 0.001
    assert b.allow() and b.state == HALF_OPEN
    assert not b.allow() and not b.allow()  # the probe is in flight
    b.record_success()
    assert b.state == CLOSED and b.allow() and b.allow()


def test_failed_probes_lengthen_the_cooldown_and_success_resets_it() -> None:
    clock = ManualClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure()
    cooldowns = []
    for _ in range(5):  # the server stays dead: probe, fail, wait longer
        cooldowns.append(b.retry_in())
        clock.now += b.retry_in()
        assert b.allow()
        b.record_failure()
        assert b.state == OPEN
    assert cooldowns == [1.0, 2.0, 4.0, 8.0, 8.0]
    clock.now += b.retry_in()
    assert b.allow()
    b.record_success()
    for _ in range(3):
        b.record_failure()
    assert b.retry_in() == 1.0  # the sequence restarted after the close


def test_stale_outcomes_while_open_are_ignored() -> None:
    clock = ManualClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure()
    b.record_success()  # a call admitted before the trip finishing late
    assert b.state == OPEN
    b.record_failure()
    assert b.retry_in() == 1.0 and b.snapshot()["opens"] == 1


def test_unreported_probe_is_replaced_after_probe_timeout() -> None:
    clock = ManualClock()
    b = _breaker(clock, probe_timeout=5.0)
    for _ in range(3):
        b.record_failure()
    clock.now += 1.0
    assert b.allow()             # this prober never reports back
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow()             # a new probe is allowed
    b.record_success()
    assert b.state == CLOSED


def test_probe_without_timeout_waits_for_its_report() -> None:
    clock = ManualClock()
    b = _breaker(clock, probe_timeout=None)
    for _ in range(3):
        b.record_failure()
    clock.now += 1.0
    assert b.allow()
    clock.now += 10_000
    assert not b.allow()


def test_state_listener_snapshot_and_reset() -> None:
    clock = ManualClock()
    seen: list[tuple[str, str]] = []
    b = _breaker(clock, on_state_change=lambda old, new: seen.append((old, new)))
    for _ in range(3):
        b.record_failure()
    assert not b.allow()
    clock.now += 1.0
    assert b.allow()
    b.record_failure()
    clock.now += 2.0
    assert b.allow()
    b.record_success()
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN),
                    (HALF_OPEN, CLOSED)]
    snap = b.snapshot()
    assert snap == {"state": "closed", "state_value": 0, "consecutive_failures": 0, "opens": 2,
                    "probes": 2, "rejected": 1, "retry_in": 0.0}
    for _ in range(3):
        b.record_failure()
    b.reset()
    assert b.state == CLOSED and seen[-1] == (OPEN, CLOSED) and b.allow()


def test_default_cooldown_uses_equal_jitter() -> None:
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, clock=clock)
    b.record_failure()
    assert 0.5 <= b.retry_in() <= 1.0


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"probe_timeout": 0}])
def test_bad_breaker_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        CircuitBreaker(**kwargs)


def test_exactly_one_thread_wins_the_half_open_probe() -> None:
    rounds = max(5, int(40 * STRESS))
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, cooldown=ConstantBackoff(1.0), clock=clock)
    threads_n = 12
    b.record_failure()
    for _ in range(rounds):
        assert b.state == OPEN
        clock.now += 1.0
        barrier = threading.Barrier(threads_n)
        granted: list[bool] = []
        lock = threading.Lock()

        def contender(barrier: threading.Barrier = barrier, lock: threading.Lock = lock,
                      granted: list[bool] = granted) -> None:
            barrier.wait()
            ok = b.allow()
            with lock:
                granted.append(ok)

        threads = [threading.Thread(target=contender) for _ in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert granted.count(True) == 1
        b.record_failure()  # the probe failed: open again


def test_concurrent_failures_trip_exactly_once() -> None:
    clock = ManualClock()
    opened = []
    b = CircuitBreaker(failure_threshold=50, cooldown=ConstantBackoff(60), clock=clock,
                       on_state_change=lambda old, new: opened.append(new))
    per_thread = max(50, int(500 * STRESS))
    barrier = threading.Barrier(8)

    def fail_many() -> None:
        barrier.wait()
        for _ in range(per_thread):
            if b.allow():
                b.record_failure()

    threads = [threading.Thread(target=fail_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = b.snapshot()
    assert opened == [OPEN] and snap["opens"] == 1
    # Every allowed call was reported; all calls after the trip were rejected.
    assert snap["rejected"] >= 8 * per_thread - 50 - 8


def test_breaker_under_a_real_clock_and_threads_recovers() -> None:
    """Several threads call a "service" that is down, then up; the breaker must close again and
    the number of calls reaching the dead service must stay bounded by the probes."""
    b = CircuitBreaker(failure_threshold=3, cooldown=ExponentialBackoff(0.005, 0.02, "equal"))
    up = threading.Event()
    calls_while_down = []
    stop = threading.Event()
    lock = threading.Lock()

    def worker() -> None:
        while not stop.is_set():
            if b.allow():
                if up.is_set():
                    b.record_success()
                else:
                    with lock:
                        calls_while_down.append(1)
                    b.record_failure()
            stop.wait(0.0005)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    stop.wait(0.3)
    down_calls = len(calls_while_down)
    snapshot = b.snapshot()
    up.set()
    deadline = threading.Event()
    for _ in range(200):
        if b.state == CLOSED:
            break
        deadline.wait(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert b.state == CLOSED
    # Without the breaker ~6 threads x 600 loop turns would have hit the dead service.
    assert down_calls < 3 + 6 + snapshot["probes"] + 6  # type: ignore[operator]
    assert snapshot["opens"] >= 1 and snapshot["rejected"] > down_calls  # type: ignore[operator]


# --- the inline first attempt (FallbackGuard.call's shape) ------------------------------------


@pytest.mark.parametrize("failures", [1, 2, 4])
def test_retry_after_an_inline_first_attempt_is_the_same_policy(failures: int) -> None:
    def run_both(attempts: int) -> list[tuple[object, list[float], int, int]]:
        out = []
        for inline in (False, True):
            clock = ManualClock()
            policy = Retry(attempts=attempts, backoff=ExponentialBackoff(0.1, 1.0, "none"),
                           sleep=clock.sleep, clock=clock)
            do, calls = _flaky(failures)
            failed: list[BaseException] = []
            try:
                if not inline:
                    result: object = policy.call(do, failed.append)
                else:
                    give_up_at = policy.give_up_at()
                    try:
                        result = do()
                    except ConnectionError as exc:
                        result = policy.after(exc, lambda *a: do(*a), (), give_up_at,
                                              failed.append)
            except ConnectionError as exc:
                result = type(exc)
            out.append((result, clock.sleeps, len(calls), len(failed)))
        return out

    for attempts in (1, 2, 3, 5):
        whole, inline = run_both(attempts)
        assert whole == inline


def test_retry_after_counts_the_deadline_from_before_the_first_attempt() -> None:
    clock = ManualClock()
    policy = Retry(attempts=5, backoff=ConstantBackoff(0.3), deadline=1.0, sleep=clock.sleep,
                   clock=clock)
    give_up_at = policy.give_up_at()
    clock.now += 0.8  # the first attempt hung for 0.8 s before it failed
    calls: list[int] = []

    def again() -> str:
        calls.append(1)
        return "ok"

    with pytest.raises(ConnectionError, match="slow"):
        policy.after(ConnectionError("slow"), again, (), give_up_at)
    assert calls == [] and clock.sleeps == []  # 0.8 + 0.3 would cross the 1.0 s deadline
    assert Retry(deadline=None).give_up_at() is None


def test_the_last_failure_is_not_chained_to_the_first() -> None:
    errors = iter([ConnectionError("first"), ConnectionError("second")])

    def do() -> None:
        raise next(errors)

    with pytest.raises(ConnectionError, match="second") as info:
        call_with_retry(do, attempts=2, sleep=ManualClock().sleep)
    assert info.value.__context__ is None


def test_breaker_closed_flag_follows_every_transition() -> None:
    clock = ManualClock()
    b = _breaker(clock, failure_threshold=2)
    assert b.closed
    b.record_failure()
    b.record_success()  # a failure pending: the locked path resets it
    assert b.consecutive_failures == 0 and b.closed
    b.record_failure()
    b.record_failure()
    assert b.state == OPEN and not b.closed
    clock.now += 1.0
    assert b.allow() and b.state == HALF_OPEN and not b.closed
    b.record_success()  # closed again: the lock-free success path is not taken here
    assert b.state == CLOSED and b.closed
    b.record_success()  # closed without failures: nothing to change
    assert b.state == CLOSED and b.consecutive_failures == 0
    b.reset()
    assert b.closed
