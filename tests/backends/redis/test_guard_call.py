"""FallbackGuard.call: the closure-free form of run() keeps run()'s retry, breaker, fallback
and error semantics. Real exceptions and functions; no server needed (the real-server
versions are in test_redis_faults.py and test_resilience_redis.py)."""
from __future__ import annotations

import pytest
import redis

from fbacache.backends.redis.client import RedisOptions
from fbacache.backends.redis.fallback import DOWN, FallbackGuard
from fbacache.errors import BackendError


def _guard(**options: object) -> FallbackGuard:
    opts = RedisOptions(retry_attempts=2, retry_backoff_base=0.0, retry_backoff_cap=0.0,
                        failure_threshold=2, **options)  # type: ignore[arg-type]
    return FallbackGuard(opts)


def test_call_passes_arguments_and_counts_nothing_on_success() -> None:
    guard = _guard()
    assert guard.call(lambda a, b: a + b, 2, 3) == 5
    snap = guard.snapshot()
    assert (snap["backend_errors"], snap["backend_fallbacks"], guard.state) == (0, 0, "redis")


def test_a_failed_first_attempt_is_retried_with_the_same_arguments() -> None:
    guard = _guard()
    seen: list[int] = []

    def flaky(n: int) -> int:
        seen.append(n)
        if len(seen) == 1:
            raise redis.ConnectionError("reset")
        return n * 2

    assert guard.call(flaky, 21) == 42
    assert seen == [21, 21] and guard.errors.value == 1 and guard.fallbacks.value == 0
    assert guard.breaker.consecutive_failures == 0  # the retry's success reset it


def test_exhausted_retries_return_down_then_the_breaker_opens() -> None:
    guard = _guard()

    def dead() -> None:
        raise redis.ConnectionError("refused")

    assert guard.call(dead) is DOWN and guard.state == "redis"  # 1 call failed (2 attempts)
    assert guard.call(dead) is DOWN and guard.state == "fallback"  # threshold 2: open
    calls: list[int] = []
    assert guard.call(lambda: calls.append(1)) is DOWN and calls == []  # not even tried
    snap = guard.snapshot()
    assert (snap["backend_errors"], snap["backend_fallbacks"]) == (4, 3)
    assert guard.run(dead, lambda: "memory") == "memory"  # run() is call() + the fallback
    assert repr(DOWN) == "DOWN"


def test_without_a_fallback_down_is_an_error() -> None:
    guard = _guard(fallback=False)

    def dead() -> None:
        raise redis.TimeoutError("slow")

    with pytest.raises(BackendError, match="fallback is disabled"):
        guard.call(dead)


def test_reply_errors_propagate_and_count_as_an_answer() -> None:
    guard = _guard()
    guard.breaker.record_failure()  # one failure pending

    def wrongtype() -> None:
        raise redis.ResponseError("WRONGTYPE Operation against a key")

    with pytest.raises(redis.ResponseError):
        guard.call(wrongtype)
    assert guard.breaker.consecutive_failures == 0 and guard.errors.value == 0

    def bug() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        guard.call(bug)
    assert guard.fallbacks.value == 0
