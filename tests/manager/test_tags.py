"""Tags: set(..., tags=[...]) + invalidate_tags, kept consistent with evictions and expiry."""
from __future__ import annotations

import random
import threading

import pytest

from fbacache.tags import TagIndex

from fbacache.testing.clock import stress


def test_invalidate_tags_removes_exactly_the_tagged_keys(manager):
    manager.set("p:1", 1, tags=["products", "vendor:7"])
    manager.set("p:2", 2, tags=["products"])
    manager.set("u:1", 3, tags=["users"])
    manager.set("plain", 4)
    assert manager.invalidate_tags("vendor:7") == 1
    assert sorted(manager.keys()) == ["p:2", "plain", "u:1"]
    assert manager.invalidate_tags("products", "users") == 2
    assert manager.keys() == ["plain"]
    assert manager.invalidate_tags("products") == 0
    assert manager.get_metrics()["tagged_keys"] == 0
    manager.check()


def test_rewrites_deletes_and_clear_drop_old_tags(manager):
    manager.set("k", 1, tags=["a"])
    manager.set("k", 2)  # a write without tags drops them
    assert manager.invalidate_tags("a") == 0 and manager.get("k") == 2
    manager.set("k", 3, tags=["b"])
    manager.delete("k")
    manager.set("k", 4)  # re-used key does not inherit "b"
    assert manager.invalidate_tags("b") == 0 and manager.get("k") == 4
    manager.set("j", 1, tags=["c"])
    manager.set_many({"j": 2})
    assert manager.invalidate_tags("c") == 0
    manager.set("x", 1, tags=["d"])
    manager.delete_many(["x"])
    manager.set("y", 1, tags=["d"])
    manager.clear()
    assert manager.get_metrics()["tagged_keys"] == 0
    manager.set("y", 1)
    assert manager.invalidate_tags("d") == 0
    manager.check()


def test_get_or_set_records_tags(manager):
    assert manager.get_or_set("g", lambda: 5, tags=["gen"]) == 5
    assert manager.invalidate_tags("gen") == 1 and "g" not in manager


def test_bad_tags(manager):
    with pytest.raises(TypeError):
        manager.set("k", 1, tags="products")
    with pytest.raises(ValueError):
        manager.set("k", 1, tags=[""])
    with pytest.raises(ValueError):
        manager.set("k", 1, tags=[3])
    assert "k" not in manager  # validated before storing


def test_index_stays_bounded_under_eviction(make_manager):
    m = make_manager(max_entries=50)
    for i in range(stress(5000, 500)):
        m.set(f"k{i}", i, tags=[f"t{i % 13}", "all"])
        assert m.get_metrics()["tagged_keys"] <= 2 * 50 + 64 + 1
    m.check()
    live = len(m)
    assert m.invalidate_tags("all") == live
    assert len(m) == 0


def test_index_is_pruned_after_expiry(make_manager, clock):
    m = make_manager()
    for i in range(300):
        m.set(f"old{i}", i, ttl=5, tags=["old"])
    clock.advance(10)
    for i in range(200):
        m.set(f"new{i}", i, tags=["new"])
    tagged = m.get_metrics()["tagged_keys"]
    assert tagged <= 2 * 200 + 64
    m.check()
    assert m.invalidate_tags("old") == 0  # expired ones are not counted as removed
    assert m.invalidate_tags("new") == 200


def test_random_operations_keep_the_index_consistent(make_manager, clock):
    rng = random.Random(4)
    m = make_manager(max_entries=40)
    last_tags: dict[str, set] = {}
    for step in range(stress(3000, 300)):
        key = f"k{rng.randrange(80)}"
        op = rng.random()
        if op < 0.5:
            tags = {f"t{rng.randrange(6)}" for _ in range(rng.randrange(3))}
            m.set(key, step, ttl=rng.choice([None, 1, 50]), tags=tags)
            last_tags[key] = tags
        elif op < 0.6:
            m.delete(key)
        elif op < 0.7:
            clock.advance(rng.random() * 3)
        elif op < 0.8:
            m.evict_lru(rng.randrange(3))
        else:
            tag = f"t{rng.randrange(6)}"
            m.invalidate_tags(tag)
            for k in m.keys():
                assert tag not in last_tags.get(k, set()), (step, k, tag)
        m.check()


def test_concurrent_writers_and_invalidators(make_manager):
    m = make_manager(max_entries=200)
    stop = threading.Event()
    errors = []
    n = stress(2000, 200)

    def writer(seed):
        try:
            for i in range(n):
                m.set(f"w{seed}:{i % 300}", i, tags=[f"g{i % 5}"])
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    def invalidator():
        try:
            while not stop.is_set():
                m.invalidate_tags(f"g{random.randrange(5)}")
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    inv = threading.Thread(target=invalidator)
    inv.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    inv.join(10)
    assert not errors
    m.check()
    live = len(m)
    assert m.invalidate_tags(*[f"g{i}" for i in range(5)]) == live
    assert len(m) == 0 and m.get_metrics()["tagged_keys"] == 0


def test_tag_index_unit():
    idx = TagIndex()
    idx.tag("a", ["x", "y"])
    idx.tag("b", ["y"])
    assert sorted(idx.keys_for("y")) == ["a", "b"] and idx.tags_of("a") == {"x", "y"}
    idx.tag("a", [])
    assert idx.tags_of("a") == frozenset() and idx.keys_for("x") == []
    assert idx.prune(lambda k: False) == 1 and len(idx) == 0
    idx.check()
