"""Types of the CacheManager's keyword arguments and metrics, for type checkers.

``ManagerOptions`` lists the keyword arguments ``CacheManager(...)`` accepts (the
fields of :class:`~fbacache.config.CacheManagerConfig`), so ``max_entires=10`` is
a type error, not only a run-time one.  ``ManagerMetrics`` is what
``get_metrics()`` returns; a backend may add keys of its own (the Redis backend's
state), which are present at run time but not part of the type.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, TypedDict, Union

__all__ = ["ManagerOptions", "ManagerMetrics"]


class ManagerOptions(TypedDict, total=False):
    """Keyword arguments of ``CacheManager(...)`` (see CacheManagerConfig for each)."""

    backend_type: str
    backend_config: Dict[str, Any]
    default_ttl: Optional[float]
    max_entries: Optional[int]
    max_bytes: Optional[int]
    eviction_policy: str
    max_entry_size: int
    serialization_format: str
    compression: Optional[str]
    compression_threshold: int
    compression_level: Optional[int]
    max_decompressed_size: int
    key_prefix: str
    signing_key: Optional[Union[bytes, str]]
    signing_keys: Sequence[Union[bytes, str]]
    lock_timeout: float
    prefetch_queue_size: int
    prefetch_loader: Optional[Callable[[str, Optional[Mapping[str, Any]]], Any]]
    seed: Optional[int]
    timer: Optional[Callable[[], float]]


class ManagerMetrics(TypedDict):
    """``CacheManager.get_metrics()`` (docs/manager.md in the sdist describes each key)."""

    hits: int
    misses: int
    hit_rate: float
    sets: int
    deletes: int
    evictions: int
    expirations: int
    current_entries: int
    current_size_bytes: int
    cache_operations: int
    serialization_time_ms: float
    deserialization_time_ms: float
    compression_time_ms: float
    decompression_time_ms: float
    compression_ratio: float
    compression_count: int
    serialization_errors: int
    compression_errors: int
    corrupt_entries: int
    signature_failures: int
    prefetch_requests: int
    prefetch_loads: int
    prefetch_hits: int
    prefetch_queue_size: int
    prefetch_rejected: int
    prefetch_hit_rate: float
    single_flight_leaders: int
    single_flight_waits: int
    single_flight_timeouts: int
    tagged_keys: int
    swr_stale_served: int
    swr_refreshes: int
    swr_refresh_errors: int
    backend: str
    running: bool
