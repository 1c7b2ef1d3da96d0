"""HMAC-SHA256 signing of stored payloads, with key rotation.

Values in a shared store (Redis) can be written by anyone who can reach that store, so bytes read
back are untrusted. A payload that will be unpickled must first prove it was written by a holder of
the signing key: :meth:`Signer.verify` returns the payload only if its tag matches, and ``None`` for
anything else (unsigned, truncated, tampered, signed with an unknown key, not even bytes). Callers
count ``None`` as a miss and never decode the blob.

Wire format (version 2), 39 bytes of overhead plus the bound data::

    +---------+---------+-----------------------+-------------+-------+-------------+
    | b"FBS"  | 0x02    | tag: 32 bytes         | len(bound)  | bound | payload     |
    | magic   | version | HMAC-SHA256(key, msg) | 2 bytes BE  |       | (any bytes) |
    +---------+---------+-----------------------+-------------+-------+-------------+

    msg = magic + version + len(context) (4 bytes BE) + context
          + len(bound) (2 bytes BE) + bound + payload

The header is inside the MAC, so a blob cannot be relabelled with another version.
``context`` is authenticated but not stored: the manager passes :func:`key_context`, an
injective encoding of (namespace, key type, key), so a signed blob copied to another key,
to a key of another type with the same text (``'abc'`` / ``b'abc'``, ``1`` / ``'1'``) or to
the same key in another namespace fails to verify. ``bound`` is authenticated *and* stored:
the manager puts :func:`metadata_digest` there, so metadata kept beside the blob (the Redis
envelope) can be checked against the signed digest (:meth:`Signer.verify_bound`). The length
prefixes keep the fields unambiguous. Version 1 blobs (no bound field, raw key context) are
not accepted: they only ever lived under version-1 Redis keys, which version 2 never reads.

Rotation: sign with the new key and list the previous ones in ``old_keys``; blobs signed with any
of them still verify (the current key is tried first) until they expire. Drop an old key once
every entry it signed has expired.

    >>> signer = Signer(b"k" * 32)
    >>> blob = signer.sign(b"payload", context=b"user:1")
    >>> signer.verify(blob, context=b"user:1")
    b'payload'
    >>> signer.verify(blob, context=b"user:2") is None
    True
    >>> Signer(b"n" * 32, old_keys=[b"k" * 32]).verify(blob, context=b"user:1")
    b'payload'
    >>> key_context("app", "abc") != key_context("app", b"abc") != key_context("app2", "abc")
    True
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Hashable, Mapping, Optional, Sequence


from fbacache._optional import require
from fbacache.errors import ConfigError, SerializationError
from fbacache.keys import canonical_bytes

__all__ = ["Signer", "MAGIC", "VERSION", "HEADER_SIZE", "TAG_SIZE", "OVERHEAD", "MIN_KEY_SIZE",
           "MAX_BOUND", "key_context", "context_head", "metadata_digest"]

MAGIC = b"FBS"
VERSION = 2
_HEADER = MAGIC + bytes([VERSION])
HEADER_SIZE = len(_HEADER)
TAG_SIZE = hashlib.sha256().digest_size
_BOUND_LEN = 2
OVERHEAD = HEADER_SIZE + TAG_SIZE + _BOUND_LEN
MAX_BOUND = (1 << (8 * _BOUND_LEN)) - 1
# Shorter keys are almost certainly passwords or placeholders; HMAC wants key material.
MIN_KEY_SIZE = 16


def key_context(namespace: str, key: Hashable) -> bytes:
    """The signing context of ``key`` in ``namespace``: injective over (namespace, type, key).

    ``len(namespace)`` (4 bytes) + namespace + a type tag (``s`` str, ``b`` bytes, ``i``
    int, ``o`` anything else, by :func:`fbacache.keys.canonical_bytes`) + the key's bytes.
    The namespace's length prefix keeps it apart from the key; the tag keeps ``'1'``,
    ``b'1'`` and ``1`` apart (and ``canonical_bytes`` tags types inside composite keys).

    >>> key_context("ns", "k"), key_context("ns", 7)
    (b'\\x00\\x00\\x00\\x02nssk', b'\\x00\\x00\\x00\\x02nsi7')
    """
    head = context_head(namespace)
    if isinstance(key, str):
        return head + b"s" + str(key).encode("utf-8", "surrogatepass")
    if isinstance(key, bytes):
        return head + b"b" + bytes(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return head + b"i" + str(int(key)).encode("ascii")
    return head + b"o" + canonical_bytes(key)


def context_head(namespace: str) -> bytes:
    """The part of every :func:`key_context` in ``namespace`` that precedes the key's type
    tag (computed once by a backend, not per call).

    >>> key_context("ns", "k") == context_head("ns") + b"s" + b"k"
    True
    """
    ns = namespace.encode("utf-8", "surrogatepass")
    return len(ns).to_bytes(4, "big") + ns


def metadata_digest(metadata: Optional[Mapping[str, Any]]) -> bytes:
    """What a signature binds of an entry's metadata: b"" for none, else a SHA-256.

    The digest is over the msgpack form, the form the Redis backend stores, so metadata
    read back compares equal to what was written (tuples come back as lists and pack
    identically). Raises SerializationError for metadata msgpack cannot pack.

    >>> metadata_digest(None), metadata_digest({}), len(metadata_digest({"a": (1, 2)}))
    (b'', b'', 32)
    >>> metadata_digest({"a": (1, 2)}) == metadata_digest({"a": [1, 2]})
    True
    """
    if not metadata:
        return b""
    packb = require("msgpack", "msgpack").packb  # only signed entries with metadata need it
    try:
        packed = packb(dict(metadata), use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(f"metadata is not msgpack-serializable: {exc}") from exc
    return hashlib.sha256(packed).digest()


_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(x ^ 0x36 for x in range(256))  # bytes.translate tables: XOR with the pads
_OPAD = bytes(x ^ 0x5C for x in range(256))


class _Mac:
    """HMAC-SHA256 (RFC 2104) under one key, with the keyed hash states computed once.

    ``HMAC(K, m) = H((K' ^ opad) + H((K' ^ ipad) + m))``, ``K'`` the key zero-padded to the
    block size (hashed first if longer). The two inner states after absorbing the padded
    key do not depend on the message, so they are kept and copied per tag: with OpenSSL 3,
    building an ``hmac.new`` object costs several times the hashing of a small value. Tags
    are byte-identical to ``hmac.new(key, msg, hashlib.sha256).digest()`` (tested).

    >>> import hmac
    >>> _Mac(b"k" * 32).tag(b"msg", b"") == hmac.new(b"k" * 32, b"msg", hashlib.sha256).digest()
    True
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def tag(self, head: bytes, payload: bytes) -> bytes:
        """The HMAC of ``head + payload`` (two parts: the payload is never copied)."""
        inner = self._inner.copy()
        inner.update(head)
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def _check_key(field: str, key: Any) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigError(field, f"signing keys must be bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_SIZE:
        raise ConfigError(field, f"signing keys must be at least {MIN_KEY_SIZE} bytes "
                                 f"(32 random bytes recommended, e.g. os.urandom(32))")
    return bytes(key)


class Signer:
    """Signs payloads with ``key`` and verifies blobs signed with ``key`` or any of ``old_keys``.

    Parameters:
        key: the current signing key (bytes, >= 16 bytes; 32 random bytes recommended).
        old_keys: previous keys still accepted by :meth:`verify` (key rotation).

    Raises:
        ConfigError: a key is not bytes or is too short (``field`` is ``signing_key`` or
            ``signing_keys``).

    Thread-safe: a Signer holds only immutable keys.
    """

    __slots__ = ("_keys", "_macs")

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        if isinstance(old_keys, (bytes, bytearray, str)):
            raise ConfigError("signing_keys", "old_keys must be a sequence of keys, not one key")
        current = _check_key("signing_key", key)
        older = [_check_key("signing_keys", k) for k in old_keys]
        # The current key first: fresh blobs verify with one HMAC.
        self._keys: tuple[bytes, ...] = tuple(dict.fromkeys([current, *older]))
        self._macs = tuple(_Mac(k) for k in self._keys)

    @staticmethod
    def _tag(mac: _Mac, payload: bytes, context: bytes, bound: bytes) -> bytes:
        # msg = header + len(context) + context + len(bound) + bound + payload
        head = b"".join((_HEADER, len(context).to_bytes(4, "big"), context,
                         len(bound).to_bytes(_BOUND_LEN, "big"), bound))
        return mac.tag(head, payload)

    def sign(self, payload: bytes, context: bytes = b"", bound: bytes = b"") -> bytes:
        """Return ``header + tag + len(bound) + bound + payload`` signed with the current key.

        ``context`` is authenticated but not stored; pass the same value to :meth:`verify`.
        ``bound`` (at most :data:`MAX_BOUND` bytes) is authenticated and stored; read it
        back with :meth:`verify_bound`.

        Raises:
            TypeError: ``payload``, ``context`` or ``bound`` is not bytes-like.
            ValueError: ``bound`` is longer than :data:`MAX_BOUND`.
        """
        # bytes as they are; other bytes-like objects copied (and TypeError for the rest)
        if type(payload) is not bytes:
            payload = bytes(memoryview(payload))
        if type(context) is not bytes:
            context = bytes(memoryview(context))
        if type(bound) is not bytes:
            bound = bytes(memoryview(bound))
        if len(bound) > MAX_BOUND:
            raise ValueError(f"bound data is {len(bound)} bytes, over {MAX_BOUND}")
        return b"".join((_HEADER, self._tag(self._macs[0], payload, context, bound),
                         len(bound).to_bytes(_BOUND_LEN, "big"), bound, payload))

    def _open(self, blob: Any, context: Any) -> Optional[tuple[bytes, bytes, int]]:
        # (payload, bound, key index) of a blob that verifies, else None; never raises.
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            return None
        if type(context) is not bytes:
            try:
                context = bytes(memoryview(context))
            except TypeError:
                return None
        data = bytes(blob)  # the same object when blob is bytes
        if len(data) < OVERHEAD or data[:HEADER_SIZE] != _HEADER:
            return None
        tag = data[HEADER_SIZE:HEADER_SIZE + TAG_SIZE]
        end = OVERHEAD + int.from_bytes(data[OVERHEAD - _BOUND_LEN:OVERHEAD], "big")
        if end > len(data):
            return None
        bound, payload = data[OVERHEAD:end], data[end:]
        for index, mac in enumerate(self._macs):
            # Constant-time per comparison; which key matched is not secret.
            if hmac.compare_digest(tag, self._tag(mac, payload, context, bound)):
                return payload, bound, index
        return None

    def verify_with_index(self, blob: Any, context: bytes = b"") -> tuple[bytes, int] | None:
        """Like :meth:`verify`, also returning which key matched (0 = current, 1+ = old_keys).

        Lets a caller count (or re-sign) entries still signed with a retired key.
        """
        opened = self._open(blob, context)
        return None if opened is None else (opened[0], opened[2])

    def verify_bound(self, blob: Any, context: bytes = b"") -> tuple[bytes, bytes] | None:
        """``(payload, bound)`` of a blob signed by one of our keys for ``context``, else None.

        >>> s = Signer(b"k" * 32)
        >>> s.verify_bound(s.sign(b"p", b"ctx", bound=b"digest"), b"ctx")
        (b'p', b'digest')
        """
        opened = self._open(blob, context)
        return None if opened is None else (opened[0], opened[1])

    def verify(self, blob: Any, context: bytes = b"") -> bytes | None:
        """The payload of a blob signed by one of our keys, else None. Never raises.

        None covers: not bytes-like, shorter than the header, wrong magic or version, tag
        mismatch (tampered payload or bound data, wrong key, wrong ``context``).
        """
        opened = self._open(blob, context)
        return None if opened is None else opened[0]

    @staticmethod
    def looks_signed(blob: Any) -> bool:
        """True if ``blob`` starts with a version-2 signing header (says nothing about validity)."""
        return isinstance(blob, (bytes, bytearray)) and bytes(blob[:HEADER_SIZE]) == _HEADER

    @property
    def key_count(self) -> int:
        """Number of distinct keys accepted by :meth:`verify` (current + old)."""
        return len(self._keys)

    def __repr__(self) -> str:  # never show key material
        return f"<Signer keys={len(self._keys)}>"
