"""Test helpers shipped with fbacache, for its own tests and for users' and backend authors'.

- :mod:`fbacache.testing.backend_suite`: the contract every storage backend passes.
- :mod:`fbacache.testing.clock`: a hand-moved clock and stress-loop scaling.
- :class:`RedisServer` / :class:`RedisCluster` (``redis_server``, ``redis_cluster``): private
  real redis-server processes for tests of code that uses the cache (sdist: docs/redis.md);
  they stay public because the docs and the sdist's benchmarks/bench_redis.py use them.
"""
from __future__ import annotations

from fbacache.testing._resp import RespError
from fbacache.testing.redis_cluster import RedisCluster
from fbacache.testing.redis_server import (
    RedisServer,
    find_redis_cli,
    find_redis_server,
    free_port,
    redis_server_version,
)

__all__ = [
    "RedisCluster",
    "RedisServer",
    "RespError",
    "find_redis_cli",
    "find_redis_server",
    "free_port",
    "redis_server_version",
]
