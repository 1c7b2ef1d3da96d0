"""The manager form of @cached: key=, ignore=, unless= and max_entries= (#14), and the
mapping form beside it (cachetools' own tests run against it in scripts/cachetools-suite.sh)."""
from __future__ import annotations

import threading

import pytest

from fbacache import ConfigError, LRUCache, cached, cachedmethod
from fbacache.keys import hashkey, typedkey


class Session:
    """An argument that has no stable key (its repr is the default one)."""


def test_ignore_by_name_and_position_leaves_arguments_out_of_the_key(manager):
    calls = []

    @cached(ttl=60, manager=manager, ignore=("session",))
    def price(asin, session=None):
        calls.append(asin)
        return len(asin)

    assert price("B01", session=Session()) == 3
    assert price("B01", session=Session()) == 3  # another session: same key, a hit
    assert price("B0002", Session()) == 5
    assert calls == ["B01", "B0002"]

    class Client:
        @cached(ttl=60, manager=manager, ignore=(0,))  # position 0: the first after self
        def fetch(self, http, path):
            calls.append(path)
            return path.upper()

    c = Client()
    assert c.fetch(Session(), "/a") == c.fetch(Session(), "/a") == "/A"
    assert calls.count("/a") == 1


def test_ignore_refuses_what_is_not_a_parameter(manager):
    with pytest.raises(ConfigError, match="nope"):
        cached(manager=manager, ignore=("nope",))(lambda a: a)
    with pytest.raises(ConfigError, match="position 3"):
        cached(manager=manager, ignore=(3,))(lambda a: a)


def test_key_function_decides_what_the_key_is_made_of(manager):
    calls = []

    @cached(manager=manager, key=lambda user, request_id: user)
    def profile(user, request_id):
        calls.append(request_id)
        return {"user": user}

    assert profile("ann", 1) == profile("ann", 2) == {"user": "ann"}
    assert profile("bob", 3) == {"user": "bob"}
    assert calls == [1, 3]
    assert profile.key_for("ann", 99) == profile.key_for("ann", 1)
    assert profile.key_for("ann", 1) != profile.key_for("bob", 1)


def test_unless_returns_a_result_without_storing_it(manager):
    calls = []

    @cached(ttl=60, manager=manager, unless=lambda result: result is None)
    def lookup(asin):
        calls.append(asin)
        return None if asin.startswith("X") else asin.lower()

    assert lookup("X1") is None and lookup("X1") is None
    assert lookup("B1") == lookup("B1") == "b1"
    assert calls == ["X1", "X1", "B1"]
    assert manager.get(lookup.key_for("X1")) is None and len(manager.keys()) == 1
    info = lookup.cache_info()
    assert (info.hits, info.misses) == (1, 3)


def test_unless_reaches_concurrent_waiters_uncached(manager):
    started, release = threading.Event(), threading.Event()
    calls = []

    @cached(ttl=60, manager=manager, unless=lambda result: result < 0)
    def slow(x):
        calls.append(x)
        started.set()
        release.wait(5)
        return -1

    out = []
    first = threading.Thread(target=lambda: out.append(slow(1)))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: out.append(slow(1)))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert out == [-1, -1]
    assert manager.keys() == []


def test_max_entries_bounds_one_functions_results(manager):
    @cached(ttl=60, manager=manager, max_entries=2)
    def square(x):
        return x * x

    @cached(ttl=60, manager=manager)
    def other(x):
        return x

    other(0)
    for x in (1, 2, 1, 3):  # 1 is used again: 2 is the least recent when 3 arrives
        square(x)
    assert square.cache_info().currsize == 2
    assert manager.get(square.key_for(2)) is None
    assert manager.get(square.key_for(1)) == 1 and manager.get(square.key_for(3)) == 9
    assert manager.get(other.key_for(0)) == 0  # other functions' entries are not counted
    with pytest.raises(ConfigError):
        cached(manager=manager, max_entries=0)(square)


def test_mapping_form_on_our_cache_a_dict_and_a_refusing_cache():
    results = LRUCache(maxsize=2, getsizeof=len)
    calls = []

    @cached(results, key=typedkey, info=True)
    def text(n):
        calls.append(n)
        return "x" * int(n)

    assert text(1) == text(1) == "x" and text(1.0) == "x"
    assert calls == [1, 1.0]  # typed keys: 1 and 1.0 apart
    assert text(3) == "xxx"  # too large for the cache: returned, not stored
    assert typedkey(3) not in results and text.cache_info().maxsize == 2
    plain: dict = {}
    double = cached(plain)(lambda x: 2 * x)
    assert double(2) == 4 and plain == {hashkey(2): 4}
    with pytest.raises(TypeError, match="None"):
        cached(None)
    with pytest.raises(TypeError, match="mapping form"):
        cached(ttl=5, info=True)


def test_cachedmethod_keeps_results_per_cache_and_counts_per_instance():
    class Catalog:
        def __init__(self, cache):
            self.cache = cache
            self.loads = 0

        @cachedmethod(lambda self: self.cache, info=True)
        def title(self, asin):
            self.loads += 1
            return asin.title()

    shared = LRUCache(maxsize=8)
    a, b = Catalog(shared), Catalog(shared)
    assert a.title("lamp") == b.title("lamp") == "Lamp"
    assert (a.loads, b.loads) == (1, 0)  # the key leaves self out: results are shared
    assert a.title.cache_info()[:2] == (0, 1) and b.title.cache_info()[:2] == (1, 0)
    assert Catalog.title(a, "desk") == "Desk" and a.title.cache_info().misses == 2
