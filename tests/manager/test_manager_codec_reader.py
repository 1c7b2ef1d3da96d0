"""A codec manager's fast ``get`` (the core's compiled ``Reader``) reads as the full method.

With a serializer and no signing key, the in-process manager installs
``fbacache._core.Reader`` as its ``get``: a raw frame's payload goes from the store
to the serializer's ``loads`` in one C call, everything else through
``Codec.decode``. These tests hold it to the full ``CacheManager.get`` on the same
stored bytes (any bytes at all, written straight into the backend): same result,
same counters, corrupt entries dropped, decompression caps kept.
"""
from __future__ import annotations

import inspect
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache import CacheManager, _core
from fbacache.codecs import make_codec

FORMATS = ["msgpack", "json"]  # pickle is only ever fed bytes it wrote (below)


def test_the_in_process_codec_get_is_the_core_reader(tmp_path):
    kind = _core.Reader if _core.NATIVE else _core.PyReader
    for fmt in ("pickle", "msgpack", "json"):
        get = CacheManager(serialization_format=fmt).get
        # the reader's method (compiled: a builtin method, called by the interpreter's
        # fast path for builtins)
        assert type(get.__self__) is kind and get == get.__self__.method
        params = inspect.signature(get).parameters.values()
        assert [(p.name, p.default) for p in params] == [("key", inspect.Parameter.empty),
                                                         ("default", None)]
        if _core.NATIVE:
            assert type(get).__name__ == "builtin_function_or_method"
    with CacheManager(backend_type="filesystem", serialization_format="json",
                      backend_config={"directory": str(tmp_path)}) as disk:
        # the same reader, through the backend's get
        assert type(disk.get.__self__) is _core.Reader and disk.get == disk.get.__self__.method
        assert disk.set("a", [1]) and disk.get("a") == [1] and disk.get("b", 0) == 0


