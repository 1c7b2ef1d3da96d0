"""A manager's batch read: ``get_many``'s fetch and decode of many keys.

One job: ``{key: value}`` for the keys a backend holds, decoded in as few codec calls as
the backend allows (one pass over a store's reply with ``load_many``, else one
``decode_many`` call), corrupt entries left out and dropped from the store as the
single-key read drops them. This module does not know the manager.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Optional

from fbacache._util import MISSING
from fbacache.backends.base import Backend
from fbacache.codecs import Codec

__all__ = ["read_many"]


def read_many(backend: Backend, codec: Optional[Codec], keys: Iterable[Hashable],
              decode: Callable[[Hashable, Any], Any], plain: bool) -> dict[Hashable, Any]:
    """``{key: value}`` for the ``keys`` present in ``backend`` (missing and corrupt omitted).

    ``decode(key, item)`` is the manager's per-item decode (MISSING for a corrupt item,
    which it drops); ``plain`` is False when a subclass overrides it, and then every item
    goes through it instead of the batch codec calls.
    """
    load_many = getattr(backend, "load_many", None)
    if codec is not None and plain and codec.signer is None and load_many is not None:
        # one pass over the store's reply: raw frames loaded with it (one unpackb call
        # for a msgpack batch), the rest decoded below; what is left out is corrupt
        out, found = load_many(keys, codec.load_replies)
        if found:
            more = codec.decode_many(found)
            out.update(more)
            if len(more) < len(found):
                for key in found.keys() - more.keys():
                    backend.discard_if(key, found[key])
    elif codec is not None and plain:
        found = backend.get_many(list(keys))
        # the whole batch in one codec call; what it left out is corrupt, dropped as
        # _decode drops it
        out = codec.decode_many(found, backend.signing_context
                                if codec.signer is not None else None)
        if len(out) < len(found):
            for key in found.keys() - out.keys():
                backend.discard_if(key, found[key])
    else:
        out = {}
        for key, item in backend.get_many(list(keys)).items():
            value = decode(key, item)
            if value is not MISSING:
                out[key] = value
    return out
