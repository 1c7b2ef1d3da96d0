"""The pure-Python twin of the compiled codec reader: the reference for ``_reader.pxi``.

(``_reader.pxi`` is compiled into ``_index_c`` and re-exported by ``_store_c``; this
module's :class:`Reader` is re-exported by ``_store_py``.)

A codec's ``get`` over a :class:`~fbacache._core._store_py.Store` in one call: the
stored item is looked up (a hit or a miss counted by the store) and a raw frame (an
exact ``bytes`` item whose first byte, the codec's marker, is zero) has its payload
loaded at once; anything else goes to the codec's Python fallback. The stored items
are never changed: with ``buffers`` the payload is lent to ``loads`` as a read-only
buffer over the stored blob (no copy) instead of a ``bytes`` copy of it.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable, Mapping, Optional

if TYPE_CHECKING:
    from ._store_py import Store

__all__ = ["Reader", "load_frames", "strip_marker", "KeywordCall"]

_MISSING: Any = object()


class Reader:
    """``read(key, default=None)``: a codec's ``get`` over the store in one call.

    ``Reader(source, loads, limit, timed, fallback, sample=16, buffers=False,
    stats=None)``. ``source`` is a store or any ``fetch(key, default)`` callable (a
    backend's ``get``). The item is ``store.get(key, MISSING)`` (a hit or a miss
    counted there), or ``fetch(key, MISSING)``; a miss is ``default``. An exact ``bytes`` item of 1 to ``limit`` bytes starting with a
    zero byte (a codec's raw frame) is ``loads(payload)``, except that every
    ``sample``-th such read (a power of two, else ``ValueError``) calls
    ``timed(payload)`` instead (a load that times itself), or with ``stats`` loads it
    and adds its ``time.perf_counter`` time times ``sample`` to
    ``stats.deserialization_s`` (no ``timed`` call). ``payload`` is the item
    past its first byte: a ``bytes`` copy, or with ``buffers`` (for a ``loads`` that
    takes any read-only buffer, as ``pickle.loads`` and ``msgpack.unpackb`` do) a
    read-only buffer over the stored bytes (no copy). Any other
    item, and a raw frame whose load raises an ``Exception``, is
    ``fallback(key, item, default)``.

    >>> from fbacache._core._store_py import Store
    >>> s = Store("lru"); s.set("a", b"\\x00[1]"); s.set("z", b"\\x01?")
    >>> r = Reader(s, lambda b: bytes(b).decode(), 64, lambda b: "timed",
    ...            lambda k, i, d: ("fb", i), 2, buffers=True)
    >>> r("a"), r("a"), r("z"), r("nope", 0), s.index.misses
    ('[1]', 'timed', ('fb', b'\\x01?'), 0, 1)
    """

    def __init__(self, source: "Store | Callable[[Any, Any], Any]", loads: Callable[[Any], Any],
                 limit: int, timed: Callable[[Any], Any],
                 fallback: Callable[[Hashable, Any, Any], Any], sample: int = 16,
                 buffers: bool = False, stats: Optional[Any] = None) -> None:
        if sample <= 0 or sample & (sample - 1):
            raise ValueError(f"sample must be a power of two, not {sample}")
        from ._store_py import Store

        if isinstance(source, Store):
            self._fetch: Callable[[Any, Any], Any] = source.get
        elif callable(source):
            self._fetch = source
        else:
            raise TypeError(f"a Reader reads a Store or a fetch(key, default) callable, "
                            f"not {type(source).__name__}")
        self.loads = loads
        self.limit = limit
        self.timed = timed
        self.fallback = fallback
        self.buffers = bool(buffers)
        self.stats = stats
        self._mask = sample - 1
        self._ticks = 0

    def __call__(self, key: Hashable, default: Any = None) -> Any:
        item = self._fetch(key, _MISSING)
        if item is _MISSING:
            return default
        if type(item) is bytes and 0 < len(item) <= self.limit and item[0] == 0:
            self._ticks += 1
            try:
                return self._load(memoryview(item)[1:] if self.buffers else item[1:])
            except Exception:
                pass  # unreadable: the fallback decides (and counts it)
        return self.fallback(key, item, default)

    @property
    def method(self) -> Callable[..., Any]:
        """This reader as a method: ``reader.method(key, default)`` is
        ``reader(key, default)``; ``reader.method.__self__`` is the reader."""
        return self.__call__

    def _load(self, payload: Any) -> Any:
        if self._ticks & self._mask:
            return self.loads(payload)
        if self.stats is None:
            return self.timed(payload)
        t0 = time.perf_counter()
        value = self.loads(payload)
        self.stats.deserialization_s += (time.perf_counter() - t0) * (self._mask + 1)
        return value


def load_frames(frames: Mapping[Any, Any], loads: Callable[[Any], Any], limit: int,
                buffers: bool = False) -> tuple[dict[Any, Any], list[tuple[Any, Any]]]:
    """``(values, rest)`` of a batch ``{key: frame}``: the raw frames loaded, in one call.

    A raw frame is what :class:`Reader` loads at once (an exact ``bytes`` of 1 to
    ``limit`` bytes starting with a zero byte); its payload goes to ``loads`` as a
    ``bytes`` copy or, with ``buffers``, as a read-only buffer over the frame.
    ``values`` maps the keys of the raw frames that loaded to their values; ``rest``
    lists ``(key, frame)`` of every other frame and of those whose load raised an
    ``Exception``, in the batch's order, for the caller to decode (and count).

    >>> load_frames({"a": b"\\x00[1]", "z": b"\\x01?", "e": b"\\x00x"},
    ...             lambda p: eval(bytes(p)), 64, buffers=True)
    ({'a': [1]}, [('z', b'\\x01?'), ('e', b'\\x00x')])
    """
    out: dict[Any, Any] = {}
    rest: list[tuple[Any, Any]] = []
    for key, frame in frames.items():
        if type(frame) is bytes and 0 < len(frame) <= limit and frame[0] == 0:
            try:
                out[key] = loads(memoryview(frame)[1:] if buffers else frame[1:])
                continue
            except Exception:
                pass  # unreadable: left to the caller (who counts it)
        rest.append((key, frame))
    return out, rest


def strip_marker(keys: Iterable[Any], raws: Iterable[Any],
                 marker: int = 0) -> tuple[dict[Any, bytes], int, list[tuple[Any, Any]]]:
    """``(items, misses, rest)`` of a batch of replies zipped with their keys, in one call.

    ``items`` maps each key whose reply is an exact ``bytes`` starting with the byte
    ``marker`` to the reply past that byte (a copy); ``misses`` counts the None replies;
    ``rest`` lists ``(key, reply)`` of every other reply, in order, for the caller.

    >>> strip_marker(["a", "b", "c"], [b"\\x00v", None, b"\\x01m"])
    ({'a': b'v'}, 1, [('c', b'\\x01m')])
    """
    out: dict[Any, bytes] = {}
    rest: list[tuple[Any, Any]] = []
    misses = 0
    for key, raw in zip(keys, raws):
        if raw is None:
            misses += 1
        elif type(raw) is bytes and raw and raw[0] == marker:
            out[key] = raw[1:]
        else:
            rest.append((key, raw))
    return out, misses, rest


class KeywordCall:
    """``KeywordCall(func, **keywords)(arg)`` is ``func(arg, **keywords)``.

    What ``functools.partial(func, **keywords)`` does for a one-argument call, in
    the compiled core without building a dict of the keywords at each call (it
    passes them by vectorcall with their names). At most 7 keywords (``ValueError``).

    >>> KeywordCall(int, base=2)("101"), KeywordCall(int, base=2).keywords
    (5, {'base': 2})
    """

    def __init__(self, func: Callable[..., Any], **keywords: Any) -> None:
        if len(keywords) > 7:
            raise ValueError("at most 7 keywords")
        self.func = func
        self._keywords = keywords

    @property
    def keywords(self) -> dict[str, Any]:
        """The fixed keywords, as a new dict."""
        return dict(self._keywords)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **self._keywords, **kwargs)

    def __repr__(self) -> str:
        return f"KeywordCall({self.func!r}, **{self._keywords!r})"
