"""Deterministic cache keys: the same inputs give the same key in every process.

Nothing here uses ``hash()`` (randomized per process by PYTHONHASHSEED); long
keys are shortened with SHA-256.
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import re
from typing import Any, Callable, Mapping, Optional
from urllib.parse import quote

__all__ = ["generate_cache_key", "canonical_bytes", "compile_pattern", "MAX_KEY_LENGTH"]

MAX_KEY_LENGTH = 250
HASH_CHARS = 32  # hex characters of the SHA-256 digest kept in hashed keys (128 bits)


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)  # true/false/null, stable float repr
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return canonical_bytes(value).decode("utf-8")
    return str(value)


def generate_cache_key(endpoint: str, params: Optional[Mapping[str, Any]] = None,
                       max_length: int = MAX_KEY_LENGTH) -> str:
    """Key for ``endpoint`` called with ``params``: ``endpoint|k=v&k2=v2``.

    Parameters are sorted by name; names and values are percent-encoded so a
    value containing ``&`` or ``=`` cannot collide with another parameter set.
    Scalars print as JSON (``true``, ``null``, ``1.5``), containers in canonical
    JSON. A key longer than ``max_length`` becomes
    ``endpoint|hash:<first 32 hex chars of sha256>``.

    >>> generate_cache_key("/items", {"page": 2, "q": "a b"})
    '/items|page=2&q=a%20b'
    >>> generate_cache_key("/items", {"q": "a b", "page": 2}) == generate_cache_key(
    ...     "/items", {"page": 2, "q": "a b"})
    True
    >>> generate_cache_key("/x", {"q": "y" * 300})
    '/x|hash:b0f1daad56fcb5071851142d46c0d445'
    """
    if not isinstance(endpoint, str):
        raise TypeError("endpoint must be a str")
    items = sorted((str(k), _param_text(v)) for k, v in (params or {}).items())
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)
    key = f"{endpoint}|{query}"
    if len(key) <= max_length:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{endpoint}|hash:{digest}"


def _canon(obj: Any) -> Any:
    """A JSON-able, type-tagged, order-independent form of ``obj``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return {"i": str(obj)}  # tagged so 1 != "1" and 1 != 1.0 != True
    if isinstance(obj, float):
        return {"f": repr(obj)}
    if isinstance(obj, bytes):
        return {"b": obj.hex()}
    if isinstance(obj, (list, tuple)):
        return {"l" if isinstance(obj, list) else "t": [_canon(x) for x in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"s": sorted(json.dumps(_canon(x), sort_keys=True) for x in obj)}
    if isinstance(obj, Mapping):
        pairs = sorted((json.dumps(_canon(k), sort_keys=True), _canon(v)) for k, v in obj.items())
        return {"d": pairs}
    # Objects without a canonical form: type-qualified repr (deterministic when
    # repr is; objects whose repr embeds an address should define __repr__).
    t = type(obj)
    return {"o": f"{t.__module__}.{t.__qualname__}", "r": repr(obj)}


def canonical_bytes(obj: Any) -> bytes:
    """Deterministic, collision-resistant encoding of nested arguments.

    Types are tagged (``1``, ``1.0``, ``True`` and ``"1"`` differ), sequences
    keep their boundaries (``(1, 23)`` != ``(12, 3)``) and dicts/sets are
    order-independent. Used for decorator keys.

    >>> canonical_bytes((1, 23)) != canonical_bytes((12, 3))
    True
    >>> canonical_bytes({"b": 1, "a": [1]}) == canonical_bytes({"a": [1], "b": 1})
    True
    """
    return json.dumps(_canon(obj), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Callable[[str], Any]:
    """Compiled matcher for a glob ``pattern`` (``*``, ``?``, ``[abc]``), case-sensitive.

    >>> m = compile_pattern("user:*:profile"); bool(m("user:42:profile")), bool(m("user:42"))
    (True, False)
    """
    return re.compile(fnmatch.translate(pattern)).match
