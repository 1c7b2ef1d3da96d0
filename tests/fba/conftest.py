"""Fixture trees with the real FBA shapes (built here, never read from /work/shared).

``build_tree(root)`` lays out ``OUTPUTS/`` like the FBA agent does, with set
mtimes, and returns a :class:`Tree` describing what it made (expected counts
for processed products, failed extractions, expired files...).

Dates: every tree is built at a pinned instant, :data:`PINNED_NOW` (never the real
clock), and every maintenance run of a test gets that instant as its clock
(``tree.maintenance()``, ``tree.cli_args()``), so no result depends on today's date.
``FBACACHE_TEST_NOW=2028-02-29T12:00:00Z`` pins another instant, to check the
suite on calendar edges (1st of a month, 31 December, 29 February) without
keeping a slow date matrix in the suite.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

import pytest

from fbacache.fba import Maintenance, load_config

DAY = 86400.0



def _pinned(text: str) -> float:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


#: The instant every fixture tree is built at (a Tuesday mid-month, unless overridden).
PINNED_NOW = _pinned(os.environ.get("FBACACHE_TEST_NOW", "2026-06-16T10:30:00Z"))

CONFIG = {
    "cache": {
        "enabled": True, "ttl_hours": 336, "max_size_mb": 500,
        "selective_clear_config": {
            "preserve_analyzed_products": True, "preserve_ai_categories": True,
            "preserve_linking_map": True, "clear_unanalyzed_only": False,
            "clear_failed_extractions": True,
        },
        "global_settings": {"max_total_size_gb": 5.0, "default_ttl_hours": 336,
                            "backup_retention_days": 7, "validation_interval_hours": 6,
                            "optimization_interval_hours": 24},
        "strategies": {
            "clearing": {"default": "smart_selective",
                         "available": ["full", "selective", "smart_selective", "size_based",
                                       "performance_aware", "archive_old"]},
            "backup": {"enabled": True, "frequency": "daily", "compression": True,
                       "retention_policy": {"daily_backups": 7, "weekly_backups": 4,
                                            "monthly_backups": 3}},
        },
        "cache_types": {
            "supplier_cache": {"ttl_hours": 336, "max_size_mb": 1000, "backup_enabled": True,
                               "validation_enabled": True, "cleanup_strategy": "smart_selective"},
            "amazon_cache": {"ttl_hours": 336, "max_size_mb": 2000, "backup_enabled": True,
                             "validation_enabled": True, "cleanup_strategy": "size_based"},
            "ai_category_cache": {"ttl_hours": 720, "max_size_mb": 100, "backup_enabled": False,
                                  "validation_enabled": True, "cleanup_strategy": "selective"},
            "linking_map": {"ttl_hours": -1, "max_size_mb": 500, "backup_enabled": True,
                            "validation_enabled": True, "cleanup_strategy": "archive_old"},
        },
        "directories": {
            "currency_rates": "cache/currency",
            "supplier_cache": "OUTPUTS/cached_products",
            "amazon_cache": "OUTPUTS/FBA_ANALYSIS/amazon_cache",
            "ai_category_cache": "OUTPUTS/FBA_ANALYSIS/ai_category_cache",
            "linking_map": "OUTPUTS/FBA_ANALYSIS/Linking map",
        },
    }
}


def write_json(path: str, value: Any, mtime: Optional[float] = None) -> None:
    """Write a JSON file (indent 2, like the FBA agent) and set its mtime."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(value, fh, indent=2, ensure_ascii=False)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def digest(path: str) -> str:
    """SHA-256 of a file's content."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def snapshot(root: str) -> dict[str, str]:
    """relpath -> sha256 of every regular file under ``root`` (symlinks not followed)."""
    out = {}
    for cur, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(cur, n)
            if n.startswith(".") and n.endswith(".lock"):
                continue  # lock files are bookkeeping, not data
            if not os.path.islink(p):
                out[os.path.relpath(p, root)] = digest(p)
    return out


def product(i: int, ean: Any, url: Optional[str]) -> dict:
    return {"title": f"Product {i} - Pack Of 2", "price": 0.5 + i, "url": url,
            "image_url": f"https://www.clearance-king.co.uk/media/{i}.jpg", "ean": ean,
            "upc": None, "sku": None, "source_supplier": "clearance-king.co.uk",
            "source_category_url": "https://www.clearance-king.co.uk/household.html",
            "extraction_timestamp": "2025-06-10T22:02:15.794835"}


def amazon_entry(asin: str, status: str = "Extraction process completed",
                 details: Optional[dict] = None, keepa: bool = True) -> dict:
    e: dict[str, Any] = {
        "asin_from_details": asin, "title": f"Title of {asin}", "current_price": 4.59,
        "main_image": "https://m.media-amazon.com/images/I/x.jpg", "thumbnails": [],
        "high_res_gallery": [], "prime_eligible": True, "fulfilled_by_amazon": False,
        "rating": 4.5, "review_count": 394, "selleramp": {"status": "disabled"},
        "asin_extracted_from_page": asin, "asin_queried": asin, "asin": asin,
    }
    if keepa:
        e["keepa"] = {"status": status,
                      "product_details_tab_data": {"Title": "x"} if details is None else details}
    return e


def link(ident: str, asin: str) -> dict:
    return {"supplier_product_identifier": ident, "supplier_title_snippet": "Product...",
            "chosen_amazon_asin": asin, "amazon_title_snippet": "Amazon title...",
            "amazon_ean_on_page": "0707154162744", "match_method": "title_search"}


@dataclass
class Tree:
    """A built fixture tree and the facts tests assert against."""

    root: str
    config_path: str
    now: float
    out: str = ""
    amazon: dict[str, str] = field(default_factory=dict)  # name -> kind (ok/failed/...)
    processed: int = 0
    unprocessed: int = 0
    outside: str = ""

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def supplier_file(self) -> str:
        return self.path("OUTPUTS", "cached_products", "clearance-king_co_uk_products_cache.json")

    @property
    def amazon_dir(self) -> str:
        return self.path("OUTPUTS", "FBA_ANALYSIS", "amazon_cache")

    @property
    def linking_map(self) -> str:
        return self.path("OUTPUTS", "FBA_ANALYSIS", "Linking map", "linking_map.json")

    @property
    def ai_file(self) -> str:
        return self.path("OUTPUTS", "FBA_ANALYSIS", "ai_category_cache",
                         "clearance-king_co_uk_ai_category_cache.json")

    def config(self):  # type: ignore[no-untyped-def]
        return load_config(self.config_path, self.root)

    def maintenance(self, **kw: Any) -> Maintenance:
        kw.setdefault("clock", lambda: self.now)
        return Maintenance(self.config(), **kw)

    def cli_args(self, *rest: str) -> list[str]:
        """``maintain`` arguments for this tree, with the tree's instant as ``--now``."""
        return [*rest, "--config", self.config_path, "--root", self.root, "--now", repr(self.now)]


