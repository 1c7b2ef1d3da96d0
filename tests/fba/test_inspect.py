"""metrics, validate and health on a tree of the real shapes."""
from __future__ import annotations

import json
import os

from fbacache.fba.schemas import check_document

from .conftest import amazon_entry, write_json


def test_metrics_counts(tree):
    r = tree.maintenance().metrics()
    am = r.types["amazon_cache"]
    assert am.file_count == 9  # the symlink, results file and note are not entries
    assert am.symlinks_skipped == 1 and am.other_files == 1
    assert am.expired_count == 4  # 20-day-old entries with a 14-day TTL
    assert am.corrupt_count == 0
    assert am.oldest_age_hours == 20 * 24 and am.newest_age_hours == 24
    assert r.types["linking_map"].expired_count == 0  # ttl -1 never expires
    assert r.total["file_count"] == 2 + 9 + 1 + 1
    assert r.status == "ok"


def test_metrics_counts_corrupt(tree):
    with open(os.path.join(tree.amazon_dir, "amazon_B07XX85HCW.json"), "w") as fh:
        fh.write('{"asin": "B07XX85HCW", "keepa": {')
    r = tree.maintenance().metrics(["amazon_cache"])
    assert r.types["amazon_cache"].corrupt_count == 1 and r.status == "warning"


def test_validate_real_shapes_are_valid(tree):
    r = tree.maintenance().validate()
    by_name = {os.path.basename(f.path): f for f in r.files}
    assert all(f.is_valid for f in r.files), [f for f in r.files if not f.is_valid]
    # the real ai category cache shape raises no warning (the old tool warned on every one)
    assert by_name["clearance-king_co_uk_ai_category_cache.json"].warnings == []
    assert by_name["linking_map.json"].warnings == []
    f = by_name["amazon_B08B1P9KWC_5053249240312.json"]
    assert f.file_size > 0 and f.last_modified.endswith("+00:00")
    # the supplier product with neither ean nor url can never be processed: a warning
    sup = by_name["clearance-king_co_uk_products_cache.json"]
    assert sup.is_valid and any("never be marked processed" in w for w in sup.warnings)
    assert "fba_summary_clearance-king_co_uk_20250603_155225.json" not in by_name
    assert by_name["amazon_B0SYMLINK0_1.json"].warnings[0].startswith("symlink")


def test_validate_lists_invalid_files_with_reason(tree):
    write_json(tree.linking_map, {"not": "a list"})
    write_json(os.path.join(tree.amazon_dir, "amazon_B000000BAD.json"), ["x"])
    with open(os.path.join(tree.amazon_dir, "amazon_B000000CUT.json"), "w") as fh:
        fh.write("{")
    r = tree.maintenance().validate()
    bad = {os.path.basename(f.path): f for f in r.invalid}
    assert set(bad) == {"linking_map.json", "amazon_B000000BAD.json", "amazon_B000000CUT.json"}
    assert "expected a JSON list of link records" in bad["linking_map.json"].errors[0]
    assert bad["amazon_B000000CUT.json"].corrupt
    assert r.status == "error"


def test_schema_messages_are_capped():
    errors, _ = check_document("linking_map", [{"x": 1}] * 1000)
    assert len(errors) == 11 and errors[-1].startswith("... and")


def test_schema_catches_wrong_types():
    e, _ = check_document("supplier_cache", [{"title": 1, "price": "cheap", "url": "u"}])
    assert any("title" in m for m in e) and any("price" in m for m in e)
    e, _ = check_document("ai_category_cache", {"supplier": "s", "url": "u", "created": "c",
                                                "last_updated": "l", "total_ai_calls": -1,
                                                "ai_suggestion_history": {}})
    assert any("total_ai_calls" in m for m in e) and any("history" in m for m in e)
    e, w = check_document("amazon_cache", amazon_entry("B0XXXXXXXX"),
                          "amazon_B0YYYYYYYY_1.json")
    assert not e and any("file name names ASIN" in m for m in w)


def test_health_statuses(tree):
    m = tree.maintenance()
    h = m.health()
    assert h.types["amazon_cache"].status == "warning"  # no backup yet
    assert "no backup in the last 2 days" in h.types["amazon_cache"].issues
    assert h.types["ai_category_cache"].status == "healthy"
    assert h.system["disk_total_bytes"] > 0 and "memory_total_bytes" in h.system
    m.backup()
    h = m.health()
    assert h.types["supplier_cache"].status == "healthy"
    assert h.types["amazon_cache"].issues == ["1 symlink(s) skipped (never followed)"]
    with open(tree.linking_map, "w") as fh:
        fh.write("[")
    h = m.health()
    assert h.types["linking_map"].status == "critical" and h.overall == "critical"
    assert h.status == "error"
    assert any("restore" in r for r in h.types["linking_map"].recommendations)


def test_health_degraded_when_over_size(tree):
    raw = json.load(open(tree.config_path))
    raw["cache"]["cache_types"]["amazon_cache"]["max_size_mb"] = 0.001
    json.dump(raw, open(tree.config_path, "w"))
    h = tree.maintenance().health(["amazon_cache"])
    assert h.types["amazon_cache"].status == "degraded"
    assert any("size_based" in r for r in h.types["amazon_cache"].recommendations)
