"""The stored form of one Redis entry: a small envelope around the manager's blob.

::

    0x00 + blob                                   # no metadata
    0x01 + len(meta) (4 bytes, big endian) + msgpack(meta) + blob

The blob is what the manager encoded (and signed, when a signing key is set); the backend never
decodes it. Reads are untrusted: an envelope that does not parse is None (a counted miss).
Also here: the Lua script that drops an entry only if it still holds a given blob (it parses
the same envelope), and the millisecond conversions of TTLs.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import msgpack

from fbacache.errors import SerializationError

__all__ = ["wrap_entry", "unwrap_entry", "unwrap_raw", "split_entry", "px", "seconds", "DISCARD_IF_LUA"]

_HEADER = 5  # marker byte + 4-byte metadata length

# Delete KEYS[1] only if it still holds the blob ARGV[1] (drop a corrupt entry without
# racing a concurrent rewrite): parse the envelope, compare the blob part.
DISCARD_IF_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local b = string.byte(v, 1)
local head
if b == 0 then head = 1
elseif b == 1 and #v >= 5 then
  head = 5 + string.byte(v, 2) * 16777216 + string.byte(v, 3) * 65536
           + string.byte(v, 4) * 256 + string.byte(v, 5)
else return 0 end
if #v - head == #ARGV[1] and string.sub(v, head + 1) == ARGV[1] then
  return redis.call('UNLINK', KEYS[1])
end
return 0
"""



def wrap_entry(blob: bytes, metadata: Optional[Mapping[str, Any]] = None) -> bytes:
    """The stored envelope of ``blob`` (+ msgpack ``metadata``).

    Raises SerializationError if the metadata cannot be packed with msgpack.

    >>> wrap_entry(b"v"), unwrap_entry(wrap_entry(b"v", {"a": 1}))
    (b'\\x00v', (b'v', {'a': 1}))
    """
    if not isinstance(blob, (bytes, bytearray)):
        raise TypeError(f"the redis backend stores bytes, got {type(blob).__name__}")
    if not metadata:
        return b"\x00" + blob
    try:
        meta = msgpack.packb(dict(metadata), use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(f"metadata is not msgpack-serializable: {exc}") from exc
    return b"\x01" + len(meta).to_bytes(4, "big") + meta + blob


def split_entry(raw: bytes) -> Optional[tuple[bytes, Optional[bytes]]]:
    """``(blob, packed metadata or None)`` of an envelope without unpacking the metadata (the
    read path needs only the blob); None if it does not parse."""
    if not raw:
        return None
    if raw[0] == 0:
        return raw[1:], None
    if raw[0] == 1 and len(raw) >= _HEADER:
        end = _HEADER + int.from_bytes(raw[1:_HEADER], "big")
        if end <= len(raw):
            return raw[end:], raw[_HEADER:end]
    return None


def unwrap_entry(raw: bytes) -> Optional[tuple[bytes, dict[str, Any]]]:
    """``(blob, metadata)`` of a stored envelope, or None if it does not parse (untrusted)."""
    parts = split_entry(raw)
    if parts is None:
        return None
    blob, meta = parts
    if meta is None:
        return blob, {}
    try:
        value = msgpack.unpackb(meta, raw=False, strict_map_key=False)
    except Exception:  # any malformed metadata is corrupt input
        return None
    return (blob, value) if isinstance(value, dict) else None


def unwrap_raw(raw: Optional[bytes]) -> Optional[tuple[bytes, dict[str, Any]]]:
    """:func:`unwrap_entry` of a GET reply (None for a missing key)."""
    return None if raw is None else unwrap_entry(raw)


def px(ttl: Optional[float]) -> Optional[int]:
    """A TTL in seconds as the PX argument (None: no expiry)."""
    # Never round a short TTL down to 0 (Redis refuses PX 0) nor up past what was asked by
    # more than a millisecond.
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


def seconds(ms: int) -> Optional[float]:
    """A PTTL reply in seconds: None for a missing key, inf for no expiry."""
    # PTTL: -2 missing, -1 no expiry
    if ms == -2:
        return None
    return math.inf if ms == -1 else ms / 1000.0
