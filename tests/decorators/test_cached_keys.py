"""@cached keys on the fast paths (digest memo, direct encoder) agree with the general
canonical encoding, keep types apart, and are the same in every process."""
from __future__ import annotations

import doctest
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fbacache.keys
from fbacache import cached
from fbacache.decorators import make_key
from fbacache.keys import argument_form, form_digest

from fbacache.testing.clock import stress

KEY = re.compile(r"^[A-Za-z0-9_.]+(:[0-9a-f]+)?:[0-9a-f]{32}$")  # Redis- and file-name-safe


def general_key(fn, args, kwargs, prefix):
    """The key by inspect.bind + the canonical encoder alone (no KeyPlan, no memo)."""
    sig = inspect.signature(fn.__wrapped__)
    return make_key(prefix, sig, args, kwargs)


def test_keys_module_examples():
    result = doctest.testmod(fbacache.keys)
    assert result.failed == 0 and result.attempted > 0


def test_key_format_is_unchanged(manager):
    """Keys pinned from the release before the fast paths: caches filled by it still hit."""
    @cached(manager=manager, key_prefix="pin")
    def pin(a, b=2, c=None):
        return a

    class Shop:
        @cached(manager=manager, key_prefix="Shop.stock", instance_key=lambda s: 7)
        def stock(self, sku, n=1):
            return sku

    for _ in range(2):  # the second round is served by the memo
        assert pin.key_for(1) == "pin:2cf091a5c18bc1e2372eba33431c308c"
        assert (pin.key_for("x", b=1.5, c=(True, None, b"z"))
                == "pin:93a8985351c64ea1e7f75a1427f2cdb9")
        assert pin.key_for([1, {"k": {2}}]) == "pin:b5c4f037fc1e7ef7e413cc3809fe7665"
        assert pin.key_for(-0.0, 0.0, 'é\n"') == "pin:687e50ec56af124c30d062c8533fb06d"
        assert (Shop().stock.key_for("x") ==
                "Shop.stock:ec5ea689ddfdb2ac9f0db2a05915a4f5:0a1b99afccd46648dd4f2dede16bfc1b")


def test_equivalent_bindings_share_a_key_and_a_result(manager):
    calls = []

    @cached(manager=manager, key_prefix="bind")
    def f(a, b=2, c="x"):
        calls.append((a, b, c))
        return a

    forms = [((1,), {}), ((1, 2), {}), ((1,), {"b": 2}), ((), {"a": 1, "b": 2}),
             ((1, 2, "x"), {}), ((), {"c": "x", "a": 1}), ((1,), {"c": "x", "b": 2})]
    keys = {f.key_for(*a, **k) for a, k in forms}
    assert len(keys) == 1
    for a, k in forms * 2:
        assert f(*a, **k) == 1
    assert calls == [(1, 2, "x")]
    assert f.cache_info().hits == 2 * len(forms) - 1
    assert f.key_for(1, 3) != f.key_for(1) != f.key_for(1, c="y")


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_equal_values_of_other_types_get_other_keys(manager, order):
    """1 == 1.0 == True and 0.0 == -0.0 in Python, so a memo keyed by the values alone
    would mix them; whichever is seen first, each keeps its own key."""
    @cached(manager=manager, key_prefix="types")
    def f(a, b=None):
        return [type(a).__name__, repr(a)]

    values = [1, 1.0, True, "1", b"1", 0, 0.0, -0.0, False, "", b"", None,
              (1,), (1.0,), (True,), ((1,),), [1], (0.0,), (-0.0,)]
    if order == "reverse":
        values.reverse()
    for _ in range(2):
        keys = [f.key_for(v) for v in values]
        assert len(set(keys)) == len(values)
        assert keys == [general_key(f, (v,), {}, "types") for v in values]
        for v in values:  # served values belong to the argument's own type
            assert f(v) == [type(v).__name__, repr(v)]
        pairs = [f.key_for(v, v) for v in values]
        assert len(set(pairs)) == len(values)


def test_keys_are_bounded_and_safe_for_redis_and_file_names(manager):
    @cached(manager=manager, key_prefix="app.search")
    def search(q, page=1, tags=()):
        return len(q)

    odd = ["x" * 1_000_000, "a b\r\n*?[]{}:", "\x00\x7f", "é☃𝄞", '"\\']
    for q in odd:
        for key in (search.key_for(q), search.key_for(q, 2, (q, q)), search.key_for(q.encode(
                "utf-8", "surrogatepass"))):
            assert KEY.match(key), key
            assert len(key) == len("app.search:") + 32
    assert search(odd[0]) == 1_000_000 and search(odd[0]) == 1_000_000
    assert search.cache_info().hits == 1


