"""@cached and @cache_invalidate through the public API."""
from __future__ import annotations

import dataclasses
import enum
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

import fbacache
from fbacache import CacheManager, ConfigError, cache_invalidate, cached
from fbacache.decorators import set_default_manager

from fbacache.testing.clock import stress


def counting(manager, **kw):
    calls = []

    @cached(manager=manager, **kw)
    def f(*args, **kwargs):
        calls.append((args, kwargs))
        return [args, kwargs]
    return f, calls


def test_hits_misses_and_info(manager):
    calls = []

    @cached(ttl=60, manager=manager)
    def price(asin, currency="GBP"):
        calls.append(asin)
        return {"asin": asin, "currency": currency}

    assert price("B1") == price("B1") == price(asin="B1") == price("B1", "GBP")
    assert calls == ["B1"]
    assert price("B1", currency="EUR")["currency"] == "EUR"
    info = price.cache_info()
    assert (info.hits, info.misses, info.currsize) == (3, 2, 2)
    assert info.maxsize == manager.config.max_entries
    assert price.__name__ == "price" and price.__wrapped__ is not None


def test_keys_are_collision_free_and_type_tagged(manager):
    f, calls = counting(manager)
    pairs = [((1, 23), (12, 3)), ((1,), (1.0,)), ((1,), (True,)), ((1,), ("1",)),
             (([1],), ((1,),)), (("a,b",), ("a", "b")), ((None,), ("None",)),
             (({"a": 1},), ([["a", 1]],)), ((b"x",), ("x",)), ((frozenset([1]),), ({1},))]
    for a, b in pairs:
        assert f.key_for(*a) != f.key_for(*b), (a, b)
    # dict and set order is ignored
    assert f.key_for({"b": 1, "a": [1, {2}]}) == f.key_for({"a": [1, {2}], "b": 1})
    assert f(["x", {"k": [1, 2]}]) == f(["x", {"k": [1, 2]}])
    assert len(calls) == 1  # unhashable arguments are cached


