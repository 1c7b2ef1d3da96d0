"""The redis, tiered and Redis Cluster backends pass the shared backend contract, against real
servers (fixtures: tests/redis_fixtures.py)."""
from __future__ import annotations

import time

import pytest
from conftest import FAST

from fbacache.backends.base import Backend, BackendSettings
from fbacache.backends.redis.backend import RedisBackend
from fbacache.backends.tiered import TieredBackend
from fbacache.testing.backend_suite import BackendSuite


class _OnRedis(BackendSuite):
    url = ""
    extra: dict = {}

    def settings(self) -> BackendSettings:
        # the manager's clock: the tiered backend's L1 expires by it
        return BackendSettings(key_prefix="suite", timer=time.monotonic,
                               options={"url": self.url, **FAST, **self.extra})


class TestRedisBackend(_OnRedis):
    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_backend(self, settings: BackendSettings) -> Backend:
        return RedisBackend(settings)


class TestTieredBackend(_OnRedis):
    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_backend(self, settings: BackendSettings) -> Backend:
        b = TieredBackend(settings)
        assert b.bus.wait_up(5)
        return b


class TestRedisClusterBackend(_OnRedis):
    extra = {"cluster": True}

    @pytest.fixture(autouse=True)
    def _server(self, redis_cluster_url: str) -> None:
        self.url = redis_cluster_url

    def make_backend(self, settings: BackendSettings) -> Backend:
        return RedisBackend(settings)
