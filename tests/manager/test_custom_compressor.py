"""A compressor registered in ``fbacache.codecs.COMPRESSORS`` gets the bytes its signature promises.

Regression: ``Codec.decode`` used to hand ``Compressor.decompress`` a
``memoryview`` of the frame, so a third-party compressor that used a ``bytes``
method on its input failed on every read, and each value came back as a
counted corrupt-entry miss.
"""
from __future__ import annotations

import lzma
from typing import Optional

import pytest

from fbacache.codecs import COMPRESSORS, MISSING, Compressor, make_codec

_XZ_MAGIC = b"\xfd7zXZ\x00"


class XzCompressor(Compressor):
    """xz (LZMA2) frames; checks the stream magic before inflating."""

    name = "xz"
    marker = 0x03

    def __init__(self, level: Optional[int] = None) -> None:
        self.level = 6 if level is None else level

    def compress(self, data: bytes) -> bytes:
        return lzma.compress(data, preset=self.level)

    def decompress(self, data: bytes, max_size: int) -> bytes:
        if not data.startswith(_XZ_MAGIC):
            raise ValueError("not an xz stream")
        d = lzma.LZMADecompressor()
        out = d.decompress(data, max_size + 1)
        if len(out) > max_size or not d.eof:
            raise ValueError("xz stream too large or truncated")
        return out


@pytest.fixture
def xz_registered(monkeypatch):
    monkeypatch.setitem(COMPRESSORS, "xz", XzCompressor)


VALUE = {"text": "abc" * 500, "n": list(range(20))}


def test_codec_round_trips_through_a_registered_compressor(xz_registered):
    codec = make_codec("json", "xz", threshold=16)
    blob = codec.encode(VALUE)
    assert blob[0] == XzCompressor.marker
    assert codec.decode(blob) == VALUE
    assert codec.stats.snapshot()["corrupt_entries"] == 0


def test_decode_of_a_memoryview_blob_still_works(xz_registered):
    codec = make_codec("msgpack", "xz", threshold=16)
    blob = codec.encode(VALUE)
    assert codec.decode(memoryview(blob)) == VALUE
    assert codec.decode(bytearray(blob)) == VALUE
    assert codec.decode(blob[:1] + b"garbage") is MISSING

