"""StaticDataCache: reference data (categories, currency tables, fee schedules) in a manager.

Entries live under ``<namespace>:<key>`` and never expire unless a ``ttl`` is
given. A data source passed to :meth:`~StaticDataCache.refresh_static_data` (or
``source=`` of :meth:`~StaticDataCache.cache_static_data`) is remembered, so an
entry the cache evicted is reloaded on the next read (once, through
``get_or_set``). A refresh computes the new value first and then replaces the
old one: readers see the old value until the new one is stored, and a failing
source leaves the old value in place. Concurrent refreshes of one key run the
source once.

>>> from fbacache import CacheManager, StaticDataCache
>>> static = StaticDataCache(CacheManager())
>>> static.cache_static_data("vat_rates", {"GB": 0.2})
True
>>> static.get_static_data("vat_rates")
{'GB': 0.2}
>>> static.refresh_static_data("vat_rates", lambda: {"GB": 0.2, "DE": 0.19})
{'GB': 0.2, 'DE': 0.19}
>>> static.invalidate_static_data("vat_rates"), static.get_static_data("vat_rates", "gone")
(1, {'GB': 0.2, 'DE': 0.19})
"""
from __future__ import annotations

import glob
import math
import threading
from typing import Any, Callable, Optional

from fbacache._util import MISSING
from fbacache.errors import ConfigError

__all__ = ["StaticDataCache"]


class StaticDataCache:
    """Long-lived reference data in a CacheManager (see the module docstring).

    Args:
        manager: the CacheManager holding the data.
        namespace: key prefix (``"static"`` -> ``static:<key>``).
        ttl: default lifetime in seconds (``math.inf``: never expires).
    """

    def __init__(self, manager: Any, namespace: str = "static", ttl: float = math.inf) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ConfigError("namespace", f"must be a non-empty str, got {namespace!r}")
        self.manager = manager
        self.namespace = namespace
        self.ttl = ttl
        self._sources: dict[str, Callable[[], Any]] = {}
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ConfigError("key", f"static data keys are non-empty str, got {key!r}")
        return f"{self.namespace}:{key}"

    def cache_static_data(self, key: str, data: Any, ttl: Optional[float] = None, *,
                          source: Optional[Callable[[], Any]] = None) -> bool:
        """Store ``data`` under ``key``; ``source`` (optional) reloads it after an eviction."""
        full = self._key(key)
        if source is not None:
            if not callable(source):
                raise ConfigError("source", "must be a zero-argument callable")
            with self._lock:
                self._sources[key] = source
        return bool(self.manager.set(full, data, self.ttl if ttl is None else ttl))

    def get_static_data(self, key: str, default: Any = None) -> Any:
        """The data of ``key``; reloaded from its known source if it left the cache;
        else ``default``."""
        full = self._key(key)
        value = self.manager.get(full, MISSING)
        if value is not MISSING:
            return value
        with self._lock:
            source = self._sources.get(key)
        if source is None:
            return default
        return self.manager.get_or_set(full, source, self.ttl)

    def invalidate_static_data(self, key: Optional[str] = None) -> int:
        """Drop ``key`` (None: every key of the namespace); the number of entries dropped.
        Known sources stay registered, so the next read reloads."""
        if key is None:
            return int(self.manager.invalidate(f"{glob.escape(self.namespace)}:*"))
        return int(self.manager.delete(self._key(key)))

    def refresh_static_data(self, key: str, data_source: Any, ttl: Optional[float] = None) -> Any:
        """Reload ``key`` from ``data_source`` (a callable, or the new data) and return it.

        A callable that succeeds is remembered as the key's source. Its exception
        propagates and the old value (and the old source) stay.
        """
        full = self._key(key)

        def compute() -> Any:
            data = data_source() if callable(data_source) else data_source
            self.manager.set(full, data, self.ttl if ttl is None else ttl)
            if callable(data_source):  # remembered once it has worked
                with self._lock:
                    self._sources[key] = data_source
            return data

        # Keyed apart from the cache key so a concurrent get_or_set never joins it.
        return self.manager._flight.do(("static-refresh", full), compute,
                                       self.manager.config.lock_timeout)

    def keys(self) -> list[str]:
        """Cached static keys (without the namespace)."""
        n = len(self.namespace) + 1
        return sorted(k[n:] for k in self.manager.keys(f"{glob.escape(self.namespace)}:*"))
