"""The memory backend: the shared backend contract, plus what only an in-process engine does."""
from __future__ import annotations

import pytest

from fbacache.backends.base import BackendSettings
from fbacache.backends.memory import MemoryBackend
from fbacache.errors import EntryTooLarge
from fbacache.testing.backend_suite import BackendSuite, item, value


class TestMemoryBackend(BackendSuite):
    """backends/base.py's contract (fbacache.testing.backend_suite)."""

    def make_backend(self, settings: BackendSettings) -> MemoryBackend:
        return MemoryBackend(settings)


def test_it_stores_live_objects_as_they_are() -> None:
    b = MemoryBackend(BackendSettings())
    obj = {"nested": [1, 2]}
    b.set("o", obj, None, 64)
    assert MemoryBackend.stores_objects and not MemoryBackend.shared
    assert b.get("o") is obj


def test_max_entries_evicts_in_policy_order() -> None:
    b = MemoryBackend(BackendSettings(max_entries=2, eviction_policy="lru"))
    b.set("a", item(1), None, 2)
    b.set("b", item(2), None, 2)
    b.get("a")  # b is now the least recently used
    b.set("c", item(3), None, 2)
    assert sorted(b.keys()) == ["a", "c"] and b.stats()["evictions"] == 1
    assert value(b.get("a")) == 1
    b.check()


def test_an_entry_larger_than_max_bytes_is_refused() -> None:
    b = MemoryBackend(BackendSettings(max_bytes=100))
    with pytest.raises(EntryTooLarge):
        b.set("big", b"x" * 200, None, 200)
    assert len(b) == 0
