"""The FBA system's own rules: product identity, "processed", failed extraction.

These mirror what the FBA agent does, so that a strategy never drops something
the agent still needs.

Example:
    >>> product_identifier({"ean": "5053249240312", "url": "https://x"})
    'EAN_5053249240312'
    >>> product_identifier({"ean": None, "url": "https://x/p.html"})
    'URL_https://x/p.html'
    >>> failure_reason({"keepa": {"status": "Product details tab timeout (initial)",
    ...                           "product_details_tab_data": {}}})
    'keepa status: Product details tab timeout (initial)'
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

__all__ = ["FAILURE_MARKERS", "product_identifier", "linked_identifiers", "failure_reason"]

#: Lower-cased substrings of ``keepa.status`` that mark a failed Keepa extraction.
FAILURE_MARKERS = (
    "timeout", "failed", "error", "not detected", "iframe not found", "no data extracted",
    "extraction process failed",
)


def product_identifier(product: Any) -> Optional[str]:
    """``"EAN_" + ean`` if ean is truthy, else ``"URL_" + url``; ``None`` with neither."""
    if not isinstance(product, dict):
        return None
    ean = product.get("ean")
    if ean:
        return f"EAN_{ean}"
    url = product.get("url")
    if url:
        return f"URL_{url}"
    return None


def linked_identifiers(records: Iterable[Any]) -> set[str]:
    """The set of ``supplier_product_identifier`` values in linking-map records."""
    out = set()
    for rec in records:
        if isinstance(rec, dict):
            ident = rec.get("supplier_product_identifier")
            if isinstance(ident, str) and ident:
                out.add(ident)
    return out


def failure_reason(entry: Any) -> Optional[str]:
    """Why a parsed amazon entry counts as a failed Keepa extraction, or ``None``."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    keepa = entry.get("keepa")
    if not isinstance(keepa, dict):
        return "no keepa section"
    status = str(keepa.get("status") or "")
    low = status.lower()
    for marker in FAILURE_MARKERS:
        if marker in low:
            return f"keepa status: {status}"
    details = keepa.get("product_details_tab_data")
    if not isinstance(details, dict) or not details:
        return "keepa product_details_tab_data missing or empty"
    return None
