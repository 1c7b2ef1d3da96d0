"""fbacache: an embeddable, synchronous Python cache with a native eviction core.

Public names are imported lazily on first use so that ``import fbacache`` stays
cheap and optional dependencies (redis, prometheus-client) load only when a
feature that needs them is used.

The guides (``docs/*.md``), the test suite, the benchmarks and the scripts that docstrings name
are not installed with the wheel: they are in the source distribution, "the sdist"
(``pip download --no-binary fbacache --no-deps fbacache`` fetches it; ``docs/`` is at its top).
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
    "cachedmethod": "fbacache.memo_method",
    "keys": "fbacache.keys",
    "cache_invalidate": "fbacache.invalidate",
    "CacheInfo": "fbacache.decorators",
    "Jitter": "fbacache.swr",
    "CacheWarmer": "fbacache.extras.warming",
    "StaticDataCache": "fbacache.extras.static",
    "CacheMonitor": "fbacache.extras.monitor",
    "AlertThresholds": "fbacache.extras.monitor",
    "start_metrics_server": "fbacache.extras.prometheus",
    "FbaCacheCollector": "fbacache.extras.prometheus",
    # FBA filesystem adapter
    "JsonFileStore": "fbacache.fba",
    "Maintenance": "fbacache.fba",
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
    imported = importlib.import_module(module)
    value = imported if module == f"fbacache.{name}" else getattr(imported, name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers only; `X as X` marks a re-export (mypy --strict)
    from fbacache._core import CORE_IMPLEMENTATION as CORE_IMPLEMENTATION
    from fbacache._core import NATIVE as NATIVE
    from fbacache.caches import AdaptiveCache as AdaptiveCache
    from fbacache.caches import FIFOCache as FIFOCache
    from fbacache.caches import LFUCache as LFUCache
    from fbacache.caches import LRUCache as LRUCache
    from fbacache.caches import ProbabilityCache as ProbabilityCache
    from fbacache.caches import RRCache as RRCache
    from fbacache.caches import TLRUCache as TLRUCache
    from fbacache.caches import TTLCache as TTLCache
    from fbacache.config import CacheManagerConfig as CacheManagerConfig
    from fbacache.decorators import CacheInfo as CacheInfo
    from fbacache.invalidate import cache_invalidate as cache_invalidate
    from fbacache.decorators import cached as cached
    from fbacache.memo_method import cachedmethod as cachedmethod
    from fbacache.errors import BackendError as BackendError
    from fbacache.errors import ConfigError as ConfigError
    from fbacache.errors import EntryTooLarge as EntryTooLarge
    from fbacache.errors import FbaCacheError as FbaCacheError
    from fbacache.errors import ManagerNotRunning as ManagerNotRunning
    from fbacache.errors import SerializationError as SerializationError
    from fbacache.errors import SingleFlightTimeout as SingleFlightTimeout
    from fbacache.errors import UnsafeConfiguration as UnsafeConfiguration
    from fbacache.fba import JsonFileStore as JsonFileStore
    from fbacache.fba import Maintenance as Maintenance
    from fbacache.keys import generate_cache_key as generate_cache_key
    from fbacache.manager import CacheManager as CacheManager
    from fbacache.extras.monitor import AlertThresholds as AlertThresholds
    from fbacache.extras.monitor import CacheMonitor as CacheMonitor
    from fbacache.extras.prometheus import FbaCacheCollector as FbaCacheCollector
    from fbacache.extras.prometheus import start_metrics_server as start_metrics_server
    from fbacache.extras.static import StaticDataCache as StaticDataCache
    from fbacache.swr import Jitter as Jitter
    from fbacache.extras.warming import CacheWarmer as CacheWarmer
