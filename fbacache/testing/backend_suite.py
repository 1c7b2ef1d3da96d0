"""The contract every storage backend passes (dogpile.cache's generic backend suite, our shape).

:mod:`fbacache.backends.base` writes the contract down; this module checks it.  Subclass
:class:`BackendSuite` in a test module (the class name must start with ``Test`` for pytest to
collect it) and implement :meth:`~BackendSuite.make_backend`::

    from fbacache.backends.memory import MemoryBackend
    from fbacache.testing.backend_suite import BackendSuite

    class TestMemoryBackend(BackendSuite):
        def make_backend(self, settings):
            return MemoryBackend(settings)

Every test gets a fresh backend through the ``backend`` fixture (cleared and closed
afterwards).  Items are raw JSON frames (:data:`fbacache.codecs.MARKER_RAW` + JSON), the one
kind every built-in backend stores, and are compared by their JSON value.  Expiry is checked on
the real clock with TTLs of a few tenths of a second.  Class attributes describe the optional
parts a backend may leave out (metadata; deleting a corrupt entry in :meth:`discard_if`).

Needs pytest (a test dependency, not a run-time one).
"""
from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Iterator

import pytest

from fbacache.backends.base import Backend, BackendSettings
from fbacache.codecs import MARKER_RAW
from fbacache.errors import ConfigError

__all__ = ["BackendSuite", "item", "value"]

REQUIRED_STATS = ("hits", "misses", "evictions", "expirations", "current_entries",
                  "current_size_bytes")


def _remaining(backend: Backend, key: str) -> float:
    left = backend.ttl(key)
    assert left is not None, f"{key!r} is missing"
    return left


def item(obj: Any) -> bytes:
    """A stored item for ``obj``: a raw JSON frame, as ``serialization_format='json'`` writes.

    >>> item({"a": 1})
    b'\\x00{"a": 1}'
    """
    return bytes([MARKER_RAW]) + json.dumps(obj).encode("utf-8")


def value(stored: Any) -> Any:
    """The JSON value of a stored item (backends may re-format the JSON text).

    >>> value(item([1, 2]))
    [1, 2]
    """
    assert isinstance(stored, (bytes, bytearray)) and stored[0] == MARKER_RAW, stored
    return json.loads(bytes(stored[1:]))


