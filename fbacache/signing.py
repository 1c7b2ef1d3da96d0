"""HMAC-SHA256 signing of stored payloads, with key rotation.

Values in a shared store (Redis) can be written by anyone who can reach that store, so bytes read
back are untrusted. A payload that will be unpickled must first prove it was written by a holder of
the signing key: :meth:`Signer.verify` returns the payload only if its tag matches, and ``None`` for
anything else (unsigned, truncated, tampered, signed with an unknown key, not even bytes). Callers
count ``None`` as a miss and never decode the blob.

Wire format (version 1), 37 bytes of overhead::

    +---------+---------+----------------------------+-------------+
    | b"FBS"  | 0x01    | tag: 32 bytes              | payload     |
    | magic   | version | HMAC-SHA256(key, msg)      | (any bytes) |
    +---------+---------+----------------------------+-------------+

    msg = magic + version + len(context) as 4 bytes big-endian + context + payload

The header is inside the MAC, so a blob cannot be relabelled with another version. ``context``
(e.g. the cache key) is authenticated but not stored: a blob copied to another key fails to verify,
so someone with write access to the store cannot swap signed values between keys. The length
prefix keeps ``(context, payload)`` pairs unambiguous.

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
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Sequence

from fbacache.errors import ConfigError

__all__ = ["Signer", "MAGIC", "VERSION", "HEADER_SIZE", "TAG_SIZE", "OVERHEAD", "MIN_KEY_SIZE"]

MAGIC = b"FBS"
VERSION = 1
_HEADER = MAGIC + bytes([VERSION])
HEADER_SIZE = len(_HEADER)
TAG_SIZE = hashlib.sha256().digest_size
OVERHEAD = HEADER_SIZE + TAG_SIZE
# Shorter keys are almost certainly passwords or placeholders; HMAC wants key material.
MIN_KEY_SIZE = 16


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

    __slots__ = ("_keys",)

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        if isinstance(old_keys, (bytes, bytearray, str)):
            raise ConfigError("signing_keys", "old_keys must be a sequence of keys, not one key")
        current = _check_key("signing_key", key)
        older = [_check_key("signing_keys", k) for k in old_keys]
        # The current key first: fresh blobs verify with one HMAC.
        self._keys: tuple[bytes, ...] = tuple(dict.fromkeys([current, *older]))

    @staticmethod
    def _tag(key: bytes, payload: bytes, context: bytes) -> bytes:
        mac = hmac.new(key, _HEADER, hashlib.sha256)
        mac.update(len(context).to_bytes(4, "big"))
        mac.update(context)
        mac.update(payload)
        return mac.digest()

    def sign(self, payload: bytes, context: bytes = b"") -> bytes:
        """Return ``header + tag + payload`` signed with the current key.

        ``context`` is authenticated but not stored; pass the same value to :meth:`verify`.

        Raises:
            TypeError: ``payload`` or ``context`` is not bytes-like.
        """
        payload = bytes(memoryview(payload))
        context = bytes(memoryview(context))
        return _HEADER + self._tag(self._keys[0], payload, context) + payload

    def verify_with_index(self, blob: Any, context: bytes = b"") -> tuple[bytes, int] | None:
        """Like :meth:`verify`, also returning which key matched (0 = current, 1+ = old_keys).

        Lets a caller count (or re-sign) entries still signed with a retired key.
        """
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            return None
        try:
            context = bytes(memoryview(context))
        except TypeError:
            return None
        data = bytes(blob)
        if len(data) < OVERHEAD or data[:HEADER_SIZE] != _HEADER:
            return None
        tag, payload = data[HEADER_SIZE:OVERHEAD], data[OVERHEAD:]
        for index, key in enumerate(self._keys):
            # Constant-time per comparison; which key matched is not secret.
            if hmac.compare_digest(tag, self._tag(key, payload, context)):
                return payload, index
        return None

    def verify(self, blob: Any, context: bytes = b"") -> bytes | None:
        """The payload of a blob signed by one of our keys, else None. Never raises.

        None covers: not bytes-like, shorter than the header, wrong magic or version, tag
        mismatch (tampered payload, wrong key, wrong ``context``).
        """
        result = self.verify_with_index(blob, context)
        return None if result is None else result[0]

    @staticmethod
    def looks_signed(blob: Any) -> bool:
        """True if ``blob`` starts with a version-1 signing header (says nothing about validity)."""
        return isinstance(blob, (bytes, bytearray)) and bytes(blob[:HEADER_SIZE]) == _HEADER

    @property
    def key_count(self) -> int:
        """Number of distinct keys accepted by :meth:`verify` (current + old)."""
        return len(self._keys)

    def __repr__(self) -> str:  # never show key material
        return f"<Signer keys={len(self._keys)}>"
