"""A manager's metrics: the public :class:`fbacache.manager_types.ManagerMetrics` dict.

One job: gather the figures of the pieces a :class:`fbacache.CacheManager` is composed of
(backend, codec, write counters, prefetcher, single flight, tag index, revalidator) and
merge them with :func:`fbacache.metrics.build_snapshot`. This module does not know the
manager: it is handed the pieces.
"""
from __future__ import annotations

from typing import Any, Optional, cast

from fbacache.backends.base import Backend
from fbacache.codecs import Codec
from fbacache.locks import SingleFlight
from fbacache.manager_types import ManagerMetrics
from fbacache.metrics import Counter, build_snapshot
from fbacache.prefetch import Prefetcher
from fbacache.swr import Revalidator
from fbacache.tags import TagIndex

__all__ = ["manager_metrics"]


def manager_metrics(*, backend: Backend, codec: Optional[Codec], core_store: Any,
                    sets: Counter, deletes: Counter, prefetcher: Prefetcher,
                    flight: SingleFlight, tags: TagIndex, swr: Revalidator,
                    running: bool) -> ManagerMetrics:
    """The metrics dict (each key: docs/manager.md in the sdist).

    ``core_store`` is the backend's compiled store, if any: every write of a
    store-backed backend goes through it and it counts them, so the fast set path
    bumps no manager counter and ``sets`` (the manager's counter) is read only
    without one.
    """
    codec_figures = codec.stats.snapshot() if codec is not None else {}
    own = {
        "sets": int(core_store.sets) if core_store is not None else sets.value,
        "deletes": deletes.value,
        **prefetcher.snapshot(),
        "single_flight_leaders": flight.leaders.value,
        "single_flight_waits": flight.waits.value,
        "single_flight_timeouts": flight.timeouts.value,
        "tagged_keys": len(tags), **swr.snapshot(),
    }
    snap = build_snapshot(backend.stats(), codec_figures, own)
    snap["backend"] = backend.name
    snap["running"] = running
    return cast(ManagerMetrics, snap)  # built as a dict: keys listed in ManagerMetrics