class BackendSuite:
    """Contract tests for one backend; subclass and implement :meth:`make_backend`."""

    #: ``set(..., metadata=...)`` is kept and returned by ``get_metadata``.  False: such a
    #: ``set`` raises ConfigError (and stores nothing).
    supports_metadata = True
    #: ``discard_if`` deletes an entry still holding the given item (False: never deletes).
    discards_corrupt = True
    #: An entry stored with ``ttl=None`` never expires (``ttl()`` is inf).  False: the engine's
    #: own maximum lifetime applies instead (the filesystem backend's directory TTL).
    ttl_none_is_forever = True
    #: Seconds an entry with a short TTL is given to disappear (engines expiring lazily or by
    #: their own clock need a margin).
    expiry_margin = 0.4

    def make_backend(self, settings: BackendSettings) -> Backend:
        """Build the backend under test from ``settings`` (override this)."""
        raise NotImplementedError

    def settings(self) -> BackendSettings:
        """The settings :meth:`make_backend` receives (override to add ``options``)."""
        return BackendSettings(key_prefix="suite", timer=time.monotonic)

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        """A fresh, empty backend; cleared and closed after the test."""
        b = self.make_backend(self.settings())
        b.clear()
        try:
            yield b
        finally:
            b.clear()
            b.close()

    def _assert_unbounded(self, remaining: Any) -> None:
        if self.ttl_none_is_forever:
            assert remaining == math.inf
        else:  # the engine's maximum: finite, and longer than any TTL these tests ask for
            assert 100 < remaining < math.inf

    # ------------------------------------------------------------------ reads and writes
    def test_a_missing_key_gives_the_default(self, backend: Backend) -> None:
        """get/peek return the default and ttl/get_metadata None; nothing raises."""
        assert backend.get("absent") is None
        assert backend.get("absent", "dflt") == "dflt"
        assert backend.peek("absent", 7) == 7
        assert not backend.contains("absent")
        assert backend.ttl("absent") is None
        assert backend.get_metadata("absent") is None

    def test_set_then_get_peek_contains(self, backend: Backend) -> None:
        """A stored item reads back by get and peek; an overwrite replaces it."""
        data = item({"title": "lamp", "price": 19.99})
        backend.set("k1", data, None, len(data))
        assert value(backend.get("k1")) == {"title": "lamp", "price": 19.99}
        assert value(backend.peek("k1")) == {"title": "lamp", "price": 19.99}
        assert backend.contains("k1") and len(backend) == 1
        backend.set("k1", item(2), None, 2)  # overwrite
        assert value(backend.get("k1")) == 2 and len(backend) == 1

    def test_ttl_is_remaining_seconds_inf_or_none(self, backend: Backend) -> None:
        """ttl() is the remaining lifetime, inf without expiry, None when missing."""
        backend.set("finite", item(1), 30, 2)
        backend.set("forever", item(2), None, 2)
        assert 28 < _remaining(backend, "finite") <= 30
        self._assert_unbounded(backend.ttl("forever"))
        assert backend.ttl("absent") is None

    def test_expired_entries_are_gone(self, backend: Backend) -> None:
        """An entry past its TTL is a miss; others are untouched."""
        backend.set("short", item(1), 0.2, 2)
        backend.set("long", item(2), 60, 2)
        assert value(backend.get("short")) == 1
        time.sleep(0.2 + self.expiry_margin)
        assert backend.get("short", "gone") == "gone"
        assert not backend.contains("short") and backend.ttl("short") is None
        assert value(backend.get("long")) == 2

    def test_delete_and_delete_many(self, backend: Backend) -> None:
        """delete reports presence; delete_many counts the keys that were present."""
        for k in ("a", "b", "c"):
            backend.set(k, item(k), None, 3)
        assert backend.delete("a") is True and backend.delete("a") is False
        assert backend.delete_many(["b", "c", "zz"]) == 2
        assert len(backend) == 0 and backend.get("b") is None

    def test_get_many_and_set_many(self, backend: Backend) -> None:
        """get_many returns only present keys; set_many applies one TTL to all."""
        backend.set_many({"x": (item(1), 2), "y": (item(2), 2)}, 60)
        got = backend.get_many(["x", "y", "missing"])
        assert {k: value(v) for k, v in got.items()} == {"x": 1, "y": 2}
        assert 58 < _remaining(backend, "x") <= 60

    def test_keys_and_glob_patterns(self, backend: Backend) -> None:
        """keys() lists residents; a glob pattern filters them."""
        for k in ("user:1", "user:2", "order:1"):
            backend.set(k, item(k), None, 3)
        assert sorted(map(str, backend.keys())) == ["order:1", "user:1", "user:2"]
        assert sorted(map(str, backend.keys("user:*"))) == ["user:1", "user:2"]
        assert backend.keys("nothing*") == []

    def test_touch_restarts_the_expiry(self, backend: Backend) -> None:
        """touch sets a new lifetime for a resident key; False when missing."""
        backend.set("t", item(1), 5, 2)
        assert backend.touch("t", 100) is True and 98 < _remaining(backend, "t") <= 100
        assert backend.touch("t", None) is True
        self._assert_unbounded(backend.ttl("t"))
        assert backend.touch("absent", 10) is False

    def test_metadata(self, backend: Backend) -> None:
        """Metadata is kept and returned ({} when none), or refused with ConfigError."""
        if not self.supports_metadata:  # refused loudly, never dropped silently
            with pytest.raises(ConfigError):
                backend.set("m", item(1), None, 2, {"source": "db"})
            assert not backend.contains("m")
            return
        backend.set("m", item(1), None, 2, {"source": "db", "n": 3})
        backend.set("plain", item(2), None, 2)
        assert backend.get_metadata("m") == {"source": "db", "n": 3}
        assert backend.get_metadata("plain") == {}

    def test_clear_empties_it(self, backend: Backend) -> None:
        """clear removes every entry the backend owns."""
        for i in range(5):
            backend.set(f"k{i}", item(i), None, 2)
        backend.clear()
        assert len(backend) == 0 and backend.keys() == [] and backend.get("k0") is None

    def test_discard_if_only_removes_the_given_item(self, backend: Backend) -> None:
        """discard_if never removes a different item."""
        stored = item("old")
        backend.set("d", stored, None, len(stored))
        assert backend.discard_if("d", item("something else")) is False
        assert value(backend.get("d")) == "old"
        current = backend.peek("d")
        assert backend.discard_if("d", current) is self.discards_corrupt
        assert backend.contains("d") is not self.discards_corrupt

    # ------------------------------------------------------------------ accounting
    def test_stats_count_gets_not_peeks(self, backend: Backend) -> None:
        """stats() has the required keys; get counts hits and misses, peek does not."""
        backend.set("s", item(1), None, 2)
        before = backend.stats()
        assert set(REQUIRED_STATS) <= set(before)
        backend.get("s")
        backend.get("absent")
        backend.peek("s")
        backend.peek("absent")
        after = backend.stats()
        assert after["hits"] - before["hits"] == 1
        assert after["misses"] - before["misses"] == 1
        assert after["current_entries"] == 1 == len(backend)
        backend.check()

    # ------------------------------------------------------------------ threads
    def test_threads_share_it_safely(self, backend: Backend) -> None:
        """Four threads writing, reading and deleting at once raise nothing and lose nothing."""
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(40):
                    key = f"t{t}:{i}"
                    backend.set(key, item([t, i]), 60, 8)
                    assert value(backend.get(key)) == [t, i]
                    if i % 3 == 0:
                        assert backend.delete(key)
            except BaseException as exc:  # reported below, with the thread's own traceback
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert errors == []
        assert len(backend) == 4 * (40 - 14)
        backend.check()
