"""The cachetools contract, written from its documentation, for every mapping class.

Each test runs against our class on each core (the session fixture ``core``: compiled "c" and
twin "py", in the same run) and, as a check that the contract itself is right, against the
cachetools class of the same name.
"""
from __future__ import annotations

import pytest

cachetools = pytest.importorskip("cachetools")

NAMES = ["LRUCache", "LFUCache", "FIFOCache", "RRCache"]


def make(lib, name, maxsize, **kw):
    return getattr(lib, name)(maxsize, **kw)


@pytest.fixture
def fbacache(core):
    """fbacache's mapping classes on the core under test (``caches`` module of ``core``)."""
    return core.caches


@pytest.fixture
def lib(request, fbacache):
    """The library a parametrized test runs on: fbacache (on each core) or cachetools."""
    return fbacache if request.param == "fbacache" else cachetools


LIBS = pytest.mark.parametrize("lib", ["fbacache", "cachetools"], indirect=True)
# every class with cachetools' constructor shape; fbacache's own additions only run on fbacache
_PAIRS = [(lib, name) for lib in ("fbacache", "cachetools") for name in NAMES] + [
    ("fbacache", "ProbabilityCache"), ("fbacache", "AdaptiveCache")]
CLASSES = pytest.mark.parametrize(
    "lib,name", _PAIRS, ids=[f"{lib}-{name}" for lib, name in _PAIRS], indirect=["lib"])


@CLASSES
def test_mapping_basics(lib, name):
    c = make(lib, name, 2)
    assert c.maxsize == 2 and c.currsize == 0 and len(c) == 0
    c[1] = "a"
    assert c[1] == "a" and 1 in c and c.get(1) == "a" and c.get(9, "d") == "d"
    assert len(c) == 1 and c.currsize == 1
    c[1] = "b"
    assert c[1] == "b" and len(c) == 1
    del c[1]
    assert 1 not in c
    with pytest.raises(KeyError):
        c[1]
    with pytest.raises(KeyError):
        del c[1]


@CLASSES
def test_capacity_is_never_exceeded(lib, name):
    c = make(lib, name, 3)
    for i in range(20):
        c[i] = i
        assert len(c) <= 3 and c.currsize <= 3
    assert len(c) == 3


@CLASSES
def test_getsizeof_weights_items(lib, name):
    c = make(lib, name, 10, getsizeof=len)
    c["a"] = "xxxx"
    c["b"] = "yyyy"
    assert c.currsize == 8
    c["c"] = "zzz"
    assert c.currsize <= 10
    with pytest.raises(ValueError):
        c["big"] = "x" * 11
    assert "big" not in c
    assert c.getsizeof("abc") == 3


@CLASSES
def test_zero_maxsize(lib, name):
    c = make(lib, name, 0)
    with pytest.raises(ValueError):
        c[1] = 1
    assert len(c) == 0


@CLASSES
def test_negative_maxsize_rejected(lib, name):
    with pytest.raises(ValueError):
        make(lib, name, -1)


@CLASSES
def test_missing_hook(lib, name):
    class Cache(getattr(lib, name)):
        def __missing__(self, key):
            self[key] = value = key * 2
            return value

    c = Cache(2)
    assert c[3] == 6 and c[3] == 6 and 3 in c
    assert c.get(4) is None, "get() does not call __missing__"
    assert 4 not in c


@CLASSES
def test_pop_setdefault_popitem(lib, name):
    c = make(lib, name, 3)
    c.update({1: "a", 2: "b"})
    assert c.pop(1) == "a" and 1 not in c
    assert c.pop(1, "d") == "d"
    with pytest.raises(KeyError):
        c.pop(1)
    assert c.setdefault(2, "x") == "b"
    assert c.setdefault(5, "e") == "e" and c[5] == "e"
    key, value = c.popitem()
    assert key not in c and value in ("b", "e")
    c.clear()
    with pytest.raises(KeyError):
        c.popitem()
    assert len(c) == 0 and c.currsize == 0


@CLASSES
def test_mutable_mapping_views(lib, name):
    from collections.abc import MutableMapping

    c = make(lib, name, 5)
    c.update({1: "a", 2: "b"})
    assert isinstance(c, MutableMapping)
    assert sorted(c.keys()) == [1, 2] and sorted(c.values()) == ["a", "b"]
    assert sorted(c.items()) == [(1, "a"), (2, "b")]
    assert dict(c) == {1: "a", 2: "b"} and c == {1: "a", 2: "b"}


@LIBS
def test_lru_order(lib):
    c = lib.LRUCache(2)
    c[1], c[2] = 1, 2
    c[1]
    c[3] = 3
    assert 2 not in c and 1 in c and 3 in c


@LIBS
def test_lfu_order(lib):
    c = lib.LFUCache(2)
    c[1], c[2] = 1, 2
    c[1], c[1]
    c[3] = 3
    assert 2 not in c and 1 in c and 3 in c


@LIBS
def test_fifo_order(lib):
    c = lib.FIFOCache(2)
    c[1], c[2] = 1, 2
    c[1]
    c[3] = 3
    assert 1 not in c and 2 in c and 3 in c


