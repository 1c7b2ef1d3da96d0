"""Deterministic cache keys: the same inputs give the same key in every process.

Nothing here uses ``hash()`` (randomized per process by PYTHONHASHSEED); long
keys are shortened with SHA-256.  The in-process call keys of cachetools
(``hashkey``, ``methodkey``, ``typedkey``, ``typedmethodkey``) are defined in
``fbacache._callkeys`` and importable from here, as from ``cachetools.keys``.
"""
from __future__ import annotations

import dataclasses
import enum
import fnmatch
import functools
import hashlib
import inspect
import json
import re
from collections import abc
from typing import Any, Callable, Mapping, Optional
from urllib.parse import quote

from fbacache._callkeys import CallKey, hashkey, methodkey, typedkey, typedmethodkey

__all__ = ["generate_cache_key", "canonical_bytes", "compile_pattern", "MAX_KEY_LENGTH",
           "argument_form", "form_digest", "fixed_form", "KeyPlan", "key_plan", "make_key",
           "memo_key", "remember", "MEMO_TYPES",
           "CallKey", "hashkey", "methodkey", "typedkey", "typedmethodkey"]

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


# --------------------------------------------------------------------------- decorator keys
# ``@cached`` keys: the SHA-256 of the canonical JSON of the bound arguments,
# ``[["name", <form>], ...]`` where ``argument_form`` gives each value's form.
# Two encoders produce that JSON: the general one (``argument_form`` + json),
# and ``_text``, which writes the same bytes directly for the simple types
# (str, int, float, bool, None, bytes, tuples and lists of those) about ten
# times faster. The sdist's tests/decorators/test_cached_keys.py checks they agree.

_SEQ_TAGS: dict[type, str] = {list: "l", tuple: "t"}  # exact types; subclasses keep their name


