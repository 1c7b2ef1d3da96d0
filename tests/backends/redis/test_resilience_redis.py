"""Retry and circuit breaker against a real redis-server that is killed, restarted and paused."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from fbacache.backends.redis.backoff import ExponentialBackoff
from fbacache.backends.redis.circuit import CLOSED, CircuitBreaker
from fbacache.backends.redis.retry import call_with_retry

REDIS_TRANSIENT = (redis.ConnectionError, redis.TimeoutError)


def _client(url: str, timeout: float = 0.5) -> redis.Redis:
    # retry=None: redis-py (>= 6) otherwise retries internally by default, hiding the failures
    # our own retry/circuit logic must see.
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=None)


def test_call_with_retry_rides_out_a_restart(redis_server_factory) -> None:
    server = redis_server_factory()
    client = _client(server.url)
    client.ping()
    server.kill()
    restarter = threading.Timer(0.3, server.restart)
    restarter.start()
    failures: list[BaseException] = []
    started = time.monotonic()
    try:
        result = call_with_retry(lambda: client.set("k", "v"),
                                 lambda exc: (failures.append(exc),
                                              client.connection_pool.disconnect()),
                                 retry_on=REDIS_TRANSIENT, attempts=200,
                                 backoff=ExponentialBackoff(0.01, 0.1, "full"))
    finally:
        restarter.join()
    assert result is True and client.get("k") == b"v"
    assert failures and all(isinstance(e, redis.ConnectionError) for e in failures)
    assert time.monotonic() - started < 10


def test_retry_deadline_bounds_a_paused_server(redis_server_factory) -> None:
    server = redis_server_factory()
    client = _client(server.url, timeout=0.1)
    client.ping()
    server.pause(3.0)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        call_with_retry(client.ping, lambda exc: client.connection_pool.disconnect(),
                        retry_on=REDIS_TRANSIENT, attempts=1000,
                        backoff=ExponentialBackoff(0.01, 0.05, "equal"), deadline=0.5)
    elapsed = time.monotonic() - started
    # the deadline (0.5 s) plus at most one socket timeout in flight, plus scheduling slack
    assert elapsed < 1.5, elapsed


def test_breaker_stops_hammering_a_killed_server_and_recovers(redis_server_factory) -> None:
    server = redis_server_factory()
    breaker = CircuitBreaker(failure_threshold=5, cooldown=ExponentialBackoff(0.02, 0.2, "equal"))
    clients = [_client(server.url, timeout=0.2) for _ in range(4)]
    for c in clients:
        c.set("k", "v")
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"redis_ok": 0, "redis_fail": 0, "fallback": 0}
    escaped: list[BaseException] = []

    def worker(client: redis.Redis) -> None:
        while not stop.is_set():
            try:
                if breaker.allow():
                    try:
                        client.get("k")
                    except REDIS_TRANSIENT:
                        breaker.record_failure()
                        client.connection_pool.disconnect()
                        outcome = "redis_fail"
                    else:
                        breaker.record_success()
                        outcome = "redis_ok"
                else:
                    outcome = "fallback"
                with lock:
                    counts[outcome] += 1
            except BaseException as exc:  # pragma: no cover - must not happen
                escaped.append(exc)
            time.sleep(0.001)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        server.kill()
        time.sleep(0.8)
        with lock:
            down = dict(counts)
        snapshot = breaker.snapshot()
        assert breaker.state != CLOSED
        server.restart()
        restarted = time.monotonic()
        while breaker.state != CLOSED and time.monotonic() - restarted < 5:
            time.sleep(0.01)
        recovered_after = time.monotonic() - restarted
        time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert escaped == []
    assert breaker.state == CLOSED and recovered_after < 2.0, recovered_after
    # While open, callers were served by the fallback and only probes reached the dead server.
    assert down["fallback"] > down["redis_fail"]
    assert down["redis_fail"] <= 5 + len(clients) + int(snapshot["probes"])  # type: ignore[arg-type]
    assert counts["redis_ok"] > down["redis_ok"]  # Redis used again after the restart
