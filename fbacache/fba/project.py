"""Fast path of ``validate`` for amazon entries: decode only the keys the schema check reads.

An amazon entry is ~6 KB of JSON of which :func:`~fbacache.fba.schemas.check_amazon`
reads a dozen scalars and the *type* of two nested values; building every string and
dict of the rest costs most of a validation. With msgspec (the ``fast`` extra) a typed
decoder builds only those keys and checks the syntax of everything else without
building it.

Most entries are clean, so ``validate`` first asks :func:`amazon_clean`, which runs the
whole check as msgspec's validation of a type only a clean entry fits (no dict, no
message, one regular-expression match of the file name in Python). Only when it says
no does :func:`amazon_view` build the keys the check reads, to name what is wrong.

The verdict must be the stdlib parser's (the sdist's ``docs/maintain.md``), so both
answer only when they can vouch for that; :func:`amazon_view` returns ``None`` and
:func:`amazon_clean` ``False`` (the caller then parses in full, as before) for anything
unusual:

* bytes that are not UTF-8: msgspec skips strings without decoding them, the stdlib
  refuses the file;
* a run of more digits than ``sys.get_int_max_str_digits()``: the stdlib refuses such an
  integer, msgspec skips it;
* anything msgspec refuses (NaN literals, lone surrogates, ints beyond 64 bits, a
  top-level value that is not an object, a ``keepa`` that is not an object or null...);
* a ``product_details_tab_data`` that is neither an object nor null (the check names its
  type in the message).

Whatever is returned maps each of :data:`AMAZON_KEYS` to the value ``json.loads`` gives
(``None`` when absent: the check reads them with ``.get``), and ``keepa`` to the keys of
:data:`KEEPA_KEYS` it has (``product_details_tab_data`` as ``{}`` when it is an object,
which is all the check looks at). The sdist's ``tests/fba/test_validate_stream.py`` holds the
check's results on the view equal to those on the full document, for generated and
hostile inputs.

Example:
    >>> v = amazon_view(b'{"asin": "B000000001", "title": "x", "keepa": {"status": "ok",'
    ...                 b' "product_details_tab_data": {"a": [1, 2]}}, "other": [true]}')
    >>> v if v is None else (v["asin"], v["rating"], v["keepa"])  # None only without msgspec
    ('B000000001', None, {'status': 'ok', 'product_details_tab_data': {}})
    >>> amazon_view(b'{"asin": "d\\xe9sk"}') is None  # cp1252 bytes: the stdlib decides
    True
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from fbacache.fba.schemas import _AMAZON_NAME, _ASIN, _NUM_KEYS

__all__ = ["AMAZON_KEYS", "KEEPA_KEYS", "amazon_view", "amazon_clean"]

#: Top-level keys of an amazon entry that ``check_amazon`` reads.
AMAZON_KEYS = ("asin", "asin_queried", "title", "current_price", "original_price", "rating",
               "review_count", "sales_rank", "keepa")
#: Keys of its ``keepa`` object that ``check_amazon`` reads.
KEEPA_KEYS = ("status", "product_details_tab_data")

_DIGIT_MIN, _DIGIT_MAX = ord("0"), ord("9")
_max_digits = getattr(sys, "get_int_max_str_digits", None)  # 3.11+ (and patched 3.7-3.10)


Decoder = tuple[Callable[[bytes], Any], Any, Callable[[Any], dict[str, Any]],
                Callable[[bytes], Any]]


def _build() -> Optional[Decoder]:
    import os
    if os.environ.get("FBACACHE_JSON") == "stdlib":
        return None
    try:
        import msgspec
    except ImportError:
        return None
    unset = msgspec.UNSET
    # keepa: an object (decoded to these two keys) or null; any other type fails the decode
    keepa_ns: dict[str, Any] = {"__annotations__": {"status": Any,
                                                     "product_details_tab_data": msgspec.Raw}}
    keepa_ns.update(status=unset, product_details_tab_data=unset)
    keepa_t = type("_Keepa", (msgspec.Struct,), keepa_ns)
    ann: dict[str, Any] = {k: Any for k in AMAZON_KEYS}
    ann["keepa"] = Optional[keepa_t]
    # top-level keys default to None: the check reads each with .get(), so an absent key
    # and a null one are the same to it (not so inside keepa: a null status is an error)
    ns: dict[str, Any] = {"__annotations__": ann}
    ns.update({k: None for k in AMAZON_KEYS})
    entry_t = type("_Amazon", (msgspec.Struct,), ns)
    return (msgspec.json.Decoder(entry_t).decode, unset, msgspec.structs.asdict,
            msgspec.json.Decoder(_clean_type(msgspec)).decode)


def _clean_type(msgspec: Any) -> Any:
    """The type only a clean entry decodes to (see :func:`amazon_clean`): the rules of
    ``check_amazon`` as msgspec constraints, so the check runs inside the decoder."""
    from typing import Annotated, Union
    meta = msgspec.Meta
    number = Union[int, float, None]  # msgspec's int and float never take a JSON bool
    obj = msgspec.defstruct("_Object", [], gc=False)  # any object, its content skipped
    keepa = msgspec.defstruct("_CleanKeepa", [("status", str, ""),
                                              ("product_details_tab_data", Optional[obj], None)],
                              gc=False)
    # the ASIN is `asin or asin_queried` (Python truth, any JSON type): both taken as they
    # are (a string, in any entry worth the name) and checked in Python
    return msgspec.defstruct("_CleanAmazon", [
        ("title", Annotated[str, meta(min_length=1)]),
        ("keepa", keepa),
        ("asin", Any, None), ("asin_queried", Any, None),
        *((k, number, None) for k in _NUM_KEYS)], gc=False)


_UNSET: Any = object()
_DECODER: Any = _UNSET  # built on first use (importing msgspec is not free)


def _long_digit_run(raw: bytes, limit: int) -> bool:
    # every run of more than `limit` digits covers a position that is a multiple of `limit`,
    # so only those positions are looked at (two for a 6 KB file)
    n = len(raw)
    for p in range(0, n, limit):
        c = raw[p]
        if _DIGIT_MIN <= c <= _DIGIT_MAX:
            lo = p
            while lo > 0 and _DIGIT_MIN <= raw[lo - 1] <= _DIGIT_MAX and p - lo <= limit:
                lo -= 1
            hi = p
            while hi < n and _DIGIT_MIN <= raw[hi] <= _DIGIT_MAX and hi - lo <= limit:
                hi += 1
            if hi - lo > limit:
                return True
    return False


def _stdlib_text(raw: bytes) -> bool:
    """Whether msgspec may judge ``raw``: it is there, and ``raw`` is UTF-8 without a digit
    run the stdlib would refuse to convert (msgspec skips both unchecked)."""
    global _DECODER
    if _DECODER is _UNSET:
        _DECODER = _build()
    if _DECODER is None:
        return False
    try:  # no isascii() first: real entries all hold non-ASCII text (keepa's column names)
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    limit = _max_digits() if _max_digits is not None else 0
    return not (limit and len(raw) > limit and _long_digit_run(raw, limit))


def amazon_clean(raw: bytes, name: str) -> bool:
    """True only if the stdlib parses ``raw`` and ``check_amazon(doc, name)`` is ``([], [])``.

    The check runs as msgspec's validation of a type only a clean entry fits (a non-empty
    ``title``, numbers or null in the five number keys, a ``keepa`` object whose
    ``status``, if there, is a string and whose ``product_details_tab_data`` is an object
    or null); only the ASIN (``asin or asin_queried``, matching ``[A-Z0-9]{10}``) and the
    file name's ASIN are checked in Python. ``False`` claims nothing: the caller then judges ``raw`` as
    before (:func:`amazon_view`, else the full parse). For an entry of ordinary JSON
    (integers, finite floats, nesting far from the recursion limit) the answer is exactly
    whether the check is empty (the sdist's ``tests/fba/test_validate_stream.py``).

    Example:
        >>> ok = b'{"asin": "B000000001", "title": "x", "keepa": {"status": "done"}}'
        >>> amazon_clean(ok, "amazon_B000000001_1.json") or _DECODER is None
        True
        >>> amazon_clean(ok, "amazon_B000000002_1.json")  # the name names another ASIN
        False
    """
    if not _stdlib_text(raw):
        return False
    try:
        entry = _DECODER[3](raw)
    except Exception:  # noqa: BLE001 - not clean, or not msgspec's to judge
        return False
    asin = entry.asin or entry.asin_queried
    if type(asin) is not str or not _ASIN.match(asin):
        return False
    m = _AMAZON_NAME.match(name)
    if m is None:
        return True
    named = m.group(1)
    # the asin matched [A-Z0-9]{10}: it is its own upper case
    return named.upper() == asin or entry.asin_queried == named


def amazon_view(raw: bytes) -> Optional[dict[str, Any]]:
    """The keys of an amazon entry that its schema check reads, or ``None`` (parse in full).

    ``raw`` is the whole file, already known not to be empty and not to start with a BOM.
    """
    if not _stdlib_text(raw):
        return None
    decode, unset, asdict, _ = _DECODER
    try:
        entry = decode(raw)
    except Exception:  # noqa: BLE001 - any refusal: the full parse gives the verdict
        return None
    view: dict[str, Any] = asdict(entry)
    keepa = view["keepa"]
    if keepa is not None:
        k: dict[str, Any] = {}
        if keepa.status is not unset:
            k["status"] = keepa.status
        pdt = keepa.product_details_tab_data
        if pdt is not unset:
            m = memoryview(pdt)  # the value's own bytes, never copied in full
            if bytes(m[:1]) == b"{":
                k["product_details_tab_data"] = {}
            elif len(m) == 4 and bytes(m) == b"null":
                k["product_details_tab_data"] = None
            else:
                return None
        view["keepa"] = k
    return view
