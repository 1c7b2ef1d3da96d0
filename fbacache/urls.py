"""``CacheManager.from_url``: a cache described by one URL, as redis-py and aiocache offer.

==========================  ===============================================================
URL                         backend
==========================  ===============================================================
``memory://``               the in-process memory backend (the default of ``CacheManager()``)
``redis://host:port/db``    Redis (``rediss://`` for TLS, ``unix:///path.sock?db=N`` for a
                            local socket); ``tiered=True`` puts an in-process L1 in front
``redis+cluster://h:p``     Redis Cluster (seed node; the rest is discovered)
==========================  ===============================================================

Everything after the URL is a :class:`~fbacache.config.CacheManagerConfig` field
(``default_ttl=``, ``max_entries=``...) or goes to the backend in ``backend_config=``. A shared
backend given no ``serialization_format`` and no signing key uses msgpack: pickle on a store
other processes can write would be refused (:class:`~fbacache.errors.UnsafeConfiguration`).

>>> config_from_url("memory://", default_ttl=60).backend_type
'memory'
>>> c = config_from_url("redis://127.0.0.1:6379/0", tiered=True)
>>> c.backend_type, c.backend_config["url"], c.serialization_format
('tiered', 'redis://127.0.0.1:6379/0', 'msgpack')
>>> config_from_url("mongodb://x")
Traceback (most recent call last):
...
fbacache.errors.ConfigError: url: unsupported scheme 'mongodb'; use memory://, redis://, rediss://, unix:// or redis+cluster://
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from fbacache.config import CacheManagerConfig
from fbacache.errors import ConfigError

__all__ = ["config_from_url"]

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster")


def config_from_url(url: str, *, tiered: bool = False,
                    backend_config: Optional[Mapping[str, Any]] = None,
                    **fields: Any) -> CacheManagerConfig:
    """The :class:`CacheManagerConfig` that ``url`` (plus config ``fields``) describes.

    Raises ConfigError for an unsupported scheme, a ``memory://`` URL with a location, a
    ``tiered`` memory cache or a bad field; TypeError for an unknown field name.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError("url", f"must be a URL such as memory:// or redis://host:port/0, "
                                 f"got {url!r}")
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if "backend_type" in fields:
        raise ConfigError("backend_type", "the URL's scheme chooses the backend; do not pass "
                                          "backend_type to from_url")
    extra = dict(backend_config or {})
    if not isinstance(tiered, bool):
        raise ConfigError("tiered", f"must be a bool, got {tiered!r}")
    if scheme == "memory":
        if rest not in ("", "/"):
            raise ConfigError("url", f"memory:// takes no location, got {url!r}")
        if tiered:
            raise ConfigError("tiered", "a memory cache has no second tier")
        return CacheManagerConfig(backend_type="memory", backend_config=extra, **fields)
    if scheme not in _REDIS_SCHEMES:
        raise ConfigError("url", f"unsupported scheme {scheme!r}; use memory://, redis://, "
                                 "rediss://, unix:// or redis+cluster://")
    if "url" in extra:
        raise ConfigError("backend_config.url", "given twice (the URL argument and "
                                                "backend_config['url'])")
    extra["url"] = url
    signed = fields.get("signing_key") is not None or bool(fields.get("signing_keys"))
    if "serialization_format" not in fields and not signed:
        fields["serialization_format"] = "msgpack"
    return CacheManagerConfig(backend_type="tiered" if tiered else "redis",
                              backend_config=extra, **fields)