def _qualname(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def argument_form(obj: Any) -> Any:
    """JSON-able, type-tagged form of a decorated function's argument.

    Raises TypeError for an object whose only repr holds a memory address.

    >>> argument_form(1), argument_form(1.0), argument_form(True), argument_form((1, "a"))
    ({'i': '1'}, {'f': '1.0'}, True, {'t': [{'i': '1'}, 'a']})
    """
    if obj is None or isinstance(obj, bool) or type(obj) is str:
        return obj
    t = type(obj)
    if t is int:
        return {"i": str(obj)}
    if t is float:
        return {"f": repr(obj)}
    if t is bytes:
        return {"b": obj.hex()}
    if isinstance(obj, enum.Enum):
        return {"e": _qualname(t), "n": obj.name}
    hook = getattr(obj, "__cache_key__", None)
    if hook is not None and callable(hook) and not isinstance(obj, type):
        return {"k": _qualname(t), "v": argument_form(hook())}
    if isinstance(obj, (list, tuple)):
        tag = _SEQ_TAGS.get(t)
        items = [argument_form(x) for x in obj]
        return {tag: items} if tag else {"seq": _qualname(t), "v": items}
    if isinstance(obj, (set, frozenset)):
        return {"fs" if isinstance(obj, frozenset) else "s":
                sorted(json.dumps(argument_form(x), sort_keys=True) for x in obj)}
    if isinstance(obj, abc.Mapping):  # not typing.Mapping: its isinstance is much slower
        pairs = sorted((json.dumps(argument_form(k), sort_keys=True), argument_form(v))
                       for k, v in obj.items())
        return {"d": pairs} if t is dict else {"map": _qualname(t), "v": pairs}
    if isinstance(obj, type):
        return {"T": _qualname(obj)}
    if dataclasses.is_dataclass(obj):
        return {"dc": _qualname(t), "v": [[f.name, argument_form(getattr(obj, f.name))]
                                          for f in dataclasses.fields(obj)]}
    if isinstance(obj, (str, int, float, bytes)):  # subclasses: value plus type
        return {"sub": _qualname(t), "v": argument_form(t.__mro__[-2](obj))}
    # on a class, __repr__ is the plain function: mypy types it as bound
    if t.__repr__ is object.__repr__:  # type: ignore[comparison-overlap]
        raise TypeError(
            f"cannot build a cache key from a {_qualname(t)} argument: its repr holds a "
            "memory address; give the class __repr__ or __cache_key__(), or pass key=...")
    return {"o": _qualname(t), "r": repr(obj)}


_json_text = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_json_str = json.encoder.encode_basestring  # what _json_text uses for str (ensure_ascii=False)
_sha256 = hashlib.sha256


def _hex(text: str) -> str:
    return _sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def form_digest(form: Any) -> str:
    """First 128 bits (32 hex chars) of the SHA-256 of the canonical JSON of ``form``.

    >>> form_digest([["a", argument_form(1)]])
    '19d238fb6b8ae889cd944fb75357aa1d'
    """
    return _hex(_json_text(form))


def _text(v: Any) -> Optional[str]:
    """``_json_text(argument_form(v))`` for the simple types; None for any other."""
    t = type(v)
    if t is str:
        return _json_str(v)
    if t is int:
        return f'{{"i":"{v}"}}'  # int.__format__ is str(): digits and "-", nothing to escape
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return f'{{"f":"{v!r}"}}'  # repr: digits, ".", "e", "+", "-", "inf", "nan"
    if t is tuple or t is list:
        parts = [_text(x) for x in v]
        if None in parts:
            return None
        # None was ruled out just above; mypy cannot narrow the items of a list
        body = ",".join(parts)  # type: ignore[arg-type]
        return ('{"t":[' if t is tuple else '{"l":[') + body + "]}"
    if t is bytes:
        return f'{{"b":"{v.hex()}"}}'
    return None


def _immutable(v: Any) -> bool:
    return type(v) is not list and (type(v) is not tuple or all(map(_immutable, v)))


def fixed_form(value: Any) -> bool:
    """True when ``value`` is of the simple types (str, int, float, bool, None, bytes,
    tuples of those) whose key form can never change (a list can be mutated).

    >>> fixed_form((1, "a", None)), fixed_form((1, [2])), fixed_form({})
    (True, False, False)
    """
    return _immutable(value) and _text(value) is not None


_EMPTY = inspect.Parameter.empty


class KeyPlan:
    """What key building needs about a signature whose parameters are all
    positional-or-keyword, computed once per decorated function.

    ``digest(args, kwargs, offset)`` is ``form_digest`` of the bound call's form
    (``offset`` leading parameters, e.g. ``self``, are bound but not encoded),
    or None when the call is not simple (then bind with inspect).
    """

    __slots__ = ("names", "defaults", "_heads", "_templates")

    def __init__(self, signature: inspect.Signature) -> None:
        params = list(signature.parameters.values())
        if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
            raise ValueError("KeyPlan needs positional-or-keyword parameters only")
        self.names = tuple(p.name for p in params)
        self.defaults = tuple(p.default for p in params)
        self._heads = tuple(f"[{_json_str(name)}," for name in self.names)
        # tails[k]: the encoded defaults of parameters k.. (None when one is missing,
        # not simple, or mutable: a list default can change between calls).
        tails: list[Optional[str]] = []
        for k in range(len(params) + 1):
            texts = [_text(d) if d is not _EMPTY and _immutable(d) else None
                     for d in self.defaults[k:]]  # None: not fixed_form
            tails.append(None if None in texts else
                         ",".join(h + t + "]" for h, t in zip(self._heads[k:], texts)))  # type: ignore[operator]
        # _templates[offset][n]: the whole JSON text of a call with n positional
        # arguments after ``offset`` bound ones, with a %s per argument; None when
        # the defaults of the remaining parameters cannot be precomputed.
        templates = []
        for offset in (0, 1):
            row: list[Optional[str]] = []
            for n in range(len(params) - offset + 1):  # none for (self) on ()
                tail = tails[offset + n]
                if tail is None:
                    row.append(None)
                    continue
                parts = [h.replace("%", "%%") + "%s]" for h in self._heads[offset:offset + n]]
                if tail:
                    parts.append(tail.replace("%", "%%"))
                row.append("[" + ",".join(parts) + "]")
            templates.append(tuple(row))
        self._templates = tuple(templates)

    def bind(self, args: tuple, kwargs: dict) -> Optional[list[tuple[str, Any]]]:
        """What ``bind`` + ``apply_defaults`` give; None: let inspect bind (and raise)."""
        names, defaults = self.names, self.defaults
        n = len(args)
        if n > len(names):
            return None
        items = list(zip(names, args))
        used = 0
        for name, default in zip(names[n:], defaults[n:]):
            if name in kwargs:
                items.append((name, kwargs[name]))
                used += 1
            elif default is _EMPTY:
                return None
            else:
                items.append((name, default))
        return items if used == len(kwargs) else None

    def digest(self, args: tuple, kwargs: dict, offset: int = 0) -> Optional[str]:
        """Digest of the call ``f(<offset bound values>, *args, **kwargs)`` for simple
        argument values, else None."""
        if not kwargs:
            row = self._templates[offset]
            if len(args) >= len(row):
                return None
            template = row[len(args)]
            texts = tuple(map(_text, args))
            if template is None or None in texts:
                return None
            return _hex(template % texts)
        heads = self._heads
        items = self.bind((None,) * offset + args, kwargs)
        if items is None:
            return None
        parts = []
        for head, (_, value) in zip(heads[offset:], items[offset:]):
            text = _text(value)
            if text is None:
                return None
            parts.append(head + text + "]")
        return _hex("[" + ",".join(parts) + "]")


def key_plan(signature: inspect.Signature) -> Optional[KeyPlan]:
    """A :class:`KeyPlan` when every parameter is positional-or-keyword, else None."""
    try:
        return KeyPlan(signature)
    except ValueError:
        return None


def make_key(prefix: str, signature: inspect.Signature, args: tuple, kwargs: dict,
             skip_first: bool = False, simple: Optional[KeyPlan] = None) -> str:
    """``<prefix>:<digest>`` of a call bound to ``signature`` (defaults applied).

    ``skip_first`` leaves the first bound argument (``self``) out of the digest;
    ``simple`` is the signature's :func:`key_plan` (optional: it only makes the
    common calls cheaper, the key is the same). Raises TypeError when the
    arguments do not bind, or one of them has no stable form.

    >>> import inspect
    >>> sig = inspect.signature(lambda a, b=2: None)
    >>> make_key("f", sig, (1,), {}) == make_key("f", sig, (), {"a": 1, "b": 2})
    True
    >>> make_key("f", sig, (1, 23), {}) != make_key("f", sig, (12, 3), {})
    True
    """
    if simple is not None and (args or not skip_first):
        digest = simple.digest(args[1:], kwargs, 1) if skip_first else simple.digest(args, kwargs)
        if digest is not None:
            return f"{prefix}:{digest}"
    items = simple.bind(args, kwargs) if simple is not None else None
    if items is None:  # general signatures, and errors reported by bind itself
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        items = list(bound.arguments.items())
    if skip_first:
        items = items[1:]
    if simple is not None:
        return f"{prefix}:{form_digest([[name, argument_form(value)] for name, value in items])}"
    form = []
    for name, value in items:
        if signature.parameters[name].kind is inspect.Parameter.VAR_POSITIONAL:
            form.append([name, {"l": [argument_form(v) for v in value]}])
        else:
            form.append([name, argument_form(value)])
    return f"{prefix}:{form_digest(form)}"


# --------------------------------------------------------------------------- key memo
# Key memo (per decorated function): calls whose arguments are all of these types
# map (argument types, arguments[, keyword names]) to their key (methods: digest)
# without encoding or hashing.
# Within one of these types, equal values have equal canonical forms, except
# 0.0 == -0.0 (floats equal to zero are never remembered); the types in the memo key
# keep 1, 1.0 and True apart. Python's hash() only serves this in-process lookup.
MEMO_TYPES = frozenset({str, int, float, bool, type(None), bytes})
_MEMO_SIZE = 1024  # entries per function; the memo is emptied when full
_MEMO_CHARS = 256  # arguments with more str/bytes characters are not remembered


def memo_key(args: tuple, kwargs: dict) -> Optional[tuple]:
    """The key memo's key for a call: (types, values) for positional calls, (types,
    values, keyword names) otherwise; None when an argument is not of MEMO_TYPES.

    >>> memo_key((1, "a"), {}) != memo_key((1.0, "a"), {}), memo_key(([1],), {})
    (True, None)
    """
    values = (*args, *kwargs.values()) if kwargs else args
    # type(x) in bytecode is specialised; map(type, ...) is a generic call per
    # item (3x slower for the usual one to three arguments).
    n = len(values)
    if n == 1:
        types: tuple[type, ...] = (type(values[0]),)
    elif n == 2:
        types = (type(values[0]), type(values[1]))
    elif n == 3:
        types = (type(values[0]), type(values[1]), type(values[2]))
    else:
        types = tuple(map(type, values))
    if not MEMO_TYPES.issuperset(types):
        if tuple not in types:
            return None
        types = tuple(map(_shape, values))  # (1,) and (1.0,) are equal: their shapes differ
        if None in types:
            return None
    return (types, values, tuple(kwargs)) if kwargs else (types, values)


def _shape(value: Any) -> Any:
    """The type of a value of MEMO_TYPES, the tuple of the items' shapes for a
    tuple, None for anything else."""
    t = type(value)
    if t is tuple:
        shapes = tuple(map(_shape, value))
        return None if None in shapes else shapes
    return t if t in MEMO_TYPES else None


def _leaves(values: tuple) -> list:
    out: list = []
    for v in values:
        if type(v) is tuple:
            out.extend(_leaves(v))
        else:
            out.append(v)
    return out


def remember(memo: dict, memo_key: tuple, value: str) -> None:
    """Store ``value`` in ``memo`` under ``memo_key`` unless a float is zero (0.0 == -0.0, but their
    keys differ) or the strs and bytes are long (the memo would keep them alive)."""
    types, values = memo_key[0], memo_key[1]
    if any(type(t) is tuple for t in types):
        values = _leaves(values)
        types = tuple(map(type, values))
    if float in types and 0.0 in [a for a in values if type(a) is float]:
        return
    if (str in types or bytes in types) and sum(
            [len(a) for a in values if type(a) is str or type(a) is bytes]) > _MEMO_CHARS:
        return
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[memo_key] = value
