"""Value codecs: a serializer, an optional compressor and an optional signer.

Stored form of a value (the *blob*), from the inside out::

    payload = serializer.dumps(value)                 # pickle | msgpack | json
    frame   = MARKER + payload                        # marker 0x00: raw payload
            | MARKER + compressor.compress(payload)   # marker 0x01 zlib, 0x02 zstd
    blob    = frame                                   # no signing key
            | signer.sign(frame)                      # signed: the outermost layer

The marker byte table (the only place it is defined):

======  ==========  ==================================================
marker  codec       payload
======  ==========  ==================================================
0x00    raw         the serializer's bytes, uncompressed
0x01    zlib        a zlib stream (``zlib.compress``) of those bytes
0x02    zstd        exactly one zstd frame (content size in the header)
======  ==========  ==================================================

Any other first byte is an *unknown frame*. Rules:

- Compression is attempted only when the payload is at least
  ``compression_threshold`` bytes, and kept only when the compressed frame is
  strictly smaller than the raw one.
- Decoding never raises: a blob that fails the signature, has an unknown
  marker, a truncated/corrupt stream, expands beyond ``max_decoded_size``
  (a decompression bomb) or does not deserialize yields :data:`MISSING`, and
  the failure is counted in :class:`CodecStats`.
- Decompression is bounded: zlib inflates with ``max_length`` and zstd refuses
  a frame whose declared (or, if undeclared, actual) size exceeds the cap.
- A compressed frame is exactly one stream: bytes after the zlib stream or
  after the zstd frame (garbage, a second frame) make the blob corrupt, for
  both compressors alike.

The serializer ``none`` has no codec at all: the memory backend then stores
the objects themselves (see :mod:`fbacache.manager`).

The modules: :mod:`~fbacache.codecs.codec` (the codec, its readers and counters),
:mod:`~fbacache.codecs.serializers` and :mod:`~fbacache.codecs.compressors` (which also
holds the marker bytes). Every name is importable from here.

Example:
    >>> blob = make_codec("json").encode({"a": 1})
    >>> blob[0] == MARKER_RAW, blob[1:]
    (True, b'{"a":1}')
    >>> c = make_codec("json", "zlib", threshold=16)
    >>> z = c.encode("x" * 100)
    >>> z[0] == MARKER_ZLIB, c.decode(z) == "x" * 100, c.decode(b"\x07unknown marker")
    (True, True, MISSING)
"""
from __future__ import annotations

from fbacache._util import MISSING  # re-exported: it was defined here first
from fbacache.codecs.codec import TIMING_SAMPLE, Codec, CodecStats, Signer, make_codec
from fbacache.codecs.compressors import (
    COMPRESSORS, MARKER_RAW, MARKER_ZLIB, MARKER_ZSTD, Compressor, ZlibCompressor, ZstdCompressor,
)
from fbacache.codecs.serializers import (
    SERIALIZERS, JsonSerializer, MsgpackSerializer, PickleSerializer, Serializer,
)

__all__ = [
    "MARKER_RAW", "MARKER_ZLIB", "MARKER_ZSTD", "MISSING", "SERIALIZERS", "COMPRESSORS",
    "Serializer", "Compressor", "Signer", "Codec", "CodecStats", "make_codec",
    "PickleSerializer", "MsgpackSerializer", "JsonSerializer", "ZlibCompressor", "ZstdCompressor",
    "TIMING_SAMPLE",
]
