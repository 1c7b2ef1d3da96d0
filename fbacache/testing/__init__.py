"""Test helpers shipped with fbacache: real servers for tests of code that uses the cache."""
from __future__ import annotations

from fbacache.testing._resp import RespError
from fbacache.testing.redis_server import (
    RedisCluster,
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
