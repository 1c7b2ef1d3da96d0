"""Serializers: values to bytes and back (pickle, msgpack, JSON), by name in :data:`SERIALIZERS`.

msgpack is imported on first use (the ``msgpack`` extra).
"""
from __future__ import annotations

import json
import pickle
from typing import Any, Callable, cast

from fbacache._optional import require

__all__ = ["Serializer", "PickleSerializer", "MsgpackSerializer", "JsonSerializer", "SERIALIZERS"]


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

    def loads_buffers(self) -> bool:
        """True when :meth:`direct_loads` takes any read-only buffer (not only ``bytes``),
        so a reader can lend it the stored bytes without copying them."""
        return False

    def loads_msgpack(self) -> bool:
        """True when :meth:`direct_loads` is msgpack's ``unpackb`` (with any options): then
        ``loads`` of a msgpack array of whole objects is the list of their values, and a
        batch is loaded in one call (:func:`fbacache._core.load_replies`)."""
        return False


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

    def loads_buffers(self) -> bool:
        """``pickle.loads`` reads any bytes-like object (a subclass's ``loads`` may not)."""
        return type(self).loads is PickleSerializer.loads


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
        """``msgpack.unpackb`` with the same options, called without a Python frame (and
        without the dict of keywords ``functools.partial`` builds at each call)."""
        if type(self).loads is not MsgpackSerializer.loads:
            return self.loads
        from fbacache._core import KeywordCall

        return cast(Callable[[bytes], Any],
                    KeywordCall(self._unpackb, raw=False, strict_map_key=False))

    def loads_buffers(self) -> bool:
        """``msgpack.unpackb`` reads any bytes-like object (a subclass's ``loads`` may not)."""
        return type(self).loads is MsgpackSerializer.loads

    def loads_msgpack(self) -> bool:
        """``msgpack.unpackb`` itself unless a subclass overrides ``loads``."""
        return type(self).loads is MsgpackSerializer.loads


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
