"""Compressors and the frame marker bytes (see the table in :mod:`fbacache.codecs`), by name
in :data:`COMPRESSORS`.

zstandard is imported on first use (the ``zstd`` extra). Decompression is bounded by the
caller's ``max_size`` and a compressed frame is exactly one stream.
"""
from __future__ import annotations

import threading
import zlib
from typing import Any, Callable, Optional

from fbacache._optional import require

__all__ = ["MARKER_RAW", "MARKER_ZLIB", "MARKER_ZSTD", "Compressor", "ZlibCompressor",
           "ZstdCompressor", "COMPRESSORS"]

MARKER_RAW = 0x00
MARKER_ZLIB = 0x01
MARKER_ZSTD = 0x02


class _CorruptFrame(Exception):
    """Internal: the frame is unreadable (never escapes :meth:`Codec.decode`)."""


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
