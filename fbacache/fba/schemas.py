"""Schema checks for the REAL formats of each FBA cache type.

Each checker takes a parsed document and returns ``(errors, warnings)``.
Errors make a file invalid (the FBA system would misread it); warnings flag
oddities the system tolerates (a product with no EAN and no URL can never be
marked processed, an amazon file whose name names another ASIN...).

Example:
    >>> check_document("linking_map", [{"supplier_product_identifier": "EAN_1",
    ...     "chosen_amazon_asin": "B000000001"}])
    ([], [])
    >>> check_document("supplier_cache", {"not": "a list"})[0]
    ['expected a JSON list of supplier products, got object']
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional

from fbacache.fba.rules import product_identifier

__all__ = ["check_document", "check_amazon", "CHECKERS", "MAX_ITEM_MESSAGES"]

#: At most this many per-item messages are listed; the rest are summarised.
MAX_ITEM_MESSAGES = 10

_ASIN = re.compile(r"[A-Z0-9]{10}\Z")
_AMAZON_NAME = re.compile(r"amazon_([A-Za-z0-9]{10})(?:_.*)?\.json\Z")
_TYPE_NAMES = {dict: "object", list: "list", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}

Result = tuple[list[str], list[str]]


def _tname(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Collector:
    """Caps per-item messages so a 50k-record file yields a readable report."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._dropped = {"error": 0, "warning": 0}

    def add(self, level: str, msg: str, item: bool = True) -> None:
        target = self.errors if level == "error" else self.warnings
        if item and len(target) >= MAX_ITEM_MESSAGES:
            self._dropped[level] += 1
            return
        target.append(msg)

    def result(self) -> Result:
        if self._dropped["error"]:
            self.errors.append(f"... and {self._dropped['error']} more errors")
        if self._dropped["warning"]:
            self.warnings.append(f"... and {self._dropped['warning']} more warnings")
        return self.errors, self.warnings


def check_supplier(doc: Any, name: str = "") -> Result:
    """A supplier cache: a list of product objects with at least a title and a url or ean."""
    c = _Collector()
    if not isinstance(doc, list):
        c.add("error", f"expected a JSON list of supplier products, got {_tname(doc)}", False)
        return c.result()
    for i, p in enumerate(doc):
        if not isinstance(p, dict):
            c.add("error", f"[{i}]: expected a product object, got {_tname(p)}")
            continue
        if not isinstance(p.get("title"), str):
            c.add("error", f"[{i}].title: expected a string, got {_tname(p.get('title'))}")
        for key in ("url", "image_url", "source_supplier", "source_category_url",
                    "extraction_timestamp"):
            if key in p and p[key] is not None and not isinstance(p[key], str):
                c.add("error", f"[{i}].{key}: expected a string, got {_tname(p[key])}")
        for key in ("ean", "upc", "sku"):
            if key in p and p[key] is not None and not isinstance(p[key], (str, int)):
                c.add("error", f"[{i}].{key}: expected a string or null, got {_tname(p[key])}")
        if "price" in p and p["price"] is not None and not _is_num(p["price"]):
            c.add("error", f"[{i}].price: expected a number, got {_tname(p['price'])}")
        if product_identifier(p) is None:
            c.add("warning", f"[{i}]: no ean and no url, so it can never be marked processed")
    return c.result()


def check_amazon(doc: Any, name: str = "") -> Result:
    """An amazon entry: an object with an ASIN, a title and a ``keepa`` section."""
    c = _Collector()
    if not isinstance(doc, dict):
        c.add("error", f"expected a JSON object (amazon entry), got {_tname(doc)}", False)
        return c.result()
    asin = doc.get("asin") or doc.get("asin_queried")
    if not isinstance(asin, str) or not asin:
        c.add("error", "asin: missing or not a string", False)
    elif not _ASIN.match(asin):
        c.add("warning", f"asin: {asin!r} is not a 10-character ASIN", False)
    if "title" in doc and doc["title"] is not None and not isinstance(doc["title"], str):
        c.add("error", f"title: expected a string, got {_tname(doc['title'])}", False)
    elif not doc.get("title"):
        c.add("warning", "title: missing or empty", False)
    for key in _NUM_KEYS:
        if key in doc and doc[key] is not None and not _is_num(doc[key]):
            c.add("warning", f"{key}: expected a number, got {_tname(doc[key])}", False)
    keepa = doc.get("keepa")
    if keepa is None:
        c.add("warning", "keepa: missing (counts as a failed extraction)", False)
    elif not isinstance(keepa, dict):
        c.add("error", f"keepa: expected an object, got {_tname(keepa)}", False)
    else:
        if "status" in keepa and not isinstance(keepa["status"], str):
            c.add("error", f"keepa.status: expected a string, got {_tname(keepa['status'])}", False)
        pdt = keepa.get("product_details_tab_data")
        if pdt is not None and not isinstance(pdt, dict):
            c.add("error", f"keepa.product_details_tab_data: expected an object, "
                           f"got {_tname(pdt)}", False)
    m = _AMAZON_NAME.match(name)
    if m and isinstance(asin, str) and m.group(1).upper() != asin.upper() \
            and doc.get("asin_queried") != m.group(1):
        c.add("warning", f"file name names ASIN {m.group(1)} but the entry holds {asin}", False)
    return c.result()


