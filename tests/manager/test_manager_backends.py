"""The backend seam: registry, a bytes-only shared backend, and the safety rules."""
from __future__ import annotations

import math
import threading

import pytest

from fbacache import CacheManager, ConfigError, UnsafeConfiguration
from fbacache.backends import Backend, available_backends, get_backend_class, register_backend
from fbacache.keys import compile_pattern


class DictStoreBackend(Backend):
    """A complete bytes-only backend over a dict, marked shared (like Redis)."""

    name = "dictstore"
    shared = True
    stores_objects = False

    def __init__(self, settings):
        super().__init__(settings)
        self.data: dict = {}
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def _live(self, key):
        entry = self.data.get(key)
        if entry and entry[1] is not None and self.settings.timer() >= entry[1]:
            del self.data[key]
            return None
        return entry

    def get(self, key, default=None):
        with self.lock:
            entry = self._live(key)
            if entry is None:
                self.misses += 1
                return default
            self.hits += 1
            return entry[0]

    def contains(self, key):
        with self.lock:
            return self._live(key) is not None

    def keys(self, pattern=None):
        with self.lock:
            ks = [k for k in list(self.data) if self._live(k) is not None]
        return ks if pattern is None else [k for k in ks if compile_pattern(pattern)(k)]

    def ttl(self, key):
        with self.lock:
            entry = self._live(key)
        if entry is None:
            return None
        return math.inf if entry[1] is None else entry[1] - self.settings.timer()

    def set(self, key, item, ttl, size, metadata=None):
        assert isinstance(item, bytes), "a shared backend only ever receives bytes"
        with self.lock:
            self.data[key] = (item, None if ttl is None else self.settings.timer() + ttl)

    def delete(self, key):
        with self.lock:
            return self.data.pop(key, None) is not None

    def touch(self, key, ttl):
        with self.lock:
            entry = self._live(key)
            if entry is None:
                return False
            self.data[key] = (entry[0], None if ttl is None else self.settings.timer() + ttl)
            return True

    def clear(self):
        with self.lock:
            self.data.clear()

    def stats(self):
        with self.lock:
            return {"hits": self.hits, "misses": self.misses, "evictions": 0, "expirations": 0,
                    "current_entries": len(self.data),
                    "current_size_bytes": sum(len(v[0]) for v in self.data.values())}


register_backend("dictstore", DictStoreBackend, replace=True)


def test_registry_lists_builtin_names_and_resolves_memory():
    assert {"memory", "redis", "tiered", "dictstore"} <= set(available_backends())
    assert get_backend_class("memory").stores_objects
    with pytest.raises(ValueError):
        register_backend("memory", DictStoreBackend)


def test_pickle_on_a_shared_backend_needs_a_signing_key(clock):
    with pytest.raises(UnsafeConfiguration):
        CacheManager(backend_type="dictstore", serialization_format="pickle", timer=clock)
    with pytest.raises(ConfigError) as info:
        CacheManager(backend_type="dictstore", serialization_format="none", timer=clock)
    assert info.value.field == "serialization_format"


def test_custom_backend_works_through_the_unchanged_manager(clock):
    m = CacheManager(backend_type="dictstore", serialization_format="msgpack",
                     compression="zstd", compression_threshold=10, timer=clock)
    m.set("a", {"x": "y" * 100}, ttl=5)
    assert m.get("a") == {"x": "y" * 100} and m.keys("a*") == ["a"]
    assert m.get_or_set("b", lambda: [1, 2]) == [1, 2]
    clock.advance(5)
    assert m.get("a") is None and m.ttl("b") == math.inf
    assert m.get_metrics()["backend"] == "dictstore"


def test_signed_pickle_on_a_shared_backend_rejects_foreign_bytes(clock):
    import pickle
    m = CacheManager(backend_type="dictstore", serialization_format="pickle",
                     signing_key=b"k" * 32, timer=clock)
    m.set("a", {"v": 1})
    assert m.get("a") == {"v": 1}
    store = m.backend.data
    store["evil"] = (b"\x00" + pickle.dumps({"pwned": True}), None)  # written by "someone else"
    store["moved"] = store["a"]  # a validly signed blob under another key
    assert m.get("evil") is None and m.get("moved") is None
    snap = m.get_metrics()
    assert snap["signature_failures"] == 2 and snap["misses"] == 2 and snap["hits"] == 1
