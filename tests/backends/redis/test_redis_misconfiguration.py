"""Misconfigured Redis is never silent (issue #12, items 23 and 9): a WARNING on logger
``fbacache`` for each backend state change and for a first connection that fails, a
ConfigError for a bad URL, port, database number or timeout. Real servers throughout."""
from __future__ import annotations

import logging
import math

import pytest

from fbacache import CacheManager, ConfigError

# One attempt, trip at the first failure: each call below is one connection attempt.
QUICK = {"retry_attempts": 1, "failure_threshold": 1, "cooldown_base": 60.0,
         "cooldown_cap": 60.0, "socket_timeout": 0.5, "connect_timeout": 0.5}


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("fbacache")]


def _served_from_memory_with_a_warning(caplog, make_manager, url, cause):
    caplog.set_level(logging.WARNING, logger="fbacache")
    cache = make_manager("redis", url, **QUICK)
    assert cache.set("k", 1) and cache.get("k") == 1  # the fallback serves, as documented
    assert cache.get_metrics()["backend_state"] == "fallback"
    lines = _warnings(caplog)
    causes = cause if isinstance(cause, tuple) else (cause,)
    assert any("cannot reach the server" in m and any(c in m for c in causes)
               for m in lines), lines
    assert any("redis -> fallback" in m and any(c in m for c in causes) for m in lines), lines
    assert not any("secret" in m for m in lines)  # the password is never logged
    return lines


def test_wrong_password_is_logged(redis_server_factory, make_manager, caplog):
    # (set after start: the fixture's readiness check speaks without a password)
    server = redis_server_factory()
    server.client().config_set("requirepass", "right-one")
    url = f"redis://:secret@127.0.0.1:{server.port}/0"
    _served_from_memory_with_a_warning(caplog, make_manager, url, "AuthenticationError")


def test_a_password_in_the_query_is_never_logged(redis_server_factory, make_manager, caplog):
    # redis-py also reads ?password= (and ?ssl_password=) from the URL's query
    server = redis_server_factory()
    server.client().config_set("requirepass", "right-one")
    url = f"redis://127.0.0.1:{server.port}/0?password=secret"
    lines = _served_from_memory_with_a_warning(caplog, make_manager, url, "AuthenticationError")
    assert any("password=***" in m for m in lines), lines


@pytest.mark.parametrize("query", ["bogus=1", "ssl_password=secret", "socket_timeout=soon"])
def test_an_option_redis_py_cannot_take_is_a_config_error_at_once(redis_url, query):
    # not a TypeError/ValueError from inside redis-py at the first command
    with pytest.raises(ConfigError, match="backend_config.url") as info:
        CacheManager.from_url(f"{redis_url}?{query}")
    assert "secret" not in str(info.value)


def test_tls_to_a_plaintext_server_is_logged(redis_url, make_manager, caplog):
    url = redis_url.replace("redis://", "rediss://")
    # the handshake either times out or gets a plaintext reply, depending on what arrives
    _served_from_memory_with_a_warning(caplog, make_manager, url,
                                       ("TimeoutError", "ConnectionError"))


def test_missing_unix_socket_is_logged(tmp_path, make_manager, caplog):
    url = f"unix://{tmp_path / 'no-such.sock'}"
    lines = _served_from_memory_with_a_warning(caplog, make_manager, url, "ConnectionError")
    assert any("no-such.sock" in m for m in lines)


def test_every_state_change_is_logged_with_its_cause(redis_server_factory, make_manager,
                                                     caplog):
    caplog.set_level(logging.WARNING, logger="fbacache")
    server = redis_server_factory()
    cache = make_manager("redis", server.url, retry_attempts=1, failure_threshold=1,
                         cooldown_base=0.01, cooldown_cap=0.01)
    cache.set("k", 1)
    assert _warnings(caplog) == []  # a healthy backend says nothing
    server.kill()
    cache.get("k")
    server.restart()
    for _ in range(200):  # the first call after the (10 ms) cool-down probes and closes
        if cache.get("k", None) is None and cache.get_metrics()["backend_state"] == "redis":
            break
    lines = _warnings(caplog)
    assert any("redis -> fallback" in m and "ConnectionError" in m for m in lines), lines
    assert any("fallback -> probing" in m for m in lines), lines
    assert any("probing -> redis" in m and "answered again" in m for m in lines), lines
    # it had reached the server before: no "cannot reach" start-up warning
    assert not any("cannot reach the server" in m for m in lines)


def test_a_database_the_server_does_not_have_is_a_config_error(redis_server_factory,
                                                              make_manager):
    server = redis_server_factory(extra_args=["--databases", "2"])
    cache = make_manager("redis", f"redis://127.0.0.1:{server.port}/5")
    for call in (lambda: cache.set("k", 1), lambda: cache.get("k"), lambda: len(cache)):
        with pytest.raises(ConfigError) as info:  # every call says so; none is served
            call()                                # from memory as if Redis were down
        assert info.value.field == "backend_config.url" and "no such database" in str(info.value)
    ok = make_manager("redis", f"redis://127.0.0.1:{server.port}/1")
    assert ok.set("k", 1) and ok.get("k") == 1


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:notaport/0", "redis://127.0.0.1:99999/0", "redis://127.0.0.1:0/0",
    "redis://127.0.0.1:6379/x", "redis://127.0.0.1:6379/-1", "redis://[::1/0",
    "redis://127.0.0.1:6379/0?socket_timeout=abc", "redis://:6379/0", "unix://",
    "http://127.0.0.1:6379/0", "redis+cluster://127.0.0.1:notaport",
])
def test_malformed_urls_are_config_errors_at_construction(url):
    with pytest.raises(ConfigError) as info:
        CacheManager(backend_type="redis", serialization_format="msgpack",
                     backend_config={"url": url})
    assert info.value.field == "backend_config.url"


def test_the_password_is_not_in_the_error():
    with pytest.raises(ConfigError) as info:
        CacheManager(backend_type="redis", serialization_format="msgpack",
                     backend_config={"url": "redis://u:hunter2@127.0.0.1:99999/0"})
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


@pytest.mark.parametrize("option", ["socket_timeout", "connect_timeout", "pool_timeout",
                                    "retry_deadline", "cooldown_cap",
                                    "invalidation_ping_interval"])
@pytest.mark.parametrize("value", [math.inf, math.nan, -1.0, 0, 1e300, 3601])
def test_timeouts_must_be_finite_and_bounded(option, value):
    with pytest.raises(ConfigError) as info:
        CacheManager(backend_type="redis", serialization_format="msgpack",
                     backend_config={option: value})
    assert info.value.field == f"backend_config.{option}"


def test_the_largest_accepted_timeout_works(redis_url, make_manager):
    cache = make_manager("redis", redis_url, socket_timeout=3600, connect_timeout=3600)
    assert cache.set("k", 1) and cache.get("k") == 1
