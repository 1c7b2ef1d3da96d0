"""@cached's compiled hit path (fbacache._core.MemoCall) keeps the full path's behaviour.

A plain function on a CacheManager answers positional str/int/bytes/None calls from
compiled code. These tests hold that path to what the full path promises: the same
keys (so invalidation, tags and cache_info find the entries), one counted lookup per
call, no confusion between equal values of different types, a stopped manager
raising, the default manager followed when it changes, and the full path wherever
the options need it.
"""
from __future__ import annotations

import pytest

import fbacache
from fbacache import CacheManager, cache_invalidate, cached
from fbacache.decorators import set_default_manager
from fbacache.errors import ManagerNotRunning


def test_plain_function_hits_in_compiled_code_with_the_full_paths_keys():
    m = CacheManager()
    calls = []

    @cached(ttl=60, manager=m, tags=["products"])
    def price(asin, currency="GBP"):
        calls.append((asin, currency))
        return f"{asin}/{currency}"

    assert price.enabled
    assert price("B1") == price("B1") == price("B1", "GBP") == "B1/GBP"
    assert calls == [("B1", "GBP")]  # a default filled in maps to the same key
    assert price.key_for("B1") in m.keys()
    info = price.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 1, 1)
    metrics = m.get_metrics()
    assert (metrics["hits"], metrics["misses"]) == (2, 1)  # the miss counted once
    assert m.invalidate_tags("products") == 1  # stored with the function's tags
    assert price("B1") == "B1/GBP" and len(calls) == 2


def test_equal_values_of_other_types_keep_their_own_entries():
    m = CacheManager()
    f = cached(manager=m)(lambda x: (type(x).__name__, x))
    assert f(1) == ("int", 1)
    assert f(1.0) == ("float", 1.0)  # float and bool go the full path, keyed by type
    assert f(True) == ("bool", True)
    assert f(b"a") == ("bytes", b"a") and f("a") == ("str", "a")
    assert f(1) == ("int", 1) and f.cache_info().currsize == 5


def test_invalidation_and_cache_clear_see_compiled_hits():
    m = CacheManager()
    f = cached(manager=m, key_prefix="prod")(lambda pid: [pid])

    @cache_invalidate(["prod:*"], manager=m)
    def update(pid):
        return pid

    first = f(7)
    assert f(7) is first
    update(7)
    assert f(7) is not first  # recomputed after the pattern dropped it
    f.cache_clear()
    f(7)
    f(7)
    assert f.cache_info().hits == 1  # counted into the fresh counter after cache_clear


def test_a_stopped_manager_raises_on_the_compiled_path_too():
    m = CacheManager()
    f = cached(manager=m)(lambda x: x)
    f("k")
    m.stop()
    with pytest.raises(ManagerNotRunning):
        f("k")
    m.start()
    assert f("k") == "k"


def test_the_default_manager_is_followed_when_it_changes():
    first, second = CacheManager(), CacheManager()
    try:
        set_default_manager(first)
        f = cached()(lambda x: [x])
        a = f("k")
        assert f("k") is a and first.exists(f.key_for("k"))
        set_default_manager(second)
        b = f("k")
        assert b is not a and f("k") is b and second.exists(f.key_for("k"))
    finally:
        set_default_manager(None)


def test_codec_managers_read_through_their_get():
    m = CacheManager(serialization_format="msgpack")
    f = cached(manager=m)(lambda x: {"v": x})
    assert f("a") == f("a") == {"v": "a"}
    assert f.cache_info().hits == 1


@pytest.mark.parametrize("options", [{"grace": 5}, {"max_entries": 10}, {"key": lambda x: x},
                                     {"ignore": ["y"]}])
def test_options_that_need_the_full_path_take_it(options):
    m = CacheManager()
    f = cached(manager=m, **options)(lambda x, y=0: [x])
    assert not f.enabled
    assert f("a") == f("a") == ["a"] and f.cache_info().hits == 1


def test_methods_and_non_manager_targets_take_the_full_path():
    m = CacheManager()

    class Repo:
        @cached(manager=m)
        def load(self, x):
            return [x]

    assert not Repo.load.enabled
    r = Repo()
    assert r.load("a") is r.load("a")
    f = cached(manager=lambda: m)(lambda x: [x])  # a factory: resolved by the full path
    assert not f.enabled and f("a") is f("a")


def test_the_wrapper_stays_truthy_and_keeps_the_functions_identity():
    def greet(name):
        """Say hello."""
        return f"hi {name}"

    f = fbacache.cached(manager=CacheManager())(greet)
    assert f and f.__name__ == "greet" and f.__doc__ == "Say hello." and f.__wrapped__ is greet


def test_a_shallow_copy_is_still_a_working_cached_function():
    import copy

    m = CacheManager()
    f = cached(manager=m)(lambda x: [x])
    first = f("a")
    g = copy.copy(f)
    assert type(g) is type(f) and g.enabled
    assert g("a") is first and g("b") is f("b")  # the same entries, through the compiled call
    assert g.key_for("a") == f.key_for("a")
