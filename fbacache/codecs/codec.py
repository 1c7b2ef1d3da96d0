"""The codec: serializer, optional compressor and optional signer composed into blobs
(the format is in :mod:`fbacache.codecs`), with its counters and its fast readers.
"""
from __future__ import annotations

import time
from itertools import count
from typing import Any, Callable, Mapping, Optional, Protocol

from fbacache._util import MISSING
from fbacache._validate import MAX_SIZE, check_number
from fbacache.errors import ConfigError, EntryTooLarge, SerializationError
from fbacache.metrics import read_count
from fbacache.codecs.compressors import COMPRESSORS, MARKER_RAW, Compressor, _CorruptFrame
from fbacache.codecs.serializers import SERIALIZERS, Serializer

__all__ = ["Signer", "Codec", "CodecStats", "make_codec", "TIMING_SAMPLE"]

TIMING_SAMPLE = 16  # Codec.reader times one raw-frame load in this many (a power of two)


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

    >>> from fbacache.codecs import MARKER_ZLIB
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
        # load_replies' (core function, serializer's loads, loads is msgpack's), on first use
        self._batch: Optional[tuple[Callable[..., Any], Callable[[Any], Any], bool]] = None
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
        ``deserialization_s`` (an unbiased estimate; counts stay exact). The reader is
        the core's :class:`fbacache._core.Reader` (compiled when the core is): a raw
        frame's payload goes from ``fetch`` to the serializer's ``loads`` with no
        Python frame between (and, for a ``loads`` that takes buffers, as pickle's and
        msgpack's do, without a copy: it reads the fetched bytes in place). When
        ``fetch`` is the ``get`` of ``store`` (a core store), the store is read with a
        C call instead of through its bound method.

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

        from fbacache import _core

        source: Any = fetch
        kind = _core.Reader
        if store is not None and fetch == getattr(store, "get", None):
            # the store itself: read with a C call, no bound method between
            source = store
            kind = _core.Reader if isinstance(store, _core.Store) else _core.PyReader
        # a loads that takes buffers reads the stored payload in place (no copy); with the
        # default clock the sampled load is timed by the reader itself (no frame)
        read = kind(source, loads, limit, timed, fallback, TIMING_SAMPLE,
                    buffers=self.serializer.loads_buffers(),
                    stats=stats if clock is time.perf_counter else None)
        # as a builtin method: the interpreter's fast path for builtin calls
        return read.method

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
        from fbacache import _core

        serializer = self.serializer
        clock = self._clock
        t0 = clock()
        # raw frames loaded in one compiled call (in place for a loads that takes buffers);
        # the rest (compressed, foreign, corrupt) as decode() reads them
        out, others = _core.load_frames(frames, serializer.direct_loads(),
                                        self.max_decoded_size + 1, serializer.loads_buffers())
        self.stats.deserialization_s += clock() - t0
        for key, frame in others:  # compressed, foreign or corrupt: timed by _decode_frame
            value = self._decode_frame(frame)
            if value is not MISSING:
                out[key] = value
        return out

    def load_replies(self, keys: list[Any], replies: list[Any],
                     head: bytes) -> tuple[dict[Any, Any], int, list[tuple[Any, Any]]]:
        """``(values, misses, rest)`` of a batch of store replies, for an unsigned codec.

        A reply that is ``head`` (a store's own header, e.g. the Redis envelope's marker)
        followed by a raw frame is loaded here: :func:`fbacache._core.load_replies` with
        this codec's serializer, the whole batch in one ``loads`` call for msgpack, each
        value exactly what :meth:`decode` of its blob gives. ``misses`` counts the None
        replies; ``rest`` holds ``(key, reply)`` of the replies not loaded (other envelopes,
        compressed or unreadable frames), for the caller to unwrap and :meth:`decode_many`
        (which counts what is corrupt). The time is added to ``deserialization_s`` as a
        whole (two clock reads).

        >>> c = make_codec("msgpack")
        >>> c.load_replies(["a", "b", "c"], [b"\\x00" + c.encode(1), None, b"\\x01x"], b"\\x00")
        ({'a': 1}, 1, [('c', b'\\x01x')])
        """
        if self.signer is not None:
            raise ValueError("a signed codec verifies each blob with its key's context: use "
                             "decode_many()")
        batch = self._batch
        if batch is None:  # the serializer's loads, looked up once
            from fbacache import _core

            serializer = self.serializer
            batch = self._batch = (_core.load_replies, serializer.direct_loads(),
                                   serializer.loads_msgpack())
        load, loads, msgpack = batch
        clock = self._clock
        t0 = clock()
        # head + the raw frame's marker, then a payload of at most max_decoded_size bytes
        out = load(keys, replies, head + self._raw, self.max_decoded_size, loads, msgpack)
        self.stats.deserialization_s += clock() - t0
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