def test_memo_keeps_no_huge_arguments_and_stays_bounded(manager):
    @cached(manager=manager, key_prefix="memo")
    def f(a, b=0):
        return b

    big = "y" * 100_000
    assert f(big, 1) == 1 and f(big, 1) == 1
    assert not any(big in k[1] for k in f._memo)  # held by nobody but the caller
    for i in range(3000):
        f.key_for(i, i)
    assert len(f._memo) <= 1024
    assert f.key_for(5, 5) == general_key(f, (5, 5), {}, "memo")


def test_lone_surrogates_fail_the_same_way_on_every_path(manager):
    @cached(manager=manager, key_prefix="sur")
    def f(a):
        return a

    for arg in ("\ud800", ("\ud800",), ["\ud800"]):
        with pytest.raises(UnicodeEncodeError):
            f.key_for(arg)
        with pytest.raises(UnicodeEncodeError):
            general_key(f, (arg,), {}, "sur")


def test_binding_errors_are_those_of_the_function(manager):
    @cached(manager=manager)
    def f(a, b=2):
        return a

    for args, kwargs in [((), {}), ((1, 2, 3), {}), ((1,), {"a": 1}), ((1,), {"zz": 1})]:
        with pytest.raises(TypeError):
            f(*args, **kwargs)
        with pytest.raises(TypeError):
            f(*args, **kwargs)  # and again, once a memo could have been filled


def test_general_signatures_and_arguments(manager):
    @cached(manager=manager, key_prefix="gen")
    def g(a, /, b=1, *rest, c=(1, "x"), **opts):
        return [a, b, rest, c, opts]

    @cached(manager=manager, key_prefix="lst")
    def h(a, b=[1, 2]):  # noqa: B006 - a mutable default is read at each call
        return a

    cases = [((1,), {}), ((1, 2, 3, 4), {}), ((1,), {"c": 2, "z": [1]}), (("s", None), {}),
             (({"k": 1},), {}), (([1, (2,)],), {})]
    for _ in range(2):
        for args, kwargs in cases:
            assert g.key_for(*args, **kwargs) == general_key(g, args, kwargs, "gen")
            assert g(*args, **kwargs) == [args[0], *(args[1:2] or (1,)),
                                          args[2:], kwargs.get("c", (1, "x")),
                                          {k: v for k, v in kwargs.items() if k != "c"}]
    before = h.key_for(1)
    h.__wrapped__.__defaults__[0].append(3)  # the default list changed: so does the key
    assert h.key_for(1) != before
    assert h.key_for(1) == general_key(h, (1,), {}, "lst") == h.key_for(1, [1, 2, 3])


def test_defaults_with_format_characters(manager):
    @cached(manager=manager, key_prefix="pct")
    def f(a, b="%s%%", c=(1, "%d"), d=None):
        return a

    for args, kwargs in [((1,), {}), (("%s",), {}), ((1, "%"), {}), ((1, "%", ("%",)), {}),
                         ((), {"a": "%%"}), (("x",), {"d": "%(a)s"})]:
        assert f.key_for(*args, **kwargs) == general_key(f, args, kwargs, "pct")
        assert f.key_for(*args, **kwargs) == general_key(f, args, kwargs, "pct")


def test_methods_memo_digests_not_instances(manager):
    class Repo:
        def __init__(self, name):
            self.name = name

        @cached(manager=manager, key_prefix="Repo.load")
        def load(self, item, depth=1):
            return f"{self.name}:{item}:{depth}"

        @cached(manager=manager, key_prefix="Repo.keyed", instance_key=lambda s: s.name)
        def keyed(self, item):
            return f"{self.name}:{item}"

    a, b = Repo("a"), Repo("b")
    for _ in range(2):
        assert a.load(1) == "a:1:1" and b.load(1) == "b:1:1"
        assert a.load(1, depth=2) == "a:1:2" and a.load(True) == "a:True:1"
        assert a.keyed("x") == "a:x" and b.keyed("x") == "b:x"
    assert Repo("a").keyed.key_for("x") == a.keyed.key_for("x")
    sig = inspect.signature(Repo.load.__wrapped__)
    for item in (1, 1.0, True, "1", (1,)):
        digest = a.load.key_for(item).rsplit(":", 1)[1]
        assert digest == make_key("", sig, (a, item), {}, skip_first=True)[1:]
    assert Repo.load.cache_info().hits == 4
    # instance parts: memoised too, and 1 / 1.0 / True / (1,) / (1.0,) stay apart
    idents = [1, 1.0, True, "1", (1,), (1.0,), (True, "a"), 0.0, -0.0, [1]]
    for _ in range(2):
        parts = [Repo(n).keyed.key_for("x").split(":")[1] for n in idents]
        assert parts == [form_digest(argument_form(n)) for n in idents]
        assert len(set(parts)) == len(idents)


