"""Codec.decode_many and Codec.signed_reader read exactly what Codec.decode reads.

Arbitrary stored bytes (valid blobs, blobs signed for another key, truncated or foreign
bytes): the batch and the signed fast read give the values decode() gives, leave out or
miss what it refuses, and count the same failures; the manager drops the same blobs.
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache import CacheManager
from fbacache._util import MISSING
from fbacache.codecs import make_codec
from fbacache.signing import Signer, key_context

KEY = b"batch-decode-signing-key-0123456789"
ints = st.integers(-2**63, 2**63 - 1)  # what msgpack packs
values = st.one_of(ints, st.text(max_size=20), st.lists(ints, max_size=5),
                   st.dictionaries(st.text(max_size=5), ints, max_size=3))


def _ctx(key: Any) -> bytes:
    return key_context("ns", key)


def _blobs(codec: Any, data: st.DataObject) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(data.draw(st.integers(0, 8))):
        key = f"k{i}"
        kind = data.draw(st.sampled_from(["good", "moved", "junk", "cut"]))
        blob = codec.encode(data.draw(values), _ctx(key if kind != "moved" else "other"))
        if kind == "junk":
            blob = data.draw(st.binary(max_size=60))
        elif kind == "cut":
            blob = blob[:data.draw(st.integers(0, max(0, len(blob) - 1)))]
        out[key] = blob
    return out


def _counts(codec: Any) -> tuple[Any, ...]:
    s = codec.stats.snapshot()
    return s["corrupt_entries"], s["signature_failures"]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["msgpack", "json", "pickle"]),
       signed=st.booleans(), compression=st.sampled_from([None, "zlib"]))
def test_decode_many_is_decode_per_blob(data: st.DataObject, fmt: str, signed: bool,
                                        compression: Any) -> None:
    if fmt == "pickle" and not signed:
        signed = True  # unsigned pickle of arbitrary bytes is what the library refuses
    mk = lambda: make_codec(fmt, compression, threshold=8,  # noqa: E731
                            signer=Signer(KEY) if signed else None)
    one, batch = mk(), mk()
    blobs = _blobs(one, data)
    expected = {}
    for key, blob in blobs.items():
        value = one.decode(blob, _ctx(key) if signed else b"")
        if value is not MISSING:
            expected[key] = value
    assert batch.decode_many(blobs, _ctx if signed else None) == expected
    assert _counts(batch) == _counts(one)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["msgpack", "pickle"]))
def test_signed_reader_is_decode_then_drop(data: st.DataObject, fmt: str) -> None:
    one, fast = (make_codec(fmt, signer=Signer(KEY)) for _ in range(2))
    blobs = _blobs(one, data)
    store, dropped = dict(blobs), []
    get = fast.signed_reader(lambda k, d: store.get(k, d),
                             lambda k, b: dropped.append((k, b)), _ctx)
    expected_drops = []
    for key, blob in blobs.items():
        want = one.decode(blob, _ctx(key))
        if want is MISSING:
            expected_drops.append((key, blob))
        assert get(key, "d") == ("d" if want is MISSING else want)
    assert get("absent", "d") == "d"
    assert dropped == expected_drops and _counts(fast) == _counts(one)


def test_manager_get_many_drops_what_it_cannot_read() -> None:
    for options in ({"serialization_format": "msgpack"},
                    {"serialization_format": "pickle", "signing_key": KEY}):
        cache = CacheManager(**options)  # type: ignore[arg-type]
        cache.set_many({"a": 1, "b": [2], "c": "three"})
        cache.backend.set("bad", b"\x09???", None, 4)
        assert cache.get_many(["a", "b", "c", "bad", "nope"]) == {"a": 1, "b": [2],
                                                                  "c": "three"}
        assert not cache.exists("bad")
        metrics = cache.get_metrics()
        failures = metrics["corrupt_entries"] + metrics["signature_failures"]
        assert failures == 1 and metrics["deserialization_time_ms"] > 0
