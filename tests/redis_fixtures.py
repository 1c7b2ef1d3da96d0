"""pytest fixtures for tests against real Redis servers (a plugin module; nothing here is mocked).

Use it from the top-level ``tests/conftest.py``::

    pytest_plugins = ["redis_fixtures"]

(or from any conftest: ``config.pluginmanager.import_plugin("redis_fixtures")`` in
``pytest_configure``, as ``tests/testing/conftest.py`` does). Fixtures:

* ``redis_server`` (session): a private :class:`fbacache.testing.RedisServer`. Tests that kill,
  pause or suspend a server should use ``redis_server_factory`` instead, so others are unaffected.
* ``redis_url`` (function): URL of the session server after ``FLUSHALL`` (fine: the server is
  private to this session), brought back up first if an earlier test killed or paused it.
* ``redis_server_factory`` (function): ``factory(**kwargs) -> RedisServer``; every server it made
  is stopped when the test ends.
* ``redis_cluster`` (session): a 3-master :class:`fbacache.testing.RedisCluster`.
* ``redis_cluster_url`` (function): its URL after ``FLUSHALL`` on every master.
* ``redis_cluster_factory`` (function): ``factory(**RedisCluster kwargs)`` -> a fresh private
  cluster (e.g. ``replicas=1``), stopped when the test ends. For tests that kill or fail over nodes.

Every test using one of them gets the ``redis`` marker (``pytest -m "not redis"`` deselects them).

When ``redis-server`` is missing, the fixtures try ``scripts/install-redis.sh`` once per session
(``FBACACHE_INSTALL_REDIS=0`` disables that). If it is still missing they FAIL when
``FBACACHE_REQUIRE_REDIS=1`` (CI: a silently skipped Redis suite is a broken CI) and skip otherwise.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from fbacache.errors import ServerProcessError
from fbacache.testing import RedisCluster, RedisServer, find_redis_server

REDIS_FIXTURES = frozenset({
    "redis_server", "redis_url", "redis_server_factory", "redis_cluster", "redis_cluster_url",
    "redis_cluster_factory",
})
INSTALL_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install-redis.sh"

_availability: tuple[bool, str] | None = None


def _env_flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def _check_redis_available() -> tuple[bool, str]:
    """(available, reason) — installs redis-server once per session if allowed and possible."""
    global _availability
    if _availability is not None:
        return _availability
    if find_redis_server():
        _availability = (True, "")
        return _availability
    reason = "redis-server is not installed"
    if not _env_flag("FBACACHE_INSTALL_REDIS", "1"):
        reason += " (FBACACHE_INSTALL_REDIS=0: not installing it)"
    elif not INSTALL_SCRIPT.exists():
        reason += f" and {INSTALL_SCRIPT} is missing"
    else:
        try:
            done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True,
                                  timeout=600, check=False)
            output = (done.stdout + done.stderr)[-1500:]
        except (OSError, subprocess.SubprocessError) as exc:
            output = repr(exc)
        if find_redis_server():
            _availability = (True, "")
            return _availability
        reason += f"; {INSTALL_SCRIPT.name} could not install it:\n{output}"
    _availability = (False, reason + "\nInstall Redis >= 6 (e.g. `sudo scripts/install-redis.sh`).")
    return _availability


def _require_redis() -> None:
    ok, reason = _check_redis_available()
    if ok:
        return
    if _env_flag("FBACACHE_REQUIRE_REDIS"):
        pytest.fail(f"FBACACHE_REQUIRE_REDIS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``redis`` marker (projects using this plugin need not declare it)."""
    config.addinivalue_line("markers", "redis: needs a real redis-server (fbacache.testing)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a Redis fixture with ``@pytest.mark.redis``."""
    for item in items:
        if REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (stopped at the end)."""
    _require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session server, empty (FLUSHALL) and unpaused, restarted if a test killed it."""
    if not redis_server.is_running():
        redis_server.restart()
    try:
        redis_server.resume()
        redis_server.flushall()
    except (OSError, ServerProcessError):
        # e.g. still under a CLIENT PAUSE ALL, which also delays a SIGTERM shutdown: SIGKILL is
        # fine for a private, non-persistent server.
        redis_server.kill()
        redis_server.restart()
    return redis_server.url


@pytest.fixture
def redis_server_factory() -> Iterator[Callable[..., RedisServer]]:
    """``factory(**RedisServer kwargs)`` -> a fresh private server, stopped after the test.

    For tests that SIGKILL, pause, suspend or reconfigure a server.
    """
    _require_redis()
    servers: list[RedisServer] = []

    def factory(**kwargs: object) -> RedisServer:
        server = RedisServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private 3-master Redis Cluster for the whole session."""
    _require_redis()
    with RedisCluster(masters=3) as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """URL of the session cluster after FLUSHALL on every master."""
    redis_cluster.flushall()
    return redis_cluster.url


@pytest.fixture
def redis_cluster_factory() -> Iterator[Callable[..., RedisCluster]]:
    """``factory(**RedisCluster kwargs)`` -> a fresh private cluster, stopped after the test.

    For tests that kill, restart or fail over nodes (the session cluster stays intact).
    """
    _require_redis()
    clusters: list[RedisCluster] = []

    def factory(**kwargs: object) -> RedisCluster:
        cluster = RedisCluster(**kwargs)  # type: ignore[arg-type]
        clusters.append(cluster)
        return cluster

    yield factory
    for cluster in clusters:
        cluster.stop()
