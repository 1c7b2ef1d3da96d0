"""Faults against real servers: SIGKILL under load, a paused or hung server, tampered payloads,
fork safety. Nothing is mocked."""
from __future__ import annotations

import os
import pickle
import random
import threading
import time
from pathlib import Path

import redis
from conftest import FAST
from fork_support import check_in_fork

from fbacache.backends.redis.backend import wrap_entry


def _stress(n: int) -> int:
    return max(5, int(n * float(os.environ.get("FBACACHE_STRESS", "1"))))


def _wait_for(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - started


def test_sigkill_under_load_falls_back_then_resumes_redis(redis_server_factory, make_manager):
    server = redis_server_factory()
    cache = make_manager("redis", server.url)
    escaped: list[BaseException] = []
    ops = [0]
    stop = threading.Event()

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        while not stop.is_set():
            k = f"k{rnd.randrange(200)}"
            try:
                op = rnd.random()
                if op < 0.4:
                    cache.get(k)
                elif op < 0.7:
                    cache.set(k, {"v": seed}, ttl=30)
                elif op < 0.8:
                    cache.get_many([f"k{i}" for i in range(rnd.randrange(20))])
                elif op < 0.9:
                    cache.delete(k)
                else:
                    cache.get_or_set(k, lambda: seed, ttl=30)
                ops[0] += 1
            except BaseException as exc:  # must never happen
                escaped.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        server.kill()
        _wait_for(lambda: cache.get_metrics()["backend_state"] != "redis", 5)
        ops_at_kill = ops[0]
        time.sleep(0.5)
        down = cache.get_metrics()
        assert down["backend_fallbacks"] > 0 and down["backend_errors"] > 0
        assert ops[0] > ops_at_kill  # callers kept being served while Redis was dead
        server.restart()
        back_after = _wait_for(lambda: cache.backend.state == "redis"
                               and server.command("DBSIZE") > 0, 5)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert escaped == [], escaped[:3]
    assert back_after < 5
    # Redis is the store again: a write lands there and a fresh client sees it
    cache.set("after", "restart")
    assert redis.Redis.from_url(server.url).get(b"fbacache:v2:test:s:after") is not None
    final = cache.get_metrics()
    assert final["backend_state"] == "redis" and final["backend_circuit_opens"] >= 1
    # the breaker kept traffic off the dead server: most calls during the outage were
    # answered by the fallback without a connection attempt
    assert final["backend_circuit_rejected"] > 0


def test_paused_server_timeouts_are_honoured(redis_server_factory, make_manager):
    server = redis_server_factory()
    cache = make_manager("redis", server.url)
    cache.set("k", "v")
    server.pause(1.5)  # CLIENT PAUSE ALL: every command is held by the server
    worst = 0.0
    results = []
    started = time.monotonic()
    for _ in range(_stress(30)):
        t0 = time.monotonic()
        results.append(cache.get("k", "miss"))
        cache.set("other", 1)
        worst = max(worst, time.monotonic() - t0)
        if time.monotonic() - started > 1.2:
            break
    # one call may take its attempts x socket_timeout (+ backoff, bounded by retry_deadline);
    # never the 1.5 s pause
    bound = FAST["retry_attempts"] * FAST["socket_timeout"] + FAST["retry_deadline"]
    assert worst < bound + 0.3, worst
    assert cache.get_metrics()["backend_fallbacks"] > 0
    _wait_for(lambda: cache.get("k") == "v" and cache.backend.state == "redis", 5)


def test_hung_server_writes_during_outage_are_invalidated_not_replayed(redis_server_factory,
                                                                       make_manager):
    server = redis_server_factory()
    cache = make_manager("redis", server.url)
    cache.set("stale", "old value", ttl=60)
    cache.set("untouched", "kept", ttl=60)
    server.suspend()  # SIGSTOP: connects succeed, nothing answers, data is kept
    try:
        cache.set("stale", "written during the outage")
        cache.set("new", "only local")
        cache.delete("untouched-by-us")
        assert cache.backend.state != "redis"
        # the outage's writes are served locally while Redis is away
        assert cache.get("stale") == "written during the outage"
        assert cache.get_metrics()["backend_dirty_pending"] is True
    finally:
        server.resume()
    _wait_for(lambda: cache.get("untouched") == "kept" and cache.backend.state == "redis", 5)
    r = redis.Redis.from_url(server.url)
    # the key written during the outage is invalidated in Redis: neither the old value
    # (stale for this process) nor our local value (never replayed) is there
    assert cache.get("stale") is None and r.get(b"fbacache:v2:test:s:stale") is None
    assert cache.get("new") is None
    m = cache.get_metrics()
    assert m["backend_dirty_pending"] is False and m["backend_fallback_entries"] == 0


class _Boom:
    """Unpickling this creates a directory: a visible side effect of pickle.loads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


def test_tampered_payload_is_a_counted_miss_and_never_unpickled(redis_url, make_manager,
                                                                tmp_path):
    cache = make_manager("redis", redis_url, manager={
        "serialization_format": "pickle", "signing_key": b"s" * 32})
    r = redis.Redis.from_url(redis_url)
    cache.set("good", {"ok": 1})
    assert cache.get("good") == {"ok": 1}
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(_Boom(marker))
    # 1. an unsigned frame (codec marker 0x00 + pickle) written by "someone else"
    r.set(b"fbacache:v2:test:s:evil", wrap_entry(b"\x00" + evil))
    # 2. a signed blob whose payload was swapped after signing
    signed = r.get(b"fbacache:v2:test:s:good")
    assert signed[:5] == b"\x00FBS\x02"  # envelope 0x00, b"FBS" 0x02, tag, bound length
    r.set(b"fbacache:v2:test:s:swapped", signed[:39] + b"\x00" + evil)
    # 3. a valid signed blob moved under another key
    r.set(b"fbacache:v2:test:s:moved", signed)
    # 4. bytes that are not even an envelope
    r.set(b"fbacache:v2:test:s:garbage", b"\x07junk")
    before = cache.get_metrics()
    for key in ("evil", "swapped", "moved", "garbage"):
        assert cache.get(key, "miss") == "miss"
    assert not marker.exists(), "a tampered payload was unpickled"
    after = cache.get_metrics()
    assert after["signature_failures"] - before["signature_failures"] == 3
    assert after["misses"] - before["misses"] == 4
    assert after["backend_corrupt_envelopes"] == 1
    # tampered signed entries were dropped (the garbage one is not ours to parse)
    assert r.exists(b"fbacache:v2:test:s:evil") == 0
    # the payload really had a side effect: unpickling it (which we never do) runs mkdir
    pickle.loads(pickle.dumps(_Boom(tmp_path / "proof")))
    assert (tmp_path / "proof").is_dir()


def test_forked_child_builds_its_own_pool(redis_url, make_manager):
    cache = make_manager("redis", redis_url)
    cache.set("parent", "p")
    parent_client = cache.backend.client
    # the child must not use the parent's sockets
    assert check_in_fork(lambda: cache.get("parent") == "p"
                         and cache.backend.client is not parent_client
                         and bool(cache.set("child", "c")) and cache.get("child") == "c")
    # the parent's pool still works and sees the child's write
    assert cache.backend.client is parent_client
    assert cache.get("child") == "c" and cache.get("parent") == "p"
