"""The pure-Python twin of ``_batch.pxi``: a batch of stored replies loaded in one call.

(``_batch.pxi`` is compiled into ``_index_c``; :mod:`fbacache._core` selects one of the two.)

:func:`load_replies` is the read path of a batch read from a shared store (a Redis ``MGET``
reply): the replies that are a known header followed by a payload are loaded at once, the
rest is handed back for the slow path. For msgpack payloads the compiled version makes one
``loads`` call for the whole batch instead of one per payload: every payload that
:func:`msgpack_extent` finds to hold exactly one whole msgpack object is put, back to back
with the others, after a msgpack array header, and ``loads`` of that is the list of their
values. A payload that does not hold exactly one object (two objects, a truncated one,
garbage, a size field beyond its end) is loaded alone, so it cannot shift its neighbours.
This twin gives the same results loading each payload alone: walking the size fields in
Python costs more than the calls it would save (3x the per-payload time on 100 small
values); :func:`msgpack_extent` here is the reference of the compiled walker.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

__all__ = ["load_replies", "msgpack_extent", "prefix_keys", "BATCH_MAX"]

#: The compiled version loads payloads totalling more than this many bytes one at a time (a
#: call per payload costs nothing next to decoding them, and the batch is not copied whole).
BATCH_MAX = 1 << 20


def msgpack_extent(data: bytes, start: int, end: int) -> bool:
    """True if ``data[start:end]`` is exactly one whole msgpack object, by its size fields
    alone (the object's encoding: no value is built, nothing else is checked).

    Every format byte but ``0xc1`` (never used) starts an object; the lengths of strings,
    binaries and extensions and the counts of arrays and maps are read from their headers.
    False when the bytes end inside the object or go on after it.

    >>> import msgpack
    >>> one = msgpack.packb({"a": [1, 2.5, "x" * 40]})
    >>> msgpack_extent(one, 0, len(one)), msgpack_extent(one * 2, 0, 2 * len(one))
    (True, False)
    >>> msgpack_extent(one[:-1], 0, len(one) - 1), msgpack_extent(b"\\xc1", 0, 1)
    (False, False)
    """
    if not 0 <= start <= end <= len(data):
        raise ValueError("start and end must lie within data")
    pos = start
    pending = 1  # objects still to read
    while pending:
        if pending > end - pos:  # each object takes at least one byte
            return False
        b = data[pos]
        pos += 1
        pending -= 1
        if b <= 0x7f or b >= 0xe0 or b in (0xc0, 0xc2, 0xc3):  # fixint, nil, bool
            continue
        if 0x80 <= b <= 0x8f:  # fixmap
            pending += 2 * (b & 0x0f)
        elif 0x90 <= b <= 0x9f:  # fixarray
            pending += b & 0x0f
        elif 0xa0 <= b <= 0xbf:  # fixstr
            pos += b & 0x1f
        elif b in _FIXED:  # numbers and fixext: a fixed size after the format byte
            pos += _FIXED[b]
        elif b in _SIZED:  # str, bin, ext: a big-endian length (+ the ext's type byte)
            width, extra = _SIZED[b]
            if end - pos < width:
                return False
            pos += width + extra + int.from_bytes(data[pos:pos + width], "big")
        elif b in _COUNTED:  # array16/32, map16/32
            width, per = _COUNTED[b]
            if end - pos < width:
                return False
            pending += per * int.from_bytes(data[pos:pos + width], "big")
            pos += width
        else:  # 0xc1
            return False
        if pos > end:
            return False
    return pos == end


_FIXED = {0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4,
          0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
_SIZED = {0xc4: (1, 0), 0xc5: (2, 0), 0xc6: (4, 0), 0xc7: (1, 1), 0xc8: (2, 1), 0xc9: (4, 1),
          0xd9: (1, 0), 0xda: (2, 0), 0xdb: (4, 0)}
_COUNTED = {0xdc: (2, 1), 0xdd: (4, 1), 0xde: (2, 2), 0xdf: (4, 2)}


def load_replies(keys: Iterable[Any], replies: Iterable[Any], head: bytes, limit: int,
                 loads: Callable[[Any], Any], msgpack: bool = False,
                 ) -> tuple[dict[Any, Any], int, list[tuple[Any, Any]]]:
    """``(values, misses, rest)`` of a batch of replies zipped with their keys, in one call.

    A reply that is an exact ``bytes`` made of ``head`` and a payload of 1 to ``limit``
    bytes is loaded: ``values`` maps its key to ``loads(payload)`` (a ``bytes`` copy of the
    payload), in the batch's order. ``misses`` counts the None replies. ``rest`` lists
    ``(key, reply)`` first of every other reply, in order, then of the loadable replies
    whose ``loads`` raised an ``Exception``, in order: the caller decodes (and counts) them.

    With ``msgpack`` (``loads`` is msgpack's ``unpackb``, options of the caller's choice),
    the compiled version loads the payloads that :func:`msgpack_extent` accepts, if there
    are at least two and they total at most :data:`BATCH_MAX` bytes, by one call: ``loads``
    of a msgpack array header and the payloads back to back. Its result is used if it is a
    list or a tuple of one value per payload; if the call raises, they are loaded one by
    one. The result is the same as without ``msgpack`` (an object decodes alike inside the
    array), and this twin loads each payload alone either way (see the module docstring).

    >>> load_replies(["a", "b", "c", "d"], [b"\\x00\\x00[1]", None, b"\\x01m", b"\\x00\\x00x"],
    ...              b"\\x00\\x00", 64, lambda p: eval(p))
    ({'a': [1]}, 1, [('c', b'\\x01m'), ('d', b'\\x00\\x00x')])
    """
    out: dict[Any, Any] = {}
    rest: list[tuple[Any, Any]] = []
    failed: list[tuple[Any, Any]] = []
    misses = 0
    h = len(head)
    for key, raw in zip(keys, replies):
        if raw is None:
            misses += 1
        elif type(raw) is bytes and 0 < len(raw) - h <= limit and raw.startswith(head):
            try:
                out[key] = loads(raw[h:])
            except Exception:
                failed.append((key, raw))
        else:
            rest.append((key, raw))
    rest.extend(failed)
    return out, misses, rest


def prefix_keys(head: bytes, keys: Iterable[Any], encode: Callable[[Any], bytes]) -> list[bytes]:
    """``[head + key for each ASCII str key, encode(key) for any other]``, in one call.

    The batch form of a key codec whose ``encode(key)`` is ``head`` + the key's UTF-8 for a
    str key (:meth:`fbacache.backends.redis.client.KeyCodec.encode_many`): the ASCII keys,
    the common case, are joined to ``head`` here without a call each.

    >>> prefix_keys(b"p:", ["a", "\u00e9", 1], lambda k: b"other")
    [b'p:a', b'other', b'other']
    """
    return [head + key.encode("ascii") if type(key) is str and key.isascii() else encode(key)
            for key in keys]
