"""Each manager call sends exactly the Redis commands docs/redis.md lists, counted by the server.

The counts come from the real server's ``INFO commandstats`` (read over a raw connection of
its own, so the counting adds nothing but ``INFO`` itself, which is left out): no metadata
fetch, no ``PTTL``, no ``MULTI``/``EXEC`` beside a command, whatever the configuration.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from fbacache import CacheManager
from fbacache.testing import RedisServer

KEY = b"round-trips-signing-key-0123456789"


def command_counts(server: RedisServer) -> dict[str, int]:
    """``{command: calls}`` since the server started, from ``INFO commandstats``."""
    text = server.command("INFO", "commandstats")
    if isinstance(text, bytes):
        text = text.decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line[len("cmdstat_"):].partition(":")
            counts[name] = int(fields.split(",")[0].split("=")[1])
    return counts


def sent(servers: list[RedisServer], call: Callable[[], Any]) -> dict[str, int]:
    """The commands the servers received while ``call()`` ran (``INFO`` left out)."""
    before = [command_counts(s) for s in servers]
    call()
    out: dict[str, int] = {}
    for server, was in zip(servers, before):
        for name, n in command_counts(server).items():
            if name != "info" and n != was.get(name, 0):
                out[name] = out.get(name, 0) + n - was.get(name, 0)
    return out


@pytest.fixture(params=["msgpack", "signed"])
def cache(request: pytest.FixtureRequest, redis_url: str) -> Any:
    options: dict[str, Any] = {"key_prefix": "rt"}
    if request.param == "signed":  # pickle + HMAC: verification adds no command either
        options["signing_key"] = KEY
    manager = CacheManager.from_url(redis_url, **options)
    manager.get("warm-up")  # the connection's handshake (HELLO, CLIENT SETINFO) happens here
    yield manager
    manager.close()


def test_single_calls_are_one_command(cache: CacheManager, redis_server: RedisServer) -> None:
    value = {"id": 1, "tags": ["a", "b"]}
    assert sent([redis_server], lambda: cache.set("k", value, ttl=60)) == {"set": 1}
    assert sent([redis_server], lambda: cache.set("k", value)) == {"set": 1}  # no TTL
    assert sent([redis_server], lambda: cache.get("k")) == {"get": 1}
    assert sent([redis_server], lambda: cache.get("absent")) == {"get": 1}
    assert sent([redis_server], lambda: cache.set("m", 1, metadata={"v": 2})) == {"set": 1}
    assert sent([redis_server], lambda: cache.get_metadata("m")) == {"get": 1}
    assert cache.get("k") == value and cache.get_metadata("m") == {"v": 2}
    assert sent([redis_server], lambda: cache.delete("k")) == {"unlink": 1}


def test_batches_are_one_command_or_one_pipeline(cache: CacheManager,
                                                 redis_server: RedisServer) -> None:
    data = {f"user:{i}": {"id": i} for i in range(100)}
    # one pipeline of SET ... PX, no MULTI/EXEC around it
    assert sent([redis_server], lambda: cache.set_many(data, ttl=60)) == {"set": 100}
    got: dict[Any, Any] = {}
    assert sent([redis_server], lambda: got.update(cache.get_many([*data, "absent"]))) \
        == {"mget": 1}
    assert got == data
    assert sent([redis_server], lambda: cache.delete_many(list(data))) == {"unlink": 1}


def test_a_tampered_entry_costs_one_more_command(redis_url: str,
                                                 redis_server: RedisServer) -> None:
    # The signed read drops a blob that fails verification with a Lua compare-and-delete:
    # one EVALSHA more, only for the bad entry. (commandstats also counts the GET and
    # UNLINK the script runs inside the server.)
    cache = CacheManager.from_url(redis_url, key_prefix="rt", signing_key=KEY)
    try:
        codec = cache.backend.codec
        raw = redis_server.client()
        cache.set("good", 1)
        good = raw.get(codec.encode("good"))
        for key in ("bad", "worse"):  # the blob of "good" moved under other keys
            raw.set(codec.encode(key), good)
        cache.get("bad")  # the first drop also loads the script (SCRIPT LOAD after NOSCRIPT)
        assert sent([redis_server], lambda: cache.get("worse")) \
            == {"get": 2, "evalsha": 1, "unlink": 1}
        assert sent([redis_server], lambda: cache.get("good")) == {"get": 1}
        assert cache.get_metrics()["signature_failures"] == 2
        assert raw.exists(codec.encode("bad"), codec.encode("worse")) == 0
    finally:
        cache.close()


def test_cluster_batches_one_mget_per_slot(redis_cluster: Any, redis_cluster_url: str) -> None:
    cache = CacheManager.from_url(redis_cluster_url.replace("redis://", "redis+cluster://"),
                                  key_prefix="rt")
    try:
        data = {f"user:{i}": i for i in range(30)}
        cache.set_many(data)
        cache.get("warm-up")
        client, codec = cache.backend.client, cache.backend.codec
        slots = {client.keyslot(codec.encode(k)) for k in data}
        nodes = redis_cluster.nodes
        got: dict[Any, Any] = {}
        assert sent(nodes, lambda: got.update(cache.get_many(data))) == {"mget": len(slots)}
        assert got == data
        assert sent(nodes, lambda: cache.get("user:1")) == {"get": 1}
        assert sent(nodes, lambda: cache.set("user:1", 5)) == {"set": 1}
    finally:
        cache.close()
