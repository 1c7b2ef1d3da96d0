"""fbacache: an embeddable, synchronous Python cache with a native eviction core.

Public names are imported lazily on first use so that ``import fbacache`` stays
cheap and optional dependencies (redis, prometheus-client) load only when a
feature that needs them is used.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # native core and cachetools-compatible mapping classes
    "CORE_IMPLEMENTATION": "fbacache._core",
    "NATIVE": "fbacache._core",
    "LRUCache": "fbacache.caches",
    "LFUCache": "fbacache.caches",
    "FIFOCache": "fbacache.caches",
    "RRCache": "fbacache.caches",
    "TTLCache": "fbacache.caches",
    "TLRUCache": "fbacache.caches",
    "ProbabilityCache": "fbacache.caches",
    "AdaptiveCache": "fbacache.caches",
    # application cache
    "CacheManager": "fbacache.manager",
    "CacheManagerConfig": "fbacache.config",
    "generate_cache_key": "fbacache.keys",
    # application layer
    "cached": "fbacache.decorators",
    "cache_invalidate": "fbacache.decorators",
    "CacheInfo": "fbacache.decorators",
    "Jitter": "fbacache.swr",
    "CacheWarmer": "fbacache.warming",
    "StaticDataCache": "fbacache.static",
    "CacheMonitor": "fbacache.monitor",
    "AlertThresholds": "fbacache.monitor",
    "start_metrics_server": "fbacache.prometheus",
    "FbaCacheCollector": "fbacache.prometheus",
    # FBA filesystem adapter
    "JsonFileStore": "fbacache.fs",
    "Maintenance": "fbacache.fs",
    # errors
    "FbaCacheError": "fbacache.errors",
    "ConfigError": "fbacache.errors",
    "ManagerNotRunning": "fbacache.errors",
    "EntryTooLarge": "fbacache.errors",
    "SerializationError": "fbacache.errors",
    "BackendError": "fbacache.errors",
    "UnsafeConfiguration": "fbacache.errors",
    "SingleFlightTimeout": "fbacache.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fbacache' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from fbacache._core import CORE_IMPLEMENTATION, NATIVE
    from fbacache.caches import (
        AdaptiveCache, FIFOCache, LFUCache, LRUCache, ProbabilityCache, RRCache, TLRUCache, TTLCache,
    )
    from fbacache.config import CacheManagerConfig
    from fbacache.errors import (
        BackendError, ConfigError, EntryTooLarge, FbaCacheError, ManagerNotRunning, SerializationError,
        SingleFlightTimeout, UnsafeConfiguration,
    )
    from fbacache.decorators import CacheInfo, cache_invalidate, cached
    from fbacache.fs import JsonFileStore, Maintenance
    from fbacache.monitor import AlertThresholds, CacheMonitor
    from fbacache.prometheus import FbaCacheCollector, start_metrics_server
    from fbacache.static import StaticDataCache
    from fbacache.swr import Jitter
    from fbacache.warming import CacheWarmer
    from fbacache.keys import generate_cache_key
    from fbacache.manager import CacheManager
