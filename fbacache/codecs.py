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
"""
from __future__ import annotations

import json
import pickle
import threading
import time
import zlib
from functools import partial
from itertools import count
from typing import Any, Callable, Mapping, Optional, Protocol, cast

from fbacache._optional import require
from fbacache._util import MISSING  # re-exported: it was defined here first
from fbacache._validate import MAX_SIZE, check_number
from fbacache.errors import ConfigError, EntryTooLarge, SerializationError
from fbacache.metrics import read_count

__all__ = [
    "MARKER_RAW", "MARKER_ZLIB", "MARKER_ZSTD", "MISSING", "SERIALIZERS", "COMPRESSORS",
    "Serializer", "Compressor", "Signer", "Codec", "CodecStats", "make_codec",
]

MARKER_RAW = 0x00
MARKER_ZLIB = 0x01
MARKER_ZSTD = 0x02
TIMING_SAMPLE = 16  # Codec.reader times one raw-frame load in this many (a power of two)




class _CorruptFrame(Exception):
    """Internal: the frame is unreadable (never escapes :meth:`Codec.decode`)."""


# --------------------------------------------------------------------------- serializers
class Serializer:
    """Turns values into bytes and back. ``trusted_input_only`` marks formats
    (pickle) that execute code while loading and so must never read bytes that
    another party could have written."""

    name = "abstract"
    trusted_input_only = False

    def dumps(self, value: Any) -> bytes:  # pragma: no cover - interface
        """Encode ``value``; raise any exception when it cannot be encoded."""
        raise NotImplementedError

    def loads(self, data: bytes) -> Any:  # pragma: no cover - interface
        """Decode bytes produced by :meth:`dumps`."""
        raise NotImplementedError

    def direct_loads(self) -> Callable[[bytes], Any]:
        """``loads`` as the cheapest callable with the same behaviour (a C function
        where the format has one); a subclass overriding ``loads`` gets its own."""
        return self.loads


class PickleSerializer(Serializer):
    """Any picklable object; highest protocol. Only for bytes this process trusts."""

    name = "pickle"
    trusted_input_only = True

    def dumps(self, value: Any) -> bytes:
        """Pickle ``value`` with the highest protocol."""
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        """Unpickle ``data`` (trusted bytes only)."""
        return pickle.loads(data)

    def direct_loads(self) -> Callable[[bytes], Any]:
        """``pickle.loads`` itself unless a subclass overrides ``loads``."""
        return pickle.loads if type(self).loads is PickleSerializer.loads else self.loads


class MsgpackSerializer(Serializer):
    """msgpack: safe to load from shared stores; tuples come back as lists."""

    name = "msgpack"

    def __init__(self) -> None:
        # the `msgpack` extra: imported when a msgpack codec is built, not with fbacache
        msgpack = require("msgpack", "msgpack")
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def dumps(self, value: Any) -> bytes:
        """Pack ``value`` (str and bytes stay distinct)."""
        return self._packb(value, use_bin_type=True)

    def loads(self, data: bytes) -> Any:
        """Unpack ``data``; trailing bytes are an error."""
        # msgpack >= 1.0 bounds every container/string by len(data) by default,
        # so a tiny header cannot ask for a huge allocation.
        return self._unpackb(data, raw=False, strict_map_key=False)

    def direct_loads(self) -> Callable[[bytes], Any]:
        """``msgpack.unpackb`` with the same options, called without a Python frame."""
        if type(self).loads is not MsgpackSerializer.loads:
            return self.loads
        return partial(self._unpackb, raw=False, strict_map_key=False)


class JsonSerializer(Serializer):
    """JSON (UTF-8, compact): tuples become lists and dict keys become strings."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        """Dump ``value`` as compact UTF-8 JSON; NaN/Infinity are refused."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        """Parse UTF-8 JSON."""
        return json.loads(data.decode("utf-8"))


SERIALIZERS: dict[str, Callable[[], Serializer]] = {
    "pickle": PickleSerializer,
    "msgpack": MsgpackSerializer,
    "json": JsonSerializer,
}


# --------------------------------------------------------------------------- compressors
class Compressor:
    """A compression scheme identified by its frame ``marker``."""

    name = "abstract"
    marker = MARKER_RAW

    def compress(self, data: bytes) -> bytes:  # pragma: no cover - interface
        """Compress ``data``."""
        raise NotImplementedError

    def decompress(self, data: bytes, max_size: int) -> bytes:  # pragma: no cover
        """Decompress ``data``; raise :class:`_CorruptFrame` if corrupt or > ``max_size``."""
        raise NotImplementedError


class ZlibCompressor(Compressor):
    """zlib (deflate); ``level`` 0-9, default 6."""

    name = "zlib"
    marker = MARKER_ZLIB

    def __init__(self, level: Optional[int] = None) -> None:
        self.level = 6 if level is None else level

    def compress(self, data: bytes) -> bytes:
        """Deflate ``data`` at the configured level."""
        return zlib.compress(data, self.level)

    def decompress(self, data: bytes, max_size: int) -> bytes:
        """Inflate at most ``max_size`` bytes; a longer or truncated stream is corrupt."""
        d = zlib.decompressobj()
        try:
            out = d.decompress(data, max_size + 1)
        except zlib.error as exc:
            raise _CorruptFrame(str(exc)) from None
        if len(out) > max_size:
            raise _CorruptFrame("zlib frame expands beyond max_decompressed_size")
        if not d.eof or d.unused_data:
            raise _CorruptFrame("truncated zlib frame or trailing bytes")
        return out


class ZstdCompressor(Compressor):
    """Zstandard; ``level`` 1-22, default 3. Contexts are per thread (not thread-safe)."""

    name = "zstd"
    marker = MARKER_ZSTD

    def __init__(self, level: Optional[int] = None) -> None:
        self.level = 3 if level is None else level
        self._local = threading.local()
        # the `zstd` extra: imported when a zstd codec is built, not with fbacache
        self._zstd = require("zstandard", "zstd")

    def _contexts(self) -> tuple[Any, Any]:
        local = self._local
        try:
            return local.c, local.d
        except AttributeError:
            local.c = self._zstd.ZstdCompressor(level=self.level, write_content_size=True)
            local.d = self._zstd.ZstdDecompressor()
            return local.c, local.d

    def compress(self, data: bytes) -> bytes:
        """Compress ``data`` into one frame that declares its content size."""
        return self._contexts()[0].compress(data)

    def decompress(self, data: bytes, max_size: int) -> bytes:
        """Decompress exactly one frame of at most ``max_size`` bytes.

        Bytes after the frame (garbage, a second frame) make it corrupt, as zlib's
        trailing data does: zstandard would decode the first frame and ignore them.
        """
        dctx = self._contexts()[1]
        zstandard = self._zstd
        try:
            params = zstandard.get_frame_parameters(data)
            if _zstd_frame_length(zstandard, data, params.has_checksum) != len(data):
                raise _CorruptFrame("bytes after the zstd frame")
            declared = params.content_size
            if declared == zstandard.CONTENTSIZE_UNKNOWN:
                return _zstd_stream(dctx, data, max_size)
            # zstandard allocates the declared size up front: check it first; the
            # decoder then refuses content that differs from the declaration.
            if declared > max_size:
                raise _CorruptFrame("zstd frame declares more than max_decompressed_size")
            return dctx.decompress(data)
        except zstandard.ZstdError as exc:
            raise _CorruptFrame(str(exc)) from None


def _zstd_frame_length(zstandard: Any, data: bytes, has_checksum: bool) -> int:
    """Length of the zstd frame at the start of ``data``, from its block headers (RFC 8878)."""
    pos = zstandard.frame_header_size(data)
    view = memoryview(data)
    while True:
        if pos + 3 > len(data):
            raise _CorruptFrame("truncated zstd frame")
        header = int.from_bytes(view[pos:pos + 3], "little")
        pos += 3
        block_type = (header >> 1) & 3
        if block_type == 3:
            raise _CorruptFrame("reserved zstd block type")
        pos += 1 if block_type == 1 else header >> 3  # an RLE block stores one byte
        if header & 1:  # last block
            return pos + (4 if has_checksum else 0)


_ZSTD_FEED = 256  # input bytes per step: at most 64 blocks (8 MiB) of output each


def _zstd_stream(dctx: Any, data: bytes, max_size: int) -> bytes:
    # No declared size: ``ZstdDecompressor.decompress`` would allocate max_size
    # bytes up front, so stream in small steps and stop once the output is too big.
    obj = dctx.decompressobj()
    parts, total = [], 0
    for i in range(0, len(data), _ZSTD_FEED):
        part = obj.decompress(data[i:i + _ZSTD_FEED])
        total += len(part)
        if total > max_size:
            raise _CorruptFrame("zstd frame expands beyond max_decompressed_size")
        parts.append(part)
    if not obj.eof:
        raise _CorruptFrame("truncated zstd frame")
    return b"".join(parts)


COMPRESSORS: dict[str, Callable[[Optional[int]], Compressor]] = {
    "zlib": ZlibCompressor,
    "zstd": ZstdCompressor,
}


class Signer(Protocol):
    """What :class:`Codec` needs from a signer (``fbacache.signing.Signer``)."""

    def sign(self, payload: bytes, context: bytes = b"", bound: bytes = b"") -> bytes:
        """Return ``payload`` wrapped with a tag that also authenticates ``context`` and
        the stored ``bound`` bytes."""

    def verify(self, blob: bytes, context: bytes = b"") -> Optional[bytes]:
        """Return the payload if the tag is valid for ``context``, else None."""

    def verify_bound(self, blob: bytes, context: bytes = b"") -> Optional[tuple[bytes, bytes]]:
        """Return ``(payload, bound)`` if the tag is valid for ``context``, else None."""


# --------------------------------------------------------------------------- stats
class CodecStats:
    """Codec counters. Event counts use ``itertools.count`` (one C call, exact
    under the GIL without a lock); time and byte totals are plain additions
    that may lose an increment when two threads race (documented best effort)."""

    def __init__(self) -> None:
        self._compressions = count()
        self._serialization_errors = count()
        self._compression_errors = count()
        self._corrupt = count()
        self._signature_failures = count()
        self.serialization_s = 0.0
        self.deserialization_s = 0.0
        self.compression_s = 0.0
        self.decompression_s = 0.0
        self.bytes_in = 0      # payload bytes offered to the compressor and kept compressed
        self.bytes_out = 0     # their compressed size

    @staticmethod
    def _read(counter: "count[int]") -> int:
        return read_count(counter)

    def snapshot(self) -> dict[str, float]:
        """Return the codec part of the metrics dict (times in milliseconds)."""
        # compressed / original (0.35 = stored in 35% of the bytes), the reading the
        # consumers print as a percentage; 1.0 until something was compressed.
        ratio = self.bytes_out / self.bytes_in if self.bytes_in else 1.0
        return {
            "serialization_time_ms": self.serialization_s * 1e3,
            "deserialization_time_ms": self.deserialization_s * 1e3,
            "compression_time_ms": self.compression_s * 1e3,
            "decompression_time_ms": self.decompression_s * 1e3,
            "compression_ratio": ratio,
            "compression_count": self._read(self._compressions),
            "serialization_errors": self._read(self._serialization_errors),
            "compression_errors": self._read(self._compression_errors),
            "corrupt_entries": self._read(self._corrupt),
            "signature_failures": self._read(self._signature_failures),
        }


# --------------------------------------------------------------------------- codec
class Codec:
    """Encode values to blobs and decode blobs to values (or :data:`MISSING`).

    >>> c = make_codec("json", "zlib", threshold=16)
    >>> blob = c.encode({"a": "x" * 100})
    >>> blob[0] == MARKER_ZLIB, c.decode(blob) == {"a": "x" * 100}
    (True, True)
    >>> c.decode(b"\\x07garbage") is MISSING
    True
    """

    def __init__(self, serializer: Serializer, compressor: Optional[Compressor] = None, *,
                 threshold: int = 1024, max_encoded_size: Optional[int] = None,
                 max_decoded_size: int = 64 << 20, signer: Optional[Signer] = None,
                 stats: Optional[CodecStats] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.serializer = serializer
        self.compressor = compressor
        self.threshold = threshold
        self.max_encoded_size = max_encoded_size
        self.max_decoded_size = max_decoded_size
        self.signer = signer
        self.stats = stats if stats is not None else CodecStats()
        self._clock = clock
        self._raw = bytes((MARKER_RAW,))
        self._decompressors: dict[int, Compressor] = {}
        if compressor is not None:
            self._decompressors[compressor.marker] = compressor

    def encode(self, value: Any, context: bytes = b"", bound: bytes = b"") -> bytes:
        """Return the blob for ``value``; ``context`` (namespace, key type and key) is
        bound into the signature, so a signed blob copied under another key fails to
        verify; ``bound`` (the metadata digest) is signed and stored in the blob.

        Raises :class:`SerializationError` if the serializer rejects the value and
        :class:`EntryTooLarge` if the payload exceeds ``max_decoded_size`` or the
        blob exceeds ``max_encoded_size``.
        """
        stats, clock = self.stats, self._clock
        t0 = clock()
        try:
            payload = self.serializer.dumps(value)
        except Exception as exc:
            next(stats._serialization_errors)
            raise SerializationError(
                f"{self.serializer.name} cannot encode {type(value).__name__}: {exc}") from exc
        t1 = clock()
        stats.serialization_s += t1 - t0
        n = len(payload)
        if n > self.max_decoded_size:
            # named after the setting the user knows (CacheManagerConfig field)
            raise EntryTooLarge(f"serialized value is {n} bytes, over max_decompressed_size "
                                f"{self.max_decoded_size}")
        frame = None
        comp = self.compressor
        if comp is not None and n >= self.threshold:
            try:
                packed = comp.compress(payload)
            except Exception:  # a compressor failure must not lose the write
                next(stats._compression_errors)
                packed = None
            stats.compression_s += clock() - t1
            if packed is not None and len(packed) < n:
                next(stats._compressions)
                stats.bytes_in += n
                stats.bytes_out += len(packed)
                frame = bytes((comp.marker,)) + packed
        if frame is None:
            frame = self._raw + payload
        blob = frame if self.signer is None else self.signer.sign(frame, context, bound)
        if self.max_encoded_size is not None and len(blob) > self.max_encoded_size:
            raise EntryTooLarge(f"stored form is {len(blob)} bytes, over max_entry_size "
                                f"{self.max_encoded_size}")
        return blob

    def decode(self, blob: Any, context: bytes = b"") -> Any:
        """Return the value of ``blob`` or :data:`MISSING` (counted) if it is unreadable."""
        if self.signer is not None:
            verified = self.signer.verify(blob, context)
            if verified is None:
                next(self.stats._signature_failures)
                return MISSING
            blob = verified
        return self._decode_frame(blob)

    def _decode_frame(self, blob: Any) -> Any:
        # decode() of a frame (the blob once its signature, if any, is checked)
        stats = self.stats
        try:
            if not blob:
                raise _CorruptFrame("empty frame")
            marker = blob[0]
            clock = self._clock
            t0 = clock()
            if marker == MARKER_RAW:
                if len(blob) - 1 > self.max_decoded_size:  # sized before anything is copied
                    raise _CorruptFrame("raw frame over max_decompressed_size")
                payload = blob[1:] if type(blob) is bytes else bytes(memoryview(blob)[1:])
            else:
                body = memoryview(blob)[1:]  # sized before anything is copied
                comp = self._decompressors.get(marker)
                if comp is None:
                    comp = self._decompressor_for(marker)
                # bytes, as the Compressor interface promises: a registered
                # compressor may use bytes methods on its input
                payload = comp.decompress(bytes(body), self.max_decoded_size)
                stats.decompression_s += clock() - t0
            t1 = clock()
            value = self.serializer.loads(payload)
            stats.deserialization_s += clock() - t1
            return value
        except Exception:
            # Corrupt or foreign bytes are a miss, never an exception on get().
            next(stats._corrupt)
            return MISSING

    def reader(self, fetch: Callable[[Any, Any], Any], drop: Callable[[Any, Any], Any],
               store: Any = None) -> Callable[..., Any]:
        """``get(key, default=None)``: ``fetch(key, MISSING)`` decoded.

        The manager's read path for an unsigned codec (a signed blob needs its key's
        context: use :meth:`decode`). A raw frame is loaded inline; anything else
        (compressed, foreign, corrupt) goes through :meth:`decode`, and a blob it
        cannot read is passed to ``drop(key, blob)`` and read as a miss. Timing a
        read costs two clock calls, about what the rest of a hit costs, so raw-frame
        loads are timed one in :data:`TIMING_SAMPLE` and counted that many times in
        ``deserialization_s`` (an unbiased estimate; counts stay exact). When
        ``fetch`` is the ``get`` of ``store`` (a core store), the reader is the core's
        compiled :class:`fbacache._core.Reader`: a raw frame's payload goes from the
        store to the serializer's ``loads`` with no Python frame between; otherwise
        it is one Python frame per read.

        >>> c = make_codec("json"); store = {"k": c.encode([1])}
        >>> get = c.reader(lambda k, d: store.get(k, d), lambda k, b: store.pop(k))
        >>> get("k"), get("nope", 0)
        ([1], 0)
        """
        if self.signer is not None:
            raise ValueError("a signed codec reads with the key's context: use decode()")
        loads = self.serializer.direct_loads()
        decode, stats, clock = self.decode, self.stats, self._clock
        limit = self.max_decoded_size + 1  # a raw frame is the marker and the payload

        def timed(payload: bytes) -> Any:
            t0 = clock()
            value = loads(payload)
            stats.deserialization_s += (clock() - t0) * TIMING_SAMPLE
            return value

        def fallback(key: Any, blob: Any, default: Any) -> Any:
            value = decode(blob)  # counts an unreadable blob as corrupt
            if value is MISSING:
                drop(key, blob)
                return default
            return value

        if store is not None and fetch == getattr(store, "get", None):
            from fbacache import _core

            kind = _core.Reader if isinstance(store, _core.Store) else _core.PyReader
            return cast(Callable[..., Any],
                        kind(store, loads, limit, timed, fallback, TIMING_SAMPLE))
        ticks = count(1)
        sample = TIMING_SAMPLE - 1  # a power of two minus one: a mask

        def get(key: Any, default: Any = None) -> Any:
            blob = fetch(key, MISSING)
            if blob is MISSING:
                return default
            try:
                if blob[0] == MARKER_RAW and len(blob) <= limit and type(blob) is bytes:
                    if next(ticks) & sample:
                        return loads(blob[1:])
                    return timed(blob[1:])
            except Exception:  # decode() below counts it as corrupt
                pass
            return fallback(key, blob, default)

        return get

    def signed_reader(self, fetch: Callable[[Any, Any], Any], drop: Callable[[Any, Any], Any],
                      context: Callable[[Any], bytes]) -> Callable[..., Any]:
        """:meth:`reader` for a signed codec: ``get(key, default=None)`` verifies the blob
        against ``context(key)`` (the key's signing context) before anything is decoded.

        A blob that fails verification counts in ``signature_failures``, is passed to
        ``drop(key, blob)`` and read as a miss, as :meth:`decode` + the manager do. Raw
        frames are loaded inline and their timing sampled as in :meth:`reader`.

        >>> from fbacache.signing import Signer
        >>> c = make_codec("json", signer=Signer(b"k" * 32))
        >>> store = {"k": c.encode([1], b"ctx:k"), "x": c.encode([2], b"ctx:k")}
        >>> get = c.signed_reader(lambda k, d: store.get(k, d), lambda k, b: store.pop(k),
        ...                       lambda k: b"ctx:" + k.encode())
        >>> get("k"), get("x", "moved"), "x" in store
        ([1], 'moved', False)
        """
        signer = self.signer
        if signer is None:
            raise ValueError("an unsigned codec has no signature to check: use reader()")
        verify = signer.verify
        loads = self.serializer.direct_loads()
        decode_frame, stats, clock = self._decode_frame, self.stats, self._clock
        failed = stats._signature_failures
        limit = self.max_decoded_size + 1
        ticks = count(1)
        sample = TIMING_SAMPLE - 1

        def get(key: Any, default: Any = None) -> Any:
            blob = fetch(key, MISSING)
            if blob is MISSING:
                return default
            frame = verify(blob, context(key))
            if frame is None:
                next(failed)
                drop(key, blob)
                return default
            try:
                if frame[0] == MARKER_RAW and len(frame) <= limit:
                    if next(ticks) & sample:
                        return loads(frame[1:])
                    t0 = clock()
                    value = loads(frame[1:])
                    stats.deserialization_s += (clock() - t0) * TIMING_SAMPLE
                    return value
            except Exception:  # decode_frame() below counts it as corrupt
                pass
            value = decode_frame(frame)
            if value is MISSING:
                drop(key, blob)
                return default
            return value

        return get

    def decode_many(self, blobs: Mapping[Any, Any],
                    context: Optional[Callable[[Any], bytes]] = None) -> dict[Any, Any]:
        """``{key: value}`` of a batch ``{key: blob}``; unreadable blobs are left out.

        What :meth:`decode` does per blob (``context(key)`` is each key's signing context;
        failures are counted the same way), with raw frames loaded inline and timed as a
        whole (two clock reads per batch, not per value). The caller drops the blobs left
        out, as after :meth:`decode`.

        >>> c = make_codec("json")
        >>> c.decode_many({"a": c.encode(1), "b": b"\x07junk"})
        {'a': 1}
        """
        frames: Mapping[Any, Any] = blobs
        if self.signer is not None:
            if context is None:
                raise ValueError("a signed codec reads with each key's context")
            verify, failed = self.signer.verify, self.stats._signature_failures
            frames = {}
            for key, blob in blobs.items():
                frame = verify(blob, context(key))
                if frame is None:
                    next(failed)
                else:
                    frames[key] = frame
        loads = self.serializer.direct_loads()
        limit = self.max_decoded_size + 1
        out: dict[Any, Any] = {}
        others = []
        clock = self._clock
        t0 = clock()
        for key, frame in frames.items():
            try:
                if frame[0] == MARKER_RAW and len(frame) <= limit and type(frame) is bytes:
                    out[key] = loads(frame[1:])
                    continue
            except Exception:  # _decode_frame() below counts it as corrupt
                pass
            others.append((key, frame))
        self.stats.deserialization_s += clock() - t0
        for key, frame in others:  # compressed, foreign or corrupt: timed by _decode_frame
            value = self._decode_frame(frame)
            if value is not MISSING:
                out[key] = value
        return out

    def verify_bound(self, blob: Any, context: bytes, bound: bytes) -> bool:
        """True if ``blob`` is signed for ``context`` with exactly ``bound`` (the digest
        of the metadata stored beside it); a failure counts in ``signature_failures``.
        Without a signer there is nothing to check: True."""
        signer = self.signer
        if signer is None:
            return True
        opened = signer.verify_bound(blob, context)
        if opened is None or opened[1] != bound:
            next(self.stats._signature_failures)
            return False
        return True

    def _decompressor_for(self, marker: int) -> Compressor:
        # Frames written with another compressor stay readable after a config change.
        for factory in COMPRESSORS.values():
            comp = factory(None)
            if comp.marker == marker:
                self._decompressors[marker] = comp
                return comp
        raise _CorruptFrame(f"unknown frame marker 0x{marker:02x}")


def make_codec(serialization: str, compression: Optional[str] = None, *, threshold: int = 1024,
               level: Optional[int] = None, max_encoded_size: Optional[int] = None,
               max_decoded_size: int = 64 << 20, signer: Optional[Signer] = None,
               stats: Optional[CodecStats] = None) -> Codec:
    """Build a :class:`Codec` from names; raises :class:`ConfigError` for unknown names.

    >>> make_codec("msgpack", "zstd").decode(make_codec("msgpack").encode([1, 2]))
    [1, 2]
    """
    if serialization not in SERIALIZERS:
        raise ConfigError("serialization_format",
                          f"unknown serializer {serialization!r}; choose from {sorted(SERIALIZERS)}")
    if compression is not None and compression not in COMPRESSORS:
        raise ConfigError("compression",
                          f"unknown compressor {compression!r}; choose from {sorted(COMPRESSORS)}")
    # The decoders take the cap (+1) as a C Py_ssize_t; beyond it every read would miss.
    check_number(max_decoded_size, "max_decompressed_size", integer=True, minimum=1,
                 maximum=MAX_SIZE - 1)
    comp = COMPRESSORS[compression](level) if compression is not None else None
    return Codec(SERIALIZERS[serialization](), comp, threshold=threshold,
                 max_encoded_size=max_encoded_size, max_decoded_size=max_decoded_size,
                 signer=signer, stats=stats)
