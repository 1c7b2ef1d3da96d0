"""The codec reader lending the stored payload to ``loads`` (``buffers=True``), on both cores.

With ``buffers`` the reader hands ``loads`` a read-only buffer over the stored bytes past
the marker instead of a copy. The compiled core reuses one such object between reads;
these tests hold it to what a copy would give: a payload that ``loads`` keeps stays the
bytes it was, a read made from inside ``loads`` gets its own payload, nothing is writable.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache import _core


@pytest.fixture
def pair(core):
    """(Store, Reader) of the core under test."""
    if core.name == "c":
        return _core.Store, _core.Reader
    return _core.PyStore, _core.PyReader


def _fallback(key, item, default):
    return ("fallback", key, item)


def _reader(pair, loads, sample=1 << 20):
    Store, Reader = pair
    store = Store("lru")
    return store, Reader(store, loads, 1 << 10, loads, _fallback, sample, buffers=True)


def test_loads_gets_a_read_only_buffer_of_the_payload(pair):
    seen = []

    def loads(payload):
        with memoryview(payload) as view:
            seen.append((type(payload) is bytes, view.readonly, view.format, view.nbytes))
            return view.tobytes()

    store, read = _reader(pair, loads)
    store.set("k", b"\x00abc")
    store.set("empty", b"\x00")
    assert read("k") == b"abc" and read("empty") == b"" and read("k") == b"abc"
    assert seen == [(False, True, "B", 3), (False, True, "B", 0), (False, True, "B", 3)]


def test_a_payload_that_loads_keeps_stays_the_bytes_it_was(pair):
    kept = []

    def loads(payload):
        kept.append(payload)
        return bytes(payload)

    store, read = _reader(pair, loads)
    store.set("a", b"\x00first")
    store.set("b", b"\x00second")
    assert read("a") == b"first"
    store.set("a", b"\x00replaced")  # the stored blob is gone from the store
    assert read("b") == b"second" and read("a") == b"replaced"
    store.delete("b")
    assert [bytes(p) for p in kept] == [b"first", b"second", b"replaced"]


def test_a_read_from_inside_loads_gets_its_own_payload(pair):
    def loads(payload):
        if bytes(payload) == b"outer":
            inner = read("inner")  # re-entrant: the outer payload is still lent out
            return (bytes(payload), inner)
        return bytes(payload)

    store, read = _reader(pair, loads)
    store.set("outer", b"\x00outer")
    store.set("inner", b"\x00inner")
    for _ in range(3):
        assert read("outer") == (b"outer", b"inner")
    assert read("inner") == b"inner"
    assert store.index.hits == 7


def test_a_load_that_writes_to_the_payload_fails_and_goes_to_the_fallback(pair):
    def loads(payload):
        memoryview(payload)[0] = 0  # TypeError: read-only
        return "written"

    store, read = _reader(pair, loads)
    store.set("k", b"\x00abc")
    assert read("k") == ("fallback", "k", b"\x00abc")
    assert store.get("k") == b"\x00abc"


def test_the_timed_load_also_gets_the_payload(pair):
    Store, Reader = pair
    store = Store("lru")
    read = Reader(store, lambda p: ("loads", bytes(p)), 1 << 10,
                  lambda p: ("timed", bytes(p)), _fallback, 2, buffers=True)
    store.set("k", b"\x00v")
    assert [read("k") for _ in range(4)] == [("loads", b"v"), ("timed", b"v")] * 2


def test_with_stats_the_sampled_load_is_timed_by_the_reader(pair):
    class Stats:
        deserialization_s = 0.0

    Store, Reader = pair
    store, stats, timed = Store("lru"), Stats(), []
    read = Reader(store, lambda p: bytes(p), 1 << 10, timed.append, _fallback, 4,
                  buffers=True, stats=stats)
    store.set("k", b"\x00v")
    assert [read("k") for _ in range(8)] == [b"v"] * 8
    assert timed == [] and stats.deserialization_s > 0  # two loads timed, each counted 4x


class _CallableObject:
    """A loads with no vectorcall slot (an instance with ``__call__``)."""

    def __call__(self, payload):
        return ("object", bytes(payload).decode())


def _loads_kinds():
    import functools
    import pickle

    from fbacache._core import KeywordCall

    def function(payload):
        return ("function", bytes(payload).decode())

    # (loads, stored payload, value): each way a loads can be called from C
    return [
        pytest.param(pickle.loads, pickle.dumps([1, "x"], protocol=5), [1, "x"],
                     id="builtin-fastcall-keywords"),
        pytest.param(len, b"abcd", 4, id="builtin-METH_O"),
        pytest.param(function, b"v", ("function", "v"), id="python-function"),
        pytest.param(_CallableObject(), b"v", ("object", "v"), id="no-vectorcall"),
        pytest.param(functools.partial(int, base=16), b"ff", None, id="partial-no-buffers"),
        pytest.param(KeywordCall(int, base=16), b"ff", None, id="keyword-call-no-buffers"),
    ]


@pytest.mark.parametrize("loads, payload, value", _loads_kinds())
@pytest.mark.parametrize("buffers", [True, False])
def test_every_kind_of_loads_reads_and_its_errors_go_to_the_fallback(pair, loads, payload,
                                                                     value, buffers):
    # the compiled reader calls a builtin loads through its C function and any other
    # through its vectorcall slot or a plain call: all read alike, raise alike
    Store, Reader = pair
    store = Store("lru")
    read = Reader(store, loads, 1 << 10, loads, _fallback, 1 << 20, buffers=buffers)
    store.set("k", b"\x00" + payload)
    if value is None:  # int() reads bytes, not a buffer object
        value = 255
        if buffers:
            assert read("k") == ("fallback", "k", b"\x00ff")
            return
    assert read("k") == value and read("k", 0) == value and read(key="k") == value
    assert read.method("k") == value and read.method("nope", 7) == 7
    assert read.method(key="k") == value and read.method.__self__ is read
    store.set("bad", b"\x00\xff\xfe")  # no loads above but len reads this
    if loads is not len:
        assert read("bad") == ("fallback", "bad", b"\x00\xff\xfe")
        assert read.method("bad", 1) == ("fallback", "bad", b"\x00\xff\xfe")


def test_a_loads_raising_a_base_exception_propagates(pair):
    Store, Reader = pair
    store = Store("lru")

    def loads(payload):
        raise KeyboardInterrupt

    read = Reader(store, loads, 1 << 10, loads, _fallback, 1 << 20, buffers=True)
    store.set("k", b"\x00v")
    with pytest.raises(KeyboardInterrupt):
        read.method("k")
    assert read.method("nope", 3) == 3  # the reader is still usable


# ---------------------------------------------------------------------- batches
def _batch_impls():
    from fbacache._core import _store_py

    impls = [pytest.param(_store_py, id="py")]
    if _core.NATIVE:
        from fbacache._core import _store_c

        impls.insert(0, pytest.param(_store_c, id="c"))
    return impls


_FRAMES = st.dictionaries(
    st.text(max_size=3),
    st.one_of(st.none(), st.integers(), st.binary(max_size=6),
              st.binary(max_size=6).map(lambda b: b"\x00" + b)),
    max_size=8)


@pytest.mark.parametrize("impl", _batch_impls())
@settings(max_examples=200, deadline=None)
@given(frames=_FRAMES, limit=st.integers(0, 8), buffers=st.booleans())
def test_load_frames_loads_the_raw_frames_and_returns_the_rest(impl, frames, limit, buffers):
    def loads(payload):
        assert (type(payload) is bytes) is not buffers
        data = bytes(payload)
        if data[:1] == b"\xff":
            raise ValueError("unreadable")
        return ("v", data)

    out, rest = impl.load_frames(frames, loads, limit, buffers)
    raw = {k: f for k, f in frames.items()
           if type(f) is bytes and 0 < len(f) <= limit and f[0] == 0 and f[1:2] != b"\xff"}
    assert out == {k: ("v", f[1:]) for k, f in raw.items()}
    assert rest == [(k, f) for k, f in frames.items() if k not in raw]  # in the batch's order


@pytest.mark.parametrize("impl", _batch_impls())
def test_load_frames_payloads_kept_by_loads_stay_their_frames(impl):
    kept = []

    def loads(payload):
        kept.append(payload)
        return bytes(payload)

    frames = {f"k{i}": b"\x00" + bytes([65 + i]) * (i + 1) for i in range(5)}
    out, rest = impl.load_frames(frames, loads, 64, True)
    assert rest == [] and [bytes(p) for p in kept] == [f[1:] for f in frames.values()]
    assert out == {k: f[1:] for k, f in frames.items()}


@pytest.mark.parametrize("impl", _batch_impls())
@settings(max_examples=200, deadline=None)
@given(raws=st.lists(st.one_of(st.none(), st.text(max_size=2), st.binary(max_size=5)), max_size=8),
       marker=st.integers(0, 2))
def test_strip_marker_unwraps_the_marked_replies(impl, raws, marker):
    keys = [f"k{i}" for i in range(len(raws))]
    out, misses, rest = impl.strip_marker(keys, raws, marker)
    marked = {k: r for k, r in zip(keys, raws) if type(r) is bytes and r[:1] == bytes([marker])}
    assert out == {k: r[1:] for k, r in marked.items()}
    assert misses == raws.count(None)
    assert rest == [(k, r) for k, r in zip(keys, raws) if r is not None and k not in marked]


# ---------------------------------------------------------------------- keyword calls
def _keyword_impls():
    from fbacache._core import _store_py

    impls = [pytest.param(_store_py.KeywordCall, id="py")]
    if _core.NATIVE:
        from fbacache._core import _store_c

        impls.insert(0, pytest.param(_store_c.KeywordCall, id="c"))
    return impls


def _echo(*args, **kwargs):
    return args, kwargs


@pytest.mark.parametrize("KeywordCall", _keyword_impls())
def test_keyword_call_is_the_call_with_the_fixed_keywords(KeywordCall):
    call = KeywordCall(_echo, raw=False, limit=3)
    assert call("x") == (("x",), {"raw": False, "limit": 3})
    assert call("x", "y") == (("x", "y"), {"raw": False, "limit": 3})
    assert call("x", extra=1) == (("x",), {"raw": False, "limit": 3, "extra": 1})
    assert call() == ((), {"raw": False, "limit": 3})
    with pytest.raises(TypeError):
        call("x", raw=True)  # a fixed keyword given again, as with functools.partial
    assert KeywordCall(_echo)("x") == (("x",), {})
    assert call.keywords == {"raw": False, "limit": 3} and call.func is _echo
    assert repr(call).startswith("KeywordCall(")
    with pytest.raises(ValueError):
        KeywordCall(_echo, **{f"k{i}": i for i in range(8)})
    errors = KeywordCall(int, base=2)
    assert errors("101") == 5
    with pytest.raises(ValueError):
        errors("102")


@pytest.mark.parametrize("buffers", [False, True])
def test_a_reader_over_any_fetch_callable_reads_as_over_a_store(pair, buffers):
    # the read path of every backend that is not a core store (Redis, filesystem, tiered)
    Store, Reader = pair
    blobs = {"a": b"\x00[1]", "z": b"\x01?", "bad": b"\x00{", "big": b"\x00" + b"7" * 40}
    fetched = []

    def fetch(key, default):
        fetched.append(key)
        return blobs.get(key, default)

    def loads(payload):
        return eval(bytes(payload))  # a test codec: "[1]" -> [1]; "{" raises

    read = Reader(fetch, loads, 32, loads, _fallback, 1 << 20, buffers=buffers)
    assert read("a") == [1] and read("a", 0) == [1]
    assert read("z") == ("fallback", "z", b"\x01?")            # not a raw frame
    assert read("bad") == ("fallback", "bad", b"\x00{")         # a raw frame that fails
    assert read("big") == ("fallback", "big", blobs["big"])    # over the limit
    assert read("nope") is None and read("nope", default=5) == 5
    assert fetched == ["a", "a", "z", "bad", "big", "nope", "nope"]
    store = Store("lru")
    store.set("a", b"\x00[1]")
    assert Reader(store, loads, 32, loads, _fallback, 1 << 20, buffers=buffers)("a") == [1]
    with pytest.raises(TypeError, match="fetch"):
        Reader(42, loads, 32, loads, _fallback)
