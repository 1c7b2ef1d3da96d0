"""Codec frames, compression rules, bounded decompression and decoder fuzzing."""
from __future__ import annotations

import os
import pickle
import zlib

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbacache.codecs import (
    MARKER_RAW, MARKER_ZLIB, MARKER_ZSTD, MISSING, Codec, PickleSerializer, make_codec,
)
from fbacache.errors import ConfigError, EntryTooLarge, SerializationError
from fbacache.signing import Signer

FORMATS = ["pickle", "msgpack", "json"]
COMPRESSIONS = [None, "zlib", "zstd"]
TEXT = {"text": "abc" * 2000, "n": [1, 2, 3]}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_round_trip_and_marker(fmt, comp):
    c = make_codec(fmt, comp, threshold=64)
    blob = c.encode(TEXT)
    expected = {None: MARKER_RAW, "zlib": MARKER_ZLIB, "zstd": MARKER_ZSTD}[comp]
    assert blob[0] == expected
    assert c.decode(blob) == TEXT
    if comp:
        assert c.stats.snapshot()["compression_count"] == 1
        assert 0 < c.stats.snapshot()["compression_ratio"] < 0.1  # compressed / original


def test_below_threshold_is_not_compressed():
    c = make_codec("json", "zlib", threshold=1024)
    blob = c.encode("x" * 100)
    assert blob[0] == MARKER_RAW
    assert c.stats.snapshot()["compression_count"] == 0


def test_incompressible_payload_stays_raw():
    data = os.urandom(4096)
    c = make_codec("pickle", "zstd", threshold=16)
    blob = c.encode(data)
    assert blob[0] == MARKER_RAW and c.decode(blob) == data
    assert c.stats.snapshot()["compression_count"] == 0


def test_frames_of_another_compressor_still_decode():
    zblob = make_codec("json", "zlib", threshold=1).encode(TEXT)
    assert make_codec("json", "zstd").decode(zblob) == TEXT
    assert make_codec("json").decode(zblob) == TEXT


def test_unknown_marker_and_empty_are_counted_misses():
    c = make_codec("json")
    assert c.decode(b"\x09{}") is MISSING
    assert c.decode(b"") is MISSING
    assert c.decode(None) is MISSING
    assert c.stats.snapshot()["corrupt_entries"] == 3


@pytest.mark.parametrize("comp", ["zlib", "zstd"])
def test_decompression_bomb_is_refused(comp):
    c = make_codec("pickle", comp, max_decoded_size=1 << 20)
    bomb_payload = b"\x00" * (64 << 20)
    if comp == "zlib":
        frame = bytes([MARKER_ZLIB]) + zlib.compress(bomb_payload, 9)
    else:
        frame = bytes([MARKER_ZSTD]) + zstandard.ZstdCompressor().compress(bomb_payload)
    assert len(frame) < 100_000
    assert c.decode(frame) is MISSING
    assert c.stats.snapshot()["corrupt_entries"] == 1


def test_zstd_bomb_without_declared_size_is_refused():
    c = make_codec("pickle", "zstd", max_decoded_size=1 << 20)
    packed = zstandard.ZstdCompressor(write_content_size=False).compress(b"\x00" * (8 << 20))
    assert c.decode(bytes([MARKER_ZSTD]) + packed) is MISSING


def test_truncated_streams_are_misses():
    for comp in ("zlib", "zstd"):
        c = make_codec("json", comp, threshold=1)
        blob = c.encode(TEXT)
        assert c.decode(blob[:-4]) is MISSING


def test_unserializable_value_raises_and_counts():
    c = make_codec("json")
    with pytest.raises(SerializationError):
        c.encode(object())
    with pytest.raises(SerializationError):
        c.encode(float("nan"))
    assert c.stats.snapshot()["serialization_errors"] == 2


def test_size_limits():
    c = make_codec("pickle", max_encoded_size=100)
    with pytest.raises(EntryTooLarge):
        c.encode(b"x" * 200)
    c = make_codec("pickle", "zlib", threshold=1, max_encoded_size=100)
    assert c.decode(c.encode(b"x" * 5000)) == b"x" * 5000  # compressed form fits
    c = make_codec("pickle", max_decoded_size=1000)
    with pytest.raises(EntryTooLarge):
        c.encode(b"x" * 2000)  # could never be read back


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError):
        make_codec("yaml")
    with pytest.raises(ConfigError):
        make_codec("json", "lz4")


def test_signed_codec_rejects_unsigned_tampered_and_moved_blobs():
    signer = Signer(b"k" * 32, old_keys=[b"o" * 32])
    c = make_codec("pickle", "zlib", threshold=16, signer=signer)
    blob = c.encode(TEXT, b"key:1")
    assert c.decode(blob, b"key:1") == TEXT
    assert c.decode(blob, b"key:2") is MISSING  # copied under another key
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    assert c.decode(bytes(tampered), b"key:1") is MISSING
    evil = b"\x00" + pickle.dumps(TEXT)  # a valid unsigned frame is never unpickled
    assert c.decode(evil, b"key:1") is MISSING
    old = make_codec("pickle", signer=Signer(b"o" * 32)).encode(5, b"key:1")
    assert c.decode(old, b"key:1") == 5  # rotation: the old key still verifies
    assert c.stats.snapshot()["signature_failures"] == 3


class _BuiltinsOnly(PickleSerializer):
    """Pickle that refuses every global: safe to feed with fuzzed bytes."""

    def loads(self, data: bytes):
        import io

        class U(pickle.Unpickler):
            def find_class(self, module, name):
                raise pickle.UnpicklingError(f"global {module}.{name} refused in fuzzing")

        return U(io.BytesIO(data)).load()


def _fuzz_codecs():
    codecs = [make_codec(f, c, threshold=8, max_decoded_size=1 << 16)
              for f in ("msgpack", "json") for c in COMPRESSIONS]
    from fbacache.codecs import COMPRESSORS
    codecs += [Codec(_BuiltinsOnly(), COMPRESSORS[c](None) if c else None, threshold=8,
                     max_decoded_size=1 << 16) for c in COMPRESSIONS]
    return codecs


FUZZ_CODECS = _fuzz_codecs()
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=5),
    max_leaves=20)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), index=st.integers(0, len(FUZZ_CODECS) - 1),
       marker=st.sampled_from([None, 0, 1, 2, 3, 255]))
def test_fuzz_arbitrary_bytes_give_a_value_or_a_counted_miss(data, index, marker):
    codec = FUZZ_CODECS[index]
    blob = data if marker is None else bytes([marker]) + data
    before = codec.stats.snapshot()["corrupt_entries"]
    result = codec.decode(blob)  # must not raise
    after = codec.stats.snapshot()["corrupt_entries"]
    assert (result is MISSING) == (after == before + 1)


@settings(max_examples=300, deadline=None)
@given(value=VALUES, index=st.integers(0, len(FUZZ_CODECS) - 1),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
       cut=st.integers(0, 10_000))
def test_fuzz_mutated_valid_frames(value, index, flips, cut):
    codec = FUZZ_CODECS[index]
    blob = bytearray(codec.encode(value))
    for pos, bit in flips:
        blob[pos % len(blob)] ^= bit
    blob = blob[: max(1, cut % (len(blob) + 1))]
    codec.decode(bytes(blob))  # a value or MISSING; never an exception


@settings(max_examples=200, deadline=None)
@given(value=VALUES, index=st.integers(0, len(FUZZ_CODECS) - 1))
def test_round_trip_property(value, index):
    codec = FUZZ_CODECS[index]
    assert codec.decode(codec.encode(value)) == value