def build_tree(root: str, *, n_amazon_extra: int = 0, config_extra: Optional[dict] = None,
               now: Optional[float] = None) -> Tree:
    """Build an FBA output tree of the real shapes under ``root``."""
    now = PINNED_NOW if now is None else now
    old, fresh = now - 20 * DAY, now - 1 * DAY
    cfg = json.loads(json.dumps(CONFIG))
    if config_extra:
        cfg["cache"]["directories"].update(config_extra.get("directories", {}))
        for k, v in config_extra.items():
            if k != "directories":
                cfg["cache"][k] = v
    t = Tree(root=root, config_path=os.path.join(root, "system_config.json"), now=now)
    write_json(t.config_path, cfg)
    # supplier products: 6 processed (EAN, URL, non-numeric EAN), 4 not, 1 with neither id
    eans = ["5055257877566", "5053249240312", "4902580131272", "5014949006868",
            "5060120163714", "785618348316"]
    prods = [product(i, e, f"https://www.clearance-king.co.uk/p{i}.html")
             for i, e in enumerate(eans)]
    prods += [product(6, None, "https://www.clearance-king.co.uk/no-ean-linked.html"),
              product(7, "KCCQA0446BK", "https://www.clearance-king.co.uk/sku.html"),
              product(8, None, "https://www.clearance-king.co.uk/no-ean-new.html"),
              product(9, None, None)]
    linked = [f"EAN_{e}" for e in eans[:4]] + \
        ["URL_https://www.clearance-king.co.uk/no-ean-linked.html", "EAN_KCCQA0446BK"]
    t.processed, t.unprocessed = 6, 4
    write_json(t.supplier_file, prods, old)
    write_json(t.path("OUTPUTS", "cached_products", "other-shop_com_products_cache.json"),
               [product(20, "111", "https://other/p.html")], fresh)
    old_copy = t.path("OUTPUTS", "cached_products",
                      "clearance-king_co_uk_products_cache.backup_1717000000")
    write_json(old_copy, prods[:2], now - 30 * DAY)
    # linking map: append-only, with a duplicate id
    records = [link(ident, f"B0{i:08d}") for i, ident in enumerate(linked)]
    records.append(link(linked[0], "B0DUPLICATE"))
    write_json(t.linking_map, records, now - 100 * DAY)
    lmb = t.path("OUTPUTS", "FBA_ANALYSIS", "linking_map_backups")
    for days in (30, 20, 1):
        write_json(os.path.join(lmb, f"linking_map_clearance-king_co_uk_{days:03d}.json"),
                   records[:3], now - days * DAY)
    # amazon entries of every naming style; 3 failed extractions
    am = t.amazon_dir
    specs = [
        ("amazon_B08B1P9KWC_5053249240312.json", amazon_entry("B08B1P9KWC"), old, "ok"),
        ("amazon_0007258372_title_48f620d6.json", amazon_entry("0007258372"), fresh, "ok"),
        ("amazon_B07XX85HCW.json", amazon_entry("B07XX85HCW"), old, "ok"),
        ("amazon_1911648705_MY FAVOURITE.json", amazon_entry("1911648705"), fresh, "ok"),
        ("amazon_B0DYV8W1YL_YAJF8Z199.json", amazon_entry("B0DYV8W1YL"), fresh, "ok"),
        ("amazon_B0DYV8W1YL_5050375947849.json", amazon_entry("B0DYV8W1YL"), old, "ok"),
        ("amazon_B0CBKJ6QRG_5060240210329.json",
         amazon_entry("B0CBKJ6QRG", "Product details tab timeout (initial)", {}), old, "failed"),
        ("amazon_B00C1GN8BY_785618368314.json",
         amazon_entry("B00C1GN8BY", "Extraction process completed", {}), fresh, "failed"),
        ("amazon_B00C207TJG_785618367317.json", amazon_entry("B00C207TJG", keepa=False),
         fresh, "failed"),
    ]
    for i in range(n_amazon_extra):
        specs.append((f"amazon_B1{i:08d}_50{i:011d}.json", amazon_entry(f"B1{i:08d}"),
                      old if i % 2 else fresh, "ok"))
    for name, doc, mt, kind in specs:
        write_json(os.path.join(am, name), doc, mt)
        t.amazon[name] = kind
    # results and stray files inside and outside the configured directories
    write_json(os.path.join(am, "fba_summary_clearance-king_co_uk_20250603_155225.json"),
               {"summary": 1}, old)
    with open(os.path.join(am, "notes.txt"), "w") as fh:
        fh.write("hand-written note")
    fa = t.path("OUTPUTS", "FBA_ANALYSIS")
    write_json(os.path.join(fa, "fba_summary_clearance-king_co_uk_20250603_155225.json"), {}, old)
    write_json(os.path.join(fa, "financial_reports", "fba_financial_report_1.json"), {}, old)
    write_json(os.path.join(fa, "New folder", "clearance-king_co_uk_processing_state.json"),
               {"last_processed_index": 1}, old)
    write_json(os.path.join(fa, "clearance-king_co_uk_processing_state.json"),
               {"last_processed_index": 703}, old)
    write_json(os.path.join(fa, "Clearance King UK_processing_state.json"),
               {"last_processed_index": 0}, old)
    write_json(t.ai_file, {
        "supplier": "clearance-king.co.uk", "url": "https://www.clearance-king.co.uk",
        "created": "2025-06-09T19:51:15.685517", "last_updated": "2025-06-10T22:02:10.596781",
        "total_ai_calls": 2, "ai_suggestion_history": [
            {"timestamp": "2025-06-09T19:51:15.685486",
             "session_context": {"categories_discovered": 75},
             "ai_suggestions": {"top_3_urls": ["https://x/a.html"], "secondary_urls": [],
                                "skip_urls": [], "detailed_reasoning": {}}}]},
        now - 40 * DAY)
    # a symlink out of the amazon directory must never be followed
    t.outside = t.path("outside", "victim.json")
    write_json(t.outside, amazon_entry("B0VICTIM00"), old)
    os.symlink(t.outside, os.path.join(am, "amazon_B0SYMLINK0_1.json"))
    return t


