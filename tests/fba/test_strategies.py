"""clear: every strategy, dry-run == real run, safety backups, never outside, never results."""
from __future__ import annotations

import json
import os

import pytest

from fbacache.fba.atomic import read_json
from fbacache.fba.config import STRATEGIES

from .conftest import DAY, FailingWriter, amazon_entry, build_tree, snapshot, write_json

RESULTS = ("OUTPUTS/FBA_ANALYSIS/fba_summary_clearance-king_co_uk_20250603_155225.json",
           "OUTPUTS/FBA_ANALYSIS/amazon_cache/fba_summary_clearance-king_co_uk_20250603_155225.json",
           "OUTPUTS/FBA_ANALYSIS/amazon_cache/notes.txt",
           "OUTPUTS/FBA_ANALYSIS/clearance-king_co_uk_processing_state.json",
           "OUTPUTS/FBA_ANALYSIS/financial_reports/fba_financial_report_1.json",
           "outside/victim.json")


def _untouched(tree, before):
    after = snapshot(tree.root)
    for rel in RESULTS:
        assert after[rel] == before[rel], rel
    assert os.path.islink(os.path.join(tree.amazon_dir, "amazon_B0SYMLINK0_1.json"))


def _paths(report):
    return sorted((a.op, a.path) for a in report.actions)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_dry_run_changes_nothing_and_matches_real_run(tree, strategy):
    m = tree.maintenance(load_probe=lambda: 0.0, sleep=lambda s: None)
    before = snapshot(tree.root)
    dry = m.clear(strategy, dry_run=True)
    assert snapshot(tree.root) == before
    real = m.clear(strategy)
    assert real.errors == []
    assert _paths(real) == _paths(dry)
    assert all(a.done for a in real.actions)
    _untouched(tree, before)
    lm_before = before["OUTPUTS/FBA_ANALYSIS/Linking map/linking_map.json"]
    assert snapshot(tree.root)["OUTPUTS/FBA_ANALYSIS/Linking map/linking_map.json"] == lm_before


def test_smart_selective_follows_the_real_rule(tree):
    m = tree.maintenance()
    r = m.clear("smart_selective")
    kept = read_json(tree.supplier_file)
    assert len(kept) == tree.unprocessed
    assert {p["title"] for p in kept} == {f"Product {i} - Pack Of 2" for i in (4, 5, 8, 9)}
    rewrite = [a for a in r.actions if a.op == "rewrite"][0]
    assert rewrite.detail["removed"] == tree.processed
    failed = {n for n, k in tree.amazon.items() if k == "failed"}
    assert {os.path.basename(a.path) for a in r.actions if a.op == "delete"} == failed
    assert set(os.listdir(tree.amazon_dir)) >= {n for n, k in tree.amazon.items() if k == "ok"}
    # the other supplier has nothing processed; its file is untouched
    assert len(read_json(tree.path("OUTPUTS", "cached_products",
                                   "other-shop_com_products_cache.json"))) == 1
    # backups of the changed backup_enabled types were taken first
    assert {b.split("_2")[0] for b in r.backups} == {"supplier_cache", "amazon_cache"}
    assert len(m.backups("supplier_cache")) == 1


def test_smart_selective_refuses_on_corrupt_linking_map(tree):
    with open(tree.linking_map, "w") as fh:
        fh.write('[{"supplier_product_identifier": "EAN_1"')
    before = snapshot(tree.root)
    r = tree.maintenance().clear("smart_selective", ["supplier_cache"])
    assert r.status == "error" and "corrupt" in r.errors[0]
    assert r.actions == []
    assert {k: v for k, v in snapshot(tree.root).items() if not k.startswith(".fbacache")} \
        == before


def test_full_preserves_memory_and_follows_no_symlink(tree):
    outside_dir = tree.path("outside", "dir")
    write_json(os.path.join(outside_dir, "amazon_B0OUTSIDE0.json"), amazon_entry("B0OUTSIDE0"))
    os.symlink(outside_dir, os.path.join(tree.amazon_dir, "linked_dir"))
    r = tree.maintenance().clear("full")
    assert os.path.exists(os.path.join(outside_dir, "amazon_B0OUTSIDE0.json"))
    assert os.path.exists(tree.linking_map) and os.path.exists(tree.ai_file)
    assert any("protected" in n for n in r.notes)
    left = set(os.listdir(tree.amazon_dir))
    assert left == {"amazon_B0SYMLINK0_1.json", "linked_dir", "notes.txt",
                    "fba_summary_clearance-king_co_uk_20250603_155225.json"}


def test_selective_removes_expired_only(tree):
    r = tree.maintenance().clear("selective")
    gone = {os.path.basename(a.path) for a in r.actions}
    assert gone == {"amazon_B08B1P9KWC_5053249240312.json", "amazon_B07XX85HCW.json",
                    "amazon_B0DYV8W1YL_5050375947849.json",
                    "amazon_B0CBKJ6QRG_5060240210329.json",
                    "clearance-king_co_uk_products_cache.json"}
    assert os.path.exists(tree.ai_file)  # 40 days > 720 h, but preserved


