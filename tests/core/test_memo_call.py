"""MemoCall, compiled (``_memo.pxi``) and twin (``_memo_py.py``), keeps its promises.

The two are driven with the same calls against a model: equal values of different
types (1, 1.0, True) never share a key, a hit is counted once and exactly, a miss
goes to ``missed`` with the key, anything else to ``slow`` with the arguments as
given. Sources are a plain mapping and a real :class:`Store` (whose ``get`` the
compiled twin reads with a C call): results, hit counts and the store's own
counters must agree between the two twins.
"""
from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache import _core
from fbacache._core import _memo_py, _store_py

needs_c = pytest.mark.skipif(not _core.NATIVE, reason="compiled core not built")

ARGS = st.lists(st.one_of(st.integers(-3, 3),
                          st.sampled_from(["a", "b", b"a", None, 1.0, True, (1,)])), max_size=3)


def _impls():
    from fbacache._core import _store_c

    return [(_store_c.MemoCall, _store_c.Store), (_memo_py.MemoCall, _store_py.Store)]


def _run(memo_cls, source, calls, limit, log, data=None):
    def key_of(args):
        log.append(("key_of", args))
        return None if -3 in args else repr(tuple((type(a).__name__, a) for a in args))

    def missed(key, args):
        log.append(("missed", key, args))
        value = ("v", args)
        source.set(key, value) if hasattr(source, "set") else data.__setitem__(key, value)
        return value

    memo = memo_cls(key_of, source, missed, lambda *a, **k: log.append(("slow", a, k)) or "slow",
                    limit)
    results = [memo(*args) if not kw else memo(*args, kw=1) for args, kw in calls]
    assert memo.memo_size <= limit
    return memo, results


@needs_c
@settings(max_examples=200, deadline=None)
@given(calls=st.lists(st.tuples(ARGS, st.booleans()), max_size=30), limit=st.integers(1, 6),
       store_source=st.booleans())
def test_twins_agree_and_never_confuse_equal_values_of_other_types(calls, limit, store_source):
    outs = []
    for memo_cls, store_cls in _impls():
        log: list = []
        data: dict = {}
        if store_source:
            source = store_cls("lru")  # its own get: the compiled twin reads it in C
        else:
            source = type("Source", (), {"get": staticmethod(data.get)})
        memo, results = _run(memo_cls, source, calls, limit, log, data)
        misses = sum(1 for e in log if e[0] == "missed")
        hits = sum(1 for args, kw in calls
                   if not kw and all(type(a) in (str, int, bytes, type(None)) for a in args)
                   and -3 not in args) - misses
        assert memo.memo_hits == hits
        counters = (source.index.hits, source.index.misses) if store_source else None
        if store_source:  # one counted lookup per memoized call
            assert counters == (hits, misses)
        outs.append((results, log, memo.memo_hits, counters))
        for (args, kw), result in zip(calls, results):
            simple = not kw and all(type(a) in (str, int, bytes, type(None)) for a in args) \
                and -3 not in args
            if simple:
                assert result == ("v", tuple(args)), (args, result)  # never another type's value
            else:
                assert result == "slow"
    assert outs[0] == outs[1]


@pytest.mark.parametrize("impl", ["c", "py"])
def test_one_argument_and_its_one_tuple_are_different_calls(impl):
    if impl == "c" and not _core.NATIVE:
        pytest.skip("compiled core not built")
    memo_cls = _impls()[0 if impl == "c" else 1][0]
    data = {}
    memo = memo_cls(lambda a: repr(a), type("S", (), {"get": staticmethod(data.get)}),
                    lambda k, a: data.setdefault(k, a), lambda *a, **k: "slow")
    # the lone argument keys the memo as itself, several arguments as their tuple:
    # f("a", "b") must not find the entry of f(("a", "b")) (a tuple is never distinct)
    assert memo("a", "b") == ("a", "b") and memo(("a", "b")) == "slow"
    assert memo("a") == ("a",) and memo("a") == ("a",) and memo.memo_size == 2
    assert memo() == () and memo() == () and memo.memo_hits == 2


@pytest.mark.parametrize("impl", ["c", "py"])
def test_source_get_is_looked_up_at_each_call(impl):
    if impl == "c" and not _core.NATIVE:
        pytest.skip("compiled core not built")
    memo_cls, store_cls = _impls()[0 if impl == "c" else 1]
    store = store_cls("lru")
    store.set("k:x", "stored")

    class Front:  # like CacheManager: an instance attribute get, swapped at run time
        get = None

    front = Front()
    front.get = store.get
    memo = memo_cls(lambda a: f"k:{a[0]}", front, lambda k, a: "missed", lambda *a, **k: "slow")
    assert memo("x") == "stored" and store.index.hits == 1
    front.get = lambda key, default: "wrapped"  # e.g. a stopped manager's checking get
    assert memo("x") == "wrapped" and store.index.hits == 1
    front.get = store.get
    assert memo("x") == "stored" and store.index.hits == 2
    other = store_cls("lru")
    front.get = other.get  # another store's get: that store is read
    assert memo("x") == "missed" and other.index.misses == 1
    assert memo.memo_hits == 3  # whatever get answered, it was a hit


@pytest.mark.parametrize("impl", ["c", "py"])
def test_hits_are_counted_exactly_under_threads_and_reset(impl):
    if impl == "c" and not _core.NATIVE:
        pytest.skip("compiled core not built")
    memo_cls, store_cls = _impls()[0 if impl == "c" else 1]
    store = store_cls("lru")
    for i in range(8):
        store.set(f"k:{i}", i)
    memo = memo_cls(lambda a: f"k:{a[0]}", type("S", (), {"get": store.get})(),
                    lambda k, a: None, lambda *a, **k: "slow")
    start = threading.Barrier(4)

    def worker():
        start.wait()
        for _ in range(2000):
            for i in range(8):
                assert memo(i) == i

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert memo.memo_hits == 4 * 2000 * 8 == store.index.hits
    memo.reset_memo_hits()
    assert memo.memo_hits == 0 and memo(1) == 1 and memo.memo_hits == 1


@needs_c
def test_subclasses_are_called_through_the_compiled_call_unless_they_define_their_own():
    from fbacache._core import _store_c

    data = {"k:a": "A"}
    src = type("S", (), {"get": staticmethod(data.get)})

    class Plain(_store_c.MemoCall):
        pass

    class Own(_store_c.MemoCall):
        def __call__(self, *args, **kwargs):
            return ("own", args, kwargs)

    plain = Plain(lambda a: f"k:{a[0]}", src, lambda k, a: "missed", lambda *a, **k: ("slow", a, k))
    own = Own(lambda a: f"k:{a[0]}", src, lambda k, a: "missed", lambda *a, **k: "slow")
    assert plain("a") == "A" and plain("b") == "missed" and plain(x=1) == ("slow", (), {"x": 1})
    assert plain("a", y=2) == ("slow", ("a",), {"y": 2})  # keywords reach slow as given
    assert plain(*["a"]) == "A" and type(plain).__call__(plain, "a") == "A"  # tuple-based calls
    assert type(plain).__call__(plain, "a", y=2) == ("slow", ("a",), {"y": 2})
    assert plain.memo_hits == 3
    assert own("a") == ("own", ("a",), {}) and own.memo_hits == 0