@pytest.fixture
def tree(tmp_path) -> Tree:  # type: ignore[no-untyped-def]
    """A fresh FBA tree per test."""
    return build_tree(str(tmp_path / "fba"))


def compiled_walker_expected() -> bool:
    """True when the run must have the compiled walker of ``metrics``
    (``FBACACHE_REQUIRE_EXTENSIONS=1``, the twin not asked for, a POSIX system: setup.py
    builds ``fbacache.fba._tally_c`` wherever it builds the core, except on Windows)."""
    return (os.environ.get("FBACACHE_REQUIRE_EXTENSIONS") == "1"
            and not os.environ.get("FBACACHE_NO_EXTENSIONS") and sys.platform != "win32")


@pytest.fixture(params=["c", "py"])
def tally_walker(request, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """Each walker of ``metrics`` (``fba/tally.py``) in turn, selected for the test: the
    compiled ``_tally_c.walk`` and the pure-Python twin ``_walk_py``. "c" is skipped when the
    extension is not built, and fails instead when the run expects it (otherwise a broken
    build would pass by testing the twin twice)."""
    from fbacache.fba import tally
    if request.param == "c":
        if tally._walk_c is None:
            if compiled_walker_expected():
                pytest.fail("FBACACHE_REQUIRE_EXTENSIONS=1 but fbacache.fba._tally_c did not load")
            pytest.skip("compiled walker not loaded (FBACACHE_NO_EXTENSIONS or no compiler)")
        monkeypatch.setattr(tally, "_walk", tally._walk_c)
    else:
        monkeypatch.setattr(tally, "_walk", tally._walk_py)
    return str(request.param)


class FailingWriter:
    """A writer seam that raises ``OSError(code)`` once ``budget`` bytes were written."""

    def __init__(self, budget: int, code: int = errno.ENOSPC) -> None:
        self.budget, self.code, self.calls = budget, code, 0

    def __call__(self, fd: int, chunk: bytes) -> None:
        self.calls += 1
        if len(chunk) > self.budget:
            half = chunk[: self.budget]
            if half:
                os.write(fd, half)
            self.budget = 0
            raise OSError(self.code, os.strerror(self.code))
        self.budget -= len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
