"""The compiled callables that stand in for a manager's ``get``, ``get_or_set`` and ``set``.

One job: given what a :class:`fbacache.CacheManager` is made of, choose the callables it
installs as instance attributes shadowing those three methods (the manager decides *when*:
running, no prefetch accounting, no overriding subclass). With objects stored as they are,
``get`` *is* the store's C get; ``get_or_set(k, f)`` and ``set(k, v)`` are one compiled
call each (:class:`fbacache._core.GetOr` / :class:`fbacache._core.Put`), and any other
argument falls through to the full method they are given. With a codec, ``get`` is the
codec's compiled reader (or, signed, its verifying reader). This module does not know the
manager: it is handed the pieces and the full methods.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from fbacache._core import GetOr, PyStore, Put, Store
from fbacache.backends.base import Backend
from fbacache.codecs import Codec

__all__ = ["fast_callables", "fast_stores"]


def fast_stores(backend: Backend, codec: Optional[Codec], *, jittered: bool,
                default_ttl: Optional[float]) -> tuple[Any, Any, Any]:
    """``(core_store, object_store, store)``: the compiled store behind the fast paths.

    ``core_store`` is the backend's compiled store (None for any other, e.g. the
    filesystem backend's file store): it counts every write (the 'sets' metric).
    ``object_store`` is the same when objects are stored as they are (no ``codec``):
    ``get`` and ``get_or_set`` hits read it directly. ``store`` is the same again when
    TTLs are not ``jittered``: ``set`` writes it directly, with ``default_ttl`` set on it.
    """
    found: Any = getattr(backend, "store", None)
    if not isinstance(found, (Store, PyStore)):  # e.g. the filesystem backend's file store
        found = None
    object_store = found if codec is None else None
    store = None
    if object_store is not None and not jittered:
        found.default_ttl = default_ttl
        store = found
    return found, object_store, store


def fast_callables(*, codec: Optional[Codec], backend: Backend, object_store: Any,
                   store: Any, core_store: Any, tags_used: bool, max_entry_size: int,
                   load_missed: Callable[[Any, Callable[[], Any]], Any],
                   full_get_or_set: Callable[..., Any],
                   full_set: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """``{name: callable}`` for those of ``get``/``get_or_set``/``set`` that have a fast form.

    ``object_store``: the compiled store when objects are stored as they are (else None);
    ``store``: the same when ``set`` may write it directly (no TTL jitter), else None;
    ``core_store``: the compiled store the backend reads (counts writes), if any.
    ``load_missed(key, factory)`` loads a compiled ``get_or_set``'s miss; ``full_*`` are
    the manager's full methods, bound, for any call the compiled forms do not take.
    A tagged write (``tags_used``) turns the fast ``set`` off: later plain writes must
    drop the key's tags.
    """
    out: dict[str, Callable[..., Any]] = {}
    if codec is None:
        out["get"] = backend.get
    elif codec.signer is None:
        # a corrupt blob is dropped as in _decode; compiled when the backend reads the store
        out["get"] = codec.reader(backend.get, backend.discard_if, core_store)
    if object_store is not None:
        # .method: a builtin method (the interpreter's fast call), as the store's get
        out["get_or_set"] = GetOr(object_store, load_missed, full_get_or_set).method
        if store is not None and not tags_used:
            out["set"] = Put(object_store, max_entry_size, full_set).method
    if codec is not None and codec.signer is not None:
        # one Python frame per hit: verified with the key's context (as _context gives
        # it) before anything is decoded; a blob that fails is dropped as in _decode
        out["get"] = codec.signed_reader(backend.get, backend.discard_if,
                                         backend.signing_context)
    return out