_NUM_KEYS = ("current_price", "original_price", "rating", "review_count", "sales_rank")


def check_linking_map(doc: Any, name: str = "") -> Result:
    """The linking map: an append-only list of link records."""
    c = _Collector()
    if not isinstance(doc, list):
        c.add("error", f"expected a JSON list of link records, got {_tname(doc)}", False)
        return c.result()
    for i, r in enumerate(doc):
        if not isinstance(r, dict):
            c.add("error", f"[{i}]: expected a link record object, got {_tname(r)}")
            continue
        ident = r.get("supplier_product_identifier")
        if not isinstance(ident, str) or not ident:
            c.add("error", f"[{i}].supplier_product_identifier: missing or not a string")
        elif not ident.startswith(("EAN_", "URL_")):
            c.add("warning", f"[{i}].supplier_product_identifier: {ident[:40]!r} "
                             f"does not start with EAN_ or URL_")
        if not isinstance(r.get("chosen_amazon_asin"), str):
            c.add("error", f"[{i}].chosen_amazon_asin: missing or not a string")
        for key in ("supplier_title_snippet", "amazon_title_snippet", "match_method"):
            if key in r and r[key] is not None and not isinstance(r[key], str):
                c.add("warning", f"[{i}].{key}: expected a string, got {_tname(r[key])}")
    return c.result()


def check_ai_category(doc: Any, name: str = "") -> Result:
    """An ai category cache: one object per supplier with its suggestion history."""
    c = _Collector()
    if not isinstance(doc, dict):
        c.add("error", f"expected a JSON object (ai category cache), got {_tname(doc)}", False)
        return c.result()
    for key in ("supplier", "url", "created", "last_updated"):
        if key not in doc:
            c.add("error", f"{key}: missing", False)
        elif not isinstance(doc[key], str):
            c.add("error", f"{key}: expected a string, got {_tname(doc[key])}", False)
    calls = doc.get("total_ai_calls")
    if calls is None:
        c.add("warning", "total_ai_calls: missing", False)
    elif not isinstance(calls, int) or isinstance(calls, bool) or calls < 0:
        c.add("error", f"total_ai_calls: expected a count, got {calls!r}", False)
    hist = doc.get("ai_suggestion_history")
    if not isinstance(hist, list):
        c.add("error", f"ai_suggestion_history: expected a list, got {_tname(hist)}", False)
    else:
        for i, h in enumerate(hist):
            if not isinstance(h, dict):
                c.add("error", f"ai_suggestion_history[{i}]: expected an object, got {_tname(h)}")
            elif not isinstance(h.get("timestamp"), str):
                c.add("warning", f"ai_suggestion_history[{i}].timestamp: missing")
    return c.result()


def check_processing_state(doc: Any, name: str = "") -> Result:
    """A processing state: ``{"last_processed_index": N}``."""
    c = _Collector()
    if not isinstance(doc, dict):
        c.add("error", f"expected a JSON object (processing state), got {_tname(doc)}", False)
        return c.result()
    idx = doc.get("last_processed_index")
    if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
        c.add("error", f"last_processed_index: expected a count, got {idx!r}", False)
    return c.result()


CHECKERS: dict[str, Callable[[Any, str], Result]] = {
    "supplier_cache": check_supplier,
    "amazon_cache": check_amazon,
    "linking_map": check_linking_map,
    "ai_category_cache": check_ai_category,
    "processing_state": check_processing_state,
}


def check_document(cache_type: str, doc: Any, name: str = "") -> Result:
    """Check ``doc`` against the schema of ``cache_type``; returns ``(errors, warnings)``."""
    if name.endswith("_processing_state.json"):
        cache_type = "processing_state"
    checker: Optional[Callable[[Any, str], Result]] = CHECKERS.get(cache_type)
    if checker is None:
        # a custom type (any name under cache_types with a directory): the generic check is
        # that the file parses as JSON, which the caller has already done
        return [], []
    return checker(doc, name)