def _blobs(fmt):
    codec = make_codec(fmt)
    values = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(),
                          lambda inner: st.lists(inner, max_size=3), max_leaves=6)
    encoded = values.map(codec.encode)
    return st.one_of(
        encoded,                                                   # what the manager writes
        encoded.map(lambda b: b"\x01" + zlib.compress(b[1:])),     # a zlib frame of it
        st.binary(max_size=24),                                    # foreign bytes
        st.binary(max_size=24).map(lambda b: b"\x00" + b),         # a raw frame of garbage
        st.binary(max_size=24).map(lambda b: b"\x01" + b),         # a corrupt zlib frame
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_fast_get_reads_any_stored_bytes_as_the_full_get(fmt):
    @settings(max_examples=150, deadline=None)
    @given(blobs=st.lists(_blobs(fmt), min_size=1, max_size=6), reads=st.integers(1, 20))
    def check(blobs, reads):
        fast, full = CacheManager(serialization_format=fmt), CacheManager(serialization_format=fmt)
        for m in (fast, full):
            for i, blob in enumerate(blobs):
                m.backend.set(f"k{i}", blob, None, len(blob))
        for _ in range(reads):  # enough reads that the timed (sampled) load runs too
            for i in range(len(blobs) + 1):  # and one missing key
                got = fast.get(f"k{i}", "dflt")
                want = CacheManager.get(full, f"k{i}", "dflt")
                assert repr(got) == repr(want), (blobs[i:i + 1], got, want)  # NaN != NaN
        a, b = fast.get_metrics(), full.get_metrics()
        for name in ("hits", "misses", "corrupt_entries"):
            assert a[name] == b[name], (name, a, b)
        assert sorted(fast.keys()) == sorted(full.keys())  # corrupt entries dropped alike

    check()


@pytest.mark.parametrize("fmt", ["pickle", "msgpack", "json"])
def test_fast_get_takes_the_full_gets_arguments(fmt):
    m = CacheManager(serialization_format=fmt)
    m.set("k", [1, 2])
    assert m.get("k") == [1, 2] and m.get(key="k") == [1, 2] and m.get("k", default=0) == [1, 2]
    assert m.get("nope", 0) == 0 and m.get("nope", default=5) == 5 and m.get("nope") is None
    for bad in ((), ("k", 0, 1)):
        with pytest.raises(TypeError):
            m.get(*bad)
    with pytest.raises(TypeError):
        m.get("k", colour=1)
    assert m.get_metrics()["hits"] == 3


def test_fast_get_keeps_the_decompression_caps():
    m = CacheManager(serialization_format="msgpack", compression="zlib", max_decompressed_size=64,
                     max_entry_size=64)
    big_raw = b"\x00" + make_codec("msgpack").encode("x" * 100)[1:]  # a raw frame over the cap
    bomb = b"\x01" + zlib.compress(b"\x00" * 100_000)  # inflates far beyond it
    for key, blob in (("raw", big_raw), ("bomb", bomb)):
        m.backend.set(key, blob, None, len(blob))
        assert m.get(key, "dflt") == "dflt" and not m.exists(key)
    metrics = m.get_metrics()
    assert (metrics["corrupt_entries"], metrics["hits"], metrics["misses"]) == (2, 0, 2)
    m.set("ok", "y" * 40)
    assert m.get("ok") == "y" * 40


def test_fast_get_or_set_takes_keywords_as_the_full_method():
    m = CacheManager()
    assert m.get_or_set("k", factory=lambda: 1) == 1
    assert m.get_or_set(key="k", factory=lambda: 2) == 1
    with pytest.raises(TypeError):
        m.get_or_set("k")
    assert m.get_or_set("j", lambda: 3) == 3 and m.get_or_set("j", lambda: 4) == 3
    metrics = m.get_metrics()
    assert (metrics["hits"], metrics["misses"]) == (2, 2)


class Point:
    """A value whose unpickling runs Python code (``__setstate__``): another thread may
    run in the middle of a load."""

    def __init__(self, x):
        self.x = x

    def __setstate__(self, state):
        for _ in range(50):  # bytecode enough for the interpreter to switch threads
            pass
        self.__dict__.update(state)


@pytest.mark.parametrize("fmt", ["pickle", "msgpack"])
def test_truncated_in_memory_frames_are_counted_misses(fmt):
    # pickle and msgpack read the stored bytes in place (no copy): a frame cut short is
    # still a counted miss, dropped, and the other entries read as before
    m = CacheManager(serialization_format=fmt)
    m.set("ok", {"a": [1, 2], "b": "x" * 30})
    m.set("cut", {"a": [1, 2], "b": "x" * 30})
    blob = m.backend.peek("cut")
    m.backend.set("cut", blob[:-5], None, len(blob) - 5)
    assert m.get("cut", "dflt") == "dflt" and not m.exists("cut")
    assert m.get("ok") == {"a": [1, 2], "b": "x" * 30}
    metrics = m.get_metrics()
    assert (metrics["corrupt_entries"], metrics["hits"], metrics["misses"]) == (1, 1, 1)


@pytest.mark.parametrize("fmt", ["pickle", "msgpack"])
def test_raw_and_compressed_frames_read_side_by_side(fmt):
    from fbacache.codecs import MARKER_RAW, MARKER_ZLIB

    m = CacheManager(serialization_format=fmt, compression="zlib", compression_threshold=64)
    small, big = [1, "two"], ["y" * 400, 3]
    m.set("small", small)
    m.set("big", big)
    assert m.backend.peek("small")[0] == MARKER_RAW and m.backend.peek("big")[0] == MARKER_ZLIB
    for _ in range(40):  # past the sampled (timed) loads too
        assert m.get("small") == small and m.get("big") == big
    assert m.get_metrics()["corrupt_entries"] == 0


def test_each_get_is_a_fresh_copy_of_the_stored_value():
    m = CacheManager(serialization_format="pickle")
    m.set("k", {"buf": bytearray(b"abc"), "items": [1]})
    first = m.get("k")
    first["buf"][0] = ord("z")
    first["items"].append(2)
    assert m.get("k") == {"buf": bytearray(b"abc"), "items": [1]}


def test_threads_read_while_a_writer_replaces_the_values():
    import sys
    import threading

    m = CacheManager(serialization_format="pickle")
    keys = [f"k{i}" for i in range(8)]
    for k in keys:
        m.set(k, [Point(k), k])
    errors = []
    stop = threading.Event()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows

    def reader():
        try:
            while not stop.is_set():
                for k in keys:
                    point, name = m.get(k)
                    if not (name == k and point.x in (k, k + "'")):
                        errors.append((k, point.x, name))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for i in range(300):
            k = keys[i % len(keys)]
            m.set(k, [Point(k + "'" if i % 2 else k), k])
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old)
    assert not errors, errors[:5]
    assert m.get_metrics()["corrupt_entries"] == 0


@pytest.mark.parametrize("fmt", ["pickle", "msgpack", "json"])
def test_fast_gets_are_counted_in_the_deserialization_time(fmt):
    m = CacheManager(serialization_format=fmt)
    m.set("k", {"a": list(range(20))})
    before = m.get_metrics()["deserialization_time_ms"]
    for _ in range(64):  # the reader times one load in TIMING_SAMPLE (16)
        assert m.get("k") == {"a": list(range(20))}
    assert m.get_metrics()["deserialization_time_ms"] > before