def test_method_set_on_a_class_after_use_gets_method_keys(manager):
    def load(self, item=0):
        return item

    cf = cached(manager=manager, key_prefix="late")(load)
    as_function = cf.key_for(1)  # a plain function so far: 1 is ``self``, item=0
    assert as_function == general_key(cf, (1,), {}, "late")
    Late = type("Late", (), {"load": cf})  # __set_name__: now a method
    obj = Late()
    key = obj.load.key_for(1)
    assert key.rsplit(":", 1)[1] == make_key("", inspect.signature(load), (obj, 1), {},
                                             skip_first=True)[1:]
    assert key.count(":") == 2 and key != as_function


def test_keys_are_the_same_in_other_processes(tmp_path):
    mod = tmp_path / "ckmod.py"
    mod.write_text(textwrap.dedent("""
        from fbacache import CacheManager, cached
        manager = CacheManager()
        @cached(manager=manager)
        def lookup(a, b=None, c=1.5):
            return a
        CALLS = [((1,), {}), ((1.0,), {}), ((True,), {}), (("1",), {}), ((b"1",), {}),
                 ((1, "x", 2.5), {}), ((1,), {"c": -0.0}), (((1, (None, "é")),), {}),
                 (([1, {"k": {2, 3}}],), {}), ((float("inf"), float("nan")), {})]
        def keys():
            return [lookup.key_for(*a, **k) for a, k in CALLS + CALLS]
    """))
    sys.path.insert(0, str(tmp_path))
    try:
        import ckmod
        here = ckmod.keys()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("ckmod", None)
    code = "import json, sys; sys.path.insert(0, sys.argv[1]); import ckmod; " \
           "print(json.dumps(ckmod.keys()))"
    for seed in ("0", "1", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True,
                             capture_output=True, text=True, timeout=60).stdout
        assert json.loads(out) == here
    assert here[:10] == here[10:] and len(set(here[:10])) == 10


atoms = (st.none() | st.booleans() | st.integers() | st.integers(-3, 3)
         | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1.0])
         | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
         | st.binary(max_size=6))
simple = st.recursive(atoms, lambda inner: st.lists(inner, max_size=3).map(tuple)
                      | st.lists(inner, max_size=3), max_leaves=6)


@settings(max_examples=stress(300, floor=50), deadline=None)
@given(args=st.lists(simple, max_size=4), as_kwargs=st.integers(0, 4))
def test_fast_paths_give_the_general_key(args, as_kwargs):
    from fbacache import CacheManager

    @cached(manager=CacheManager(), key_prefix="hyp")
    def f(a=None, b=0, c="", d=()):
        return None

    names = "abcd"
    positional = tuple(args[: max(0, len(args) - as_kwargs)])
    kwargs = {names[i]: v for i, v in enumerate(args) if i >= len(positional)}
    expected = general_key(f, positional, kwargs, "hyp")
    assert f.key_for(*positional, **kwargs) == expected  # first call: encoder (+ memo fill)
    assert f.key_for(*positional, **kwargs) == expected  # second: memo where it applies
    assert f.key_for(*args) == general_key(f, tuple(args), {}, "hyp")


def test_threads_share_the_memo_while_it_is_emptied(manager):
    @cached(manager=manager, key_prefix="storm")
    def f(i, tag):
        return (i, tag)

    n = stress(3000, floor=1500)  # more distinct calls than the memo keeps: it empties
    errors = []

    def worker(offset):
        try:
            for j in range(n):
                i = (j * 7 + offset) % n
                flt = float(i) if i % 3 == 0 else i
                assert f(flt, f"t{i % 5}") == (flt, f"t{i % 5}")
                assert type(f(flt, f"t{i % 5}")[0]) is type(flt)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(f._memo) <= 1024