def test_size_based_oldest_first_never_protected(tmp_path):
    t = build_tree(str(tmp_path / "fba"), n_amazon_extra=20)
    raw = json.load(open(t.config_path))
    raw["cache"]["cache_types"]["amazon_cache"]["max_size_mb"] = 0.01  # ~10 KiB
    raw["cache"]["cache_types"]["linking_map"]["max_size_mb"] = 0
    raw["cache"]["cache_types"]["ai_category_cache"]["max_size_mb"] = 0
    json.dump(raw, open(t.config_path, "w"))
    mtimes = {n: os.lstat(os.path.join(t.amazon_dir, n)).st_mtime for n in os.listdir(t.amazon_dir)}
    r = t.maintenance().clear("size_based")
    assert {a.cache_type for a in r.actions} == {"amazon_cache"}
    deleted = {os.path.basename(a.path) for a in r.actions}
    kept = [n for n in os.listdir(t.amazon_dir)
            if n.startswith("amazon_") and not os.path.islink(os.path.join(t.amazon_dir, n))]
    assert not deleted & set(kept)
    assert sum(os.path.getsize(os.path.join(t.amazon_dir, n)) for n in kept) <= 0.01 * 1024 * 1024
    assert max(mtimes[n] for n in deleted) <= min(mtimes[n] for n in kept)  # oldest first
    assert os.path.exists(t.linking_map) and os.path.exists(t.ai_file)


def test_archive_old_preserves_relative_paths(tmp_path):
    t = build_tree(str(tmp_path / "fba"), config_extra={
        "directories": {"linking_map_backups": "OUTPUTS/FBA_ANALYSIS/linking_map_backups"}})
    # same file name in two sub-folders: the old tool flattened these into a collision
    for sub in ("a", "b"):
        write_json(os.path.join(t.amazon_dir, sub, "amazon_B0SAMENAME.json"),
                   amazon_entry("B0SAMENAME") | {"sub": sub}, t.now - 30 * DAY)
    m = t.maintenance()
    r = m.clear("archive_old")
    moved = {a.detail["rel"]: a.dest for a in r.actions}
    assert read_json(moved["a/amazon_B0SAMENAME.json"])["sub"] == "a"
    assert read_json(moved["b/amazon_B0SAMENAME.json"])["sub"] == "b"
    assert moved["a/amazon_B0SAMENAME.json"].endswith(
        os.path.join("amazon_cache", "a", "amazon_B0SAMENAME.json"))
    assert "clearance-king_co_uk_products_cache.backup_1717000000" in moved
    lmb = t.path("OUTPUTS", "FBA_ANALYSIS", "linking_map_backups")
    assert sorted(os.listdir(lmb)) == ["linking_map_clearance-king_co_uk_001.json"]
    assert sum("linking_map_backups" in d for d in moved.values()) == 2
    assert os.path.exists(t.linking_map)


def test_failed_extractions_and_corrupt_goes_to_quarantine(tree):
    cut = os.path.join(tree.amazon_dir, "amazon_B000000CUT.json")
    with open(cut, "w") as fh:
        fh.write('{"asin": ')
    r = tree.maintenance().clear("failed_extractions")
    ops = {os.path.basename(a.path): a.op for a in r.actions}
    assert ops.pop("amazon_B000000CUT.json") == "quarantine"
    assert set(ops) == {n for n, k in tree.amazon.items() if k == "failed"}
    q = [a.dest for a in r.actions if a.op == "quarantine"][0]
    assert open(q).read() == '{"asin": ' and not os.path.exists(cut)


def test_performance_aware_pauses_while_load_is_high(tmp_path):
    t = build_tree(str(tmp_path / "fba"), n_amazon_extra=10)
    raw = json.load(open(t.config_path))
    raw["cache"]["cache_types"]["amazon_cache"]["cleanup_strategy"] = "selective"
    json.dump(raw, open(t.config_path, "w"))
    loads = iter([5.0, 5.0, 0.1] + [0.1] * 100)
    slept = []
    m = t.maintenance(load_probe=lambda: next(loads), sleep=slept.append)
    r = m.clear("performance_aware", ["amazon_cache"], batch_size=2)
    assert len(r.actions) == 4 + 5 and all(a.done for a in r.actions)  # old entries
    assert slept == [1.0, 1.0]


def test_failed_safety_backup_changes_nothing(tree):
    before = snapshot(tree.root)
    m = tree.maintenance(writer=FailingWriter(100))
    r = m.clear("full", ["amazon_cache"])
    assert r.status == "error" and "safety backup failed" in r.errors[0]
    assert not any(a.done for a in r.actions)
    after = {k: v for k, v in snapshot(tree.root).items() if not k.startswith(".fbacache")}
    assert after == before


def test_enospc_mid_rewrite_keeps_supplier_file(tree):
    before = open(tree.supplier_file, "rb").read()
    cfg = json.load(open(tree.config_path))
    cfg["cache"]["cache_types"]["supplier_cache"]["backup_enabled"] = False
    json.dump(cfg, open(tree.config_path, "w"))
    r = tree.maintenance(writer=FailingWriter(500)).clear("smart_selective", ["supplier_cache"])
    assert r.status == "error" and "No space left" in " ".join(r.errors)
    assert open(tree.supplier_file, "rb").read() == before
    assert not [n for n in os.listdir(os.path.dirname(tree.supplier_file))
                if n.startswith(".fbacache-tmp")]