def test_keys_are_the_same_in_another_process(manager, tmp_path):
    mod = tmp_path / "keymod.py"
    mod.write_text(textwrap.dedent("""
        from fbacache import cached
        @cached(ttl=5)
        def lookup(a, b=None, *rest, **opts):
            return a
    """))
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import keymod
        print(json.dumps(keymod.lookup.key_for([1, {"x": {2, 3}}], "s", 1.5, flag=True)))
    """)
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True,
                             capture_output=True, text=True, timeout=60).stdout
        outs.add(json.loads(out))
    assert len(outs) == 1
    key = outs.pop()
    assert key.startswith("keymod.lookup:") and len(key.split(":")[-1]) == 32


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Query:
    q: str
    page: int = 1


class Opaque:
    pass


class WithRepr:
    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"WithRepr({self.v!r})"


class WithHook:
    def __init__(self, v):
        self.v = v

    def __cache_key__(self):
        return ["hook", self.v]


def test_argument_forms(manager):
    f, calls = counting(manager)
    assert f.key_for(Color.RED) == f.key_for(Color.RED)
    assert f.key_for(Query("a")) == f.key_for(Query("a", 1)) != f.key_for(Query("a", 2))
    assert f.key_for(WithRepr(1)) == f.key_for(WithRepr(1)) != f.key_for(WithRepr(2))
    assert f.key_for(WithHook(1)) == f.key_for(WithHook(1)) != f.key_for(WithHook(2))
    assert f.key_for(int) != f.key_for(str)
    with pytest.raises(TypeError, match="memory address"):
        f(Opaque())
    assert calls == []


def test_methods_never_mix_instances_and_exclude_self(manager):
    class Repo:
        def __init__(self, name):
            self.name = name
            self.calls = 0

        @cached(manager=manager)
        def load(self, item):
            self.calls += 1
            return f"{self.name}:{item}"

    a, b = Repo("a"), Repo("a")  # equal-looking, still distinct instances
    assert a.load(1) == "a:1" and b.load(1) == "a:1"
    assert a.load(1) == "a:1"
    assert (a.calls, b.calls) == (1, 1)
    a.name = "changed"  # self is not part of the key: the cached value stays
    assert a.load(1) == "a:1"
    assert Repo.load(a, 1) == "a:1" and a.calls == 1  # unbound call: same key
    assert a.load.key_for(1) != b.load.key_for(1)


def test_instance_key_shares_results_between_equal_instances(manager):
    class Shop:
        def __init__(self, shop_id):
            self.shop_id = shop_id
            self.calls = 0

        @cached(manager=manager, instance_key=lambda self: self.shop_id)
        def stock(self, sku):
            self.calls += 1
            return (self.shop_id, sku)

    s1, s2, other = Shop(7), Shop(7), Shop(8)
    assert s1.stock("x") == s2.stock("x") == (7, "x")
    assert s1.calls + s2.calls == 1
    assert other.stock("x") == (8, "x") and other.calls == 1
    assert s1.stock.key_for("x") == s2.stock.key_for("x") != other.stock.key_for("x")


def test_instances_are_not_kept_alive_and_their_entries_go(manager):
    class Session:
        @cached(manager=manager)
        def user(self, uid):
            return {"uid": uid}

    s = Session()
    for i in range(5):
        s.user(i)
    ref = weakref.ref(s)
    assert Session.user.cache_info().currsize == 5
    del s
    gc.collect()
    assert ref() is None  # the cache held no strong reference
    keeper = Session()
    keeper.user(1)  # the next call reaps the dead instance's entries
    assert Session.user.cache_info().currsize == 1
    manager.check()


def test_unweakrefable_instances_need_an_instance_key(manager):
    class Slotted:
        __slots__ = ("k",)

        def __init__(self, k):
            self.k = k

        @cached(manager=manager)
        def get(self):
            return self.k

        @cached(manager=manager, instance_key=lambda self: self.k)
        def get_keyed(self):
            return self.k

    with pytest.raises(TypeError, match="instance_key"):
        Slotted(1).get()
    assert Slotted(1).get_keyed() == 1


def test_invalidate_and_cache_clear(manager):
    f, calls = counting(manager)
    f(1)
    f(2)
    assert f.invalidate(1) and not f.invalidate(1)
    f(1)
    assert len(calls) == 3
    assert f.cache_clear() == 2
    assert f.cache_info() == (0, 0, manager.config.max_entries, 0)

    class Box:
        @cached(manager=manager)
        def v(self, x):
            return x

    a, b = Box(), Box()
    a.v(1), a.v(2), b.v(1)
    assert a.v.invalidate(1) and not a.v.invalidate(1)
    assert a.v.cache_info().currsize == 1 and b.v.cache_info().currsize == 1
    assert b.v.cache_clear() == 1
    assert Box.v.cache_info().currsize == 1


def test_exceptions_are_not_cached(manager):
    n = []

    @cached(manager=manager)
    def flaky(x):
        n.append(x)
        if len(n) == 1:
            raise ValueError("first call fails")
        return x

    with pytest.raises(ValueError):
        flaky(1)
    assert flaky(1) == 1 and flaky(1) == 1 and len(n) == 2


def test_one_computation_for_concurrent_misses(manager):
    started = threading.Event()
    release = threading.Event()
    runs = []

    @cached(manager=manager)
    def slow(x):
        runs.append(x)
        started.set()
        release.wait(10)
        return x * 2

    results = []
    threads = [threading.Thread(target=lambda: results.append(slow(21))) for _ in range(8)]
    for t in threads:
        t.start()
    assert started.wait(10)
    time.sleep(0.05)
    release.set()
    for t in threads:
        t.join(10)
    assert results == [42] * 8 and runs == [21]


def test_ttl_expiry_uses_the_manager_clock(manager, clock):
    f, calls = counting(manager, ttl=10)
    f(1)
    clock.advance(9)
    f(1)
    clock.advance(2)
    f(1)
    assert len(calls) == 2


def test_bare_decorator_default_and_callable_manager(make_manager):
    m = make_manager()
    set_default_manager(m)
    try:
        @cached
        def double(x):
            return 2 * x

        assert double(2) == 4 and double.cache_info().misses == 1
        assert len(m.keys(double.key_prefix + ":*")) == 1
    finally:
        set_default_manager(None)
    holder = {}

    @cached(manager=lambda: holder["m"])
    def late(x):
        return x

    holder["m"] = make_manager()
    assert late(3) == 3 and len(holder["m"]) == 1


def test_refuses_async_generators_and_bad_options(manager):
    with pytest.raises(TypeError):
        @cached(manager=manager)
        async def coro():
            return 1
    with pytest.raises(TypeError):
        @cached(manager=manager)
        def gen():
            yield 1
    with pytest.raises(ConfigError):
        cached(key_prefix="")(lambda: 1)
    with pytest.raises(ConfigError):
        cached(manager=42)(lambda: 1)()


def test_lambdas_and_prefixes_do_not_collide(manager):
    f = cached(manager=manager)(lambda x: ("f", x))
    g = cached(manager=manager)(
        lambda x: ("g", x))
    assert f.key_prefix != g.key_prefix
    assert f(1) != g(1)
    h = cached(manager=manager, key_prefix="svc.h")(lambda x: x)
    assert h.key_for(1).startswith("svc.h:")


def test_classmethod_and_staticmethod_stacking(manager):
    class K:
        n = 0

        @classmethod
        @cached(manager=manager)
        def make(cls, x):
            cls.n += 1
            return x

        @staticmethod
        @cached(manager=manager)
        def util(x):
            K.n += 1
            return x

    assert K.make(1) == K.make(1) == 1 and K.util(2) == K.util(2) == 2
    assert K.n == 2


def test_tags_on_cached_and_invalidate_tags(manager):
    @cached(manager=manager, tags=lambda pid: ["products", f"product:{pid}"])
    def product(pid):
        return {"pid": pid}

    @cached(manager=manager, tags=["users"])
    def user(uid):
        return uid

    product(1), product(2), user(1)
    assert manager.invalidate_tags("product:1") == 1
    assert product.cache_info().currsize == 1
    assert manager.invalidate_tags("products", "users") == 2
    assert len(manager) == 0


def test_cache_invalidate_patterns_fields_and_failure(manager):
    manager.set_many({"product:1": 1, "product:2": 2, "list:a": 3, "list:b": 4, "u:9:x": 5})

    class Svc:
        user_id = 9

        @cache_invalidate(keys=["product:{pid}", "list:*", "u:{self.user_id}:*"],
                          manager=manager)
        def update(self, pid, fail=False):
            if fail:
                raise RuntimeError("write failed")
            return "ok"

    with pytest.raises(RuntimeError):
        Svc().update(1, fail=True)
    assert len(manager) == 5  # nothing invalidated when the call fails
    assert Svc().update(1) == "ok"
    assert manager.keys() == ["product:2"]
    with pytest.raises(ConfigError, match="nope"):
        cache_invalidate(keys=["x:{nope}"], manager=manager)(lambda a: a)
    with pytest.raises(ConfigError):
        cache_invalidate(keys=[42], manager=manager)(lambda a: a)


def test_cache_invalidate_cached_functions_and_tags(manager):
    f, calls = counting(manager, tags=["t"])

    @cached(manager=manager, tags=lambda uid: [f"user:{uid}"])
    def user(uid):
        return uid

    f(1), f(2), user(5), user(6)

    @cache_invalidate(keys=[f], tags=["user:{uid}"], manager=manager)
    def save(uid):
        return uid

    assert save(5) == 5
    assert f.cache_info().currsize == 0 and user.cache_info().currsize == 1


def test_thread_storm_on_methods_and_functions(manager):
    f, calls = counting(manager)

    class Obj:
        @cached(manager=manager)
        def m(self, x):
            return (id(self), x)

    objs = [Obj() for _ in range(4)]
    errors = []
    n = stress(300)

    def worker(seed):
        try:
            for i in range(n):
                o = objs[(seed + i) % 4]
                assert o.m(i % 7) == (id(o), i % 7)
                assert f(i % 11) == [(i % 11,), {}]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(calls) == 11
    manager.check()


def test_cached_over_the_filesystem_backend(tmp_path):
    with CacheManager(backend_type="filesystem", serialization_format="json",
                      backend_config={"directory": str(tmp_path), "ttl_seconds": 60}) as m:
        @cached(manager=m, key_prefix="amazon")
        def fetch(asin):
            return {"asin": asin}

        assert fetch("B1") == fetch("B1") == {"asin": "B1"}
        files = os.listdir(tmp_path)
        assert len(files) == 1 and files[0].startswith("amazon:")
        assert fetch.cache_info().hits == 1


def test_public_names():
    assert fbacache.cached is cached and fbacache.cache_invalidate is cache_invalidate


def test_fast_binding_matches_signature_bind():
    import inspect

    from fbacache.decorators import _simple_params, make_key

    sig = inspect.signature(lambda a, b=2, c=None: None)
    simple = _simple_params(sig)
    for args, kw in [((1,), {}), ((1, 3), {}), ((), {"a": 1}), ((1,), {"c": [1]}),
                     ((1, 2, None), {}), ((1,), {"b": 2}), ((), {"c": 1, "a": {1}})]:
        assert make_key("p", sig, args, kw) == make_key("p", sig, args, kw, simple=simple)
    for args, kw in [((1, 2, 3, 4), {}), ((), {}), ((1,), {"a": 1}), ((1,), {"zz": 1})]:
        with pytest.raises(TypeError):
            make_key("p", sig, args, kw, simple=simple)