@LIBS
def test_rr_custom_choice(lib):
    c = lib.RRCache(2, choice=min)
    c[5], c[3] = 5, 3
    c[9] = 9
    assert 3 not in c and 5 in c and 9 in c
    assert c.choice is min


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@LIBS
def test_ttl_cache(lib):
    clock = Clock()
    c = lib.TTLCache(maxsize=3, ttl=10, timer=clock)
    assert c.ttl == 10 and c.timer() == 0.0
    c[1] = "a"
    clock.now = 5
    c[2] = "b"
    assert c[1] == "a"
    clock.now = 10
    assert 1 not in c and c.get(1) is None and 2 in c
    with pytest.raises(KeyError):
        c[1]
    assert len(c) == 1 and c.currsize == 1
    clock.now = 15
    c[3] = "c"
    assert list(c) == [3]
    assert sorted(c.expire(100)) == [(3, "c")]
    assert len(c) == 0


@LIBS
def test_ttl_cache_evicts_lru_among_live(lib):
    clock = Clock()
    c = lib.TTLCache(maxsize=2, ttl=10, timer=clock)
    c[1], c[2] = 1, 2
    c[1]
    c[3] = 3
    assert 2 not in c and 1 in c and 3 in c


@LIBS
def test_tlru_cache(lib):
    clock = Clock()
    c = lib.TLRUCache(maxsize=5, ttu=lambda k, v, now: now + v, timer=clock)
    c["short"], c["long"] = 1, 10
    clock.now = 5
    assert "short" not in c and c["long"] == 10
    c["long"] = -1  # already expired on arrival: removes the old item
    assert "long" not in c


def test_probability_cache_bulk_and_single(fbacache):
    c = fbacache.ProbabilityCache(3, default_probability=0.5)
    c.update({"a": 1, "b": 2, "c": 3})
    assert c.set_probability("a", 0.01)
    assert not c.set_probability("missing", 0.9)
    c["d"] = 4
    assert "a" not in c
    assert c.set_probabilities({"b": 0.9, "c": 0.8, "d": 0.95}) == 3
    c["e"] = 5
    assert "c" not in c and {"b", "d", "e"} <= set(c)


def test_on_evict_hook_observes_evictions(fbacache):
    seen = []
    c = fbacache.LRUCache(2)
    c.on_evict = lambda k, v: seen.append(k)
    c.update({1: 1, 2: 2, 3: 3})
    assert seen == [1]


def test_adaptive_cache_keeps_a_hot_set_through_a_scan(fbacache):
    """A long scan of one-time keys flushes LRU but not the adaptive policy."""
    hot = [f"hot{i}" for i in range(50)]

    def survivors(cache):
        for _ in range(20):
            for key in hot:
                if cache.get(key) is None:
                    cache[key] = key
        for i in range(5000):
            key = f"scan{i}"
            if cache.get(key) is None:
                cache[key] = key
        return sum(1 for key in hot if key in cache)

    assert survivors(fbacache.LRUCache(100)) == 0
    assert survivors(fbacache.AdaptiveCache(100, seed=1)) >= 45


def _clock_value():  # module level, so a TTLCache using it pickles
    return 1000.0


@CLASSES
def test_pickle_and_copy_keep_items_capacity_and_next_victims(lib, name, fbacache):
    import copy
    import pickle

    def fresh():
        c = make(lib, name, 4, getsizeof=len)
        for k in ("a", "bb", "c"):
            c[k] = "x" * len(k)
        _ = c["a"]
        return c

    clones = [lambda c: pickle.loads(pickle.dumps(c)), copy.deepcopy]
    if lib is fbacache:  # cachetools' copy.copy() shares its internal dicts with the original
        clones.append(copy.copy)
    for make_clone in clones:
        c = fresh()
        clone = make_clone(c)
        assert type(clone) is type(c) and clone is not c
        assert clone.maxsize == 4 and clone.currsize == c.currsize == 4
        clone["d"] = "d"  # (read nothing before: cachetools' item views touch recency)
        if name in ("LRUCache", "FIFOCache"):  # the key that leaves is the original's victim
            expected = {"LRUCache": "bb", "FIFOCache": "a"}[name]
            assert expected not in clone and len(clone) == 3
        assert "d" in clone and set(c) == {"a", "bb", "c"}  # the original is untouched
        assert {k: clone[k] for k in clone} == {**{k: c[k] for k in clone if k != "d"}, "d": "d"}


@LIBS
def test_pickled_ttl_cache_keeps_ttl_and_deadlines(lib):
    import pickle

    c = lib.TTLCache(maxsize=3, ttl=10, timer=_clock_value)
    c["a"] = 1
    clone = pickle.loads(pickle.dumps(c))
    assert clone.ttl == 10 and clone.timer() == 1000.0 and clone["a"] == 1
    assert clone.expire(1009.0) == [] and list(clone) == ["a"]
    clone.expire(1010.0)
    assert "a" not in clone


def test_pickled_probability_cache_keeps_probabilities_and_custom_choice_rr_its_choice(fbacache):
    import pickle

    p = fbacache.ProbabilityCache(3, default_probability=0.4)
    p.update(a=1, b=2, c=3)
    p.set_probabilities({"a": 0.9, "c": 0.1})
    clone = pickle.loads(pickle.dumps(p))
    assert [clone.probability(k) for k in "abc"] == [0.9, 0.4, 0.1]
    clone["d"] = 4
    assert "c" not in clone and set(clone) == {"a", "b", "d"}
    with pytest.raises(KeyError):
        clone.probability("c")
    with pytest.raises(TypeError):
        fbacache.LRUCache(2).probability("a")
    rr = fbacache.RRCache(2, choice=max)
    rr.update({1: 1, 2: 2})
    rr_clone = pickle.loads(pickle.dumps(rr))
    assert rr_clone.choice is max and type(rr_clone) is type(rr)
    rr_clone[3] = 3
    assert set(rr_clone) == {1, 3}  # max() picked 2 as the victim
