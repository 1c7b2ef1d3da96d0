"""backup (manifest, SHA-256, retention), restore (verify first, atomic), repair, optimize."""
from __future__ import annotations

import errno
import gzip
import json
import os
import tarfile
from datetime import datetime, timezone

import pytest

from fbacache.fba.atomic import read_json
from fbacache.fba.backup import sha256_file

from .conftest import DAY, FailingWriter, build_tree, snapshot, write_json


def _cache_snapshot(tree):
    return {k: v for k, v in snapshot(tree.root).items() if not k.startswith(".fbacache")}


def test_backup_manifest_and_checksums(tree):
    r = tree.maintenance().backup()
    assert {b.cache_type for b in r.created} == {"supplier_cache", "amazon_cache", "linking_map"}
    b = [b for b in r.created if b.cache_type == "amazon_cache"][0]
    man = read_json(b.manifest)
    assert man["archive_sha256"] == sha256_file(b.archive) and b.archive.endswith(".tar.gz")
    paths = {f["path"] for f in man["files"]}
    assert "amazon_B1911648705_x" not in paths and "amazon_1911648705_MY FAVOURITE.json" in paths
    assert "notes.txt" in paths  # other files are kept safe too
    assert not any(p.startswith("fba_summary") or "SYMLINK" in p for p in paths)
    with tarfile.open(b.archive) as tar:
        assert sorted(tar.getnames()) == sorted(paths)


def _expected_keep(created: list[float], daily: int, weekly: int, monthly: int) -> set[float]:
    """Retention written out independently of fbacache.fba.backup: the `daily` newest backups, plus
    the newest backup of each of the `daily` newest days, `weekly` newest ISO weeks and `monthly`
    newest calendar months that have backups (UTC)."""
    newest_first = sorted(created, reverse=True)
    keep = set(newest_first[:daily])
    tiers = [(daily, lambda d: d.date()), (weekly, lambda d: d.isocalendar()[:2]),
             (monthly, lambda d: (d.year, d.month))]
    for limit, bucket_of in tiers:
        newest_per_bucket: dict = {}
        for ts in newest_first:
            newest_per_bucket.setdefault(bucket_of(datetime.fromtimestamp(ts, timezone.utc)), ts)
        keep.update(sorted(newest_per_bucket.values(), reverse=True)[:limit])
    return keep


# Pinned calendar dates (never today's): the 1st of a month (the monthly tier then reaches back only
# ~31 days), New Year's Eve, a leap day, an ISO week 53 year's end, and a mid-month day.
RETENTION_DATES = [(2026, 12, 1), (2026, 12, 31), (2028, 2, 29), (2026, 3, 1), (2027, 1, 3),
                   (2026, 6, 15)]


@pytest.mark.parametrize("ymd", RETENTION_DATES, ids=lambda d: "%04d-%02d-%02d" % d)
def test_retention_tiers(tmp_path, ymd):
    last = datetime(*ymd, 12, 0, tzinfo=timezone.utc).timestamp()
    tree = build_tree(str(tmp_path / "tree"), now=last)
    now = [last]
    m = tree.maintenance(clock=lambda: now[0])
    created = []
    for day in range(60, -1, -1):  # one backup a day for 61 days, two on the last day
        now[0] = last - day * DAY
        m.backup(["linking_map"])
        created.append(now[0])
    now[0] = last + 60
    m.backup(["linking_map"])
    created.append(now[0])
    ids = {b.created for b in m.backups("linking_map")}
    assert ids == _expected_keep(created, daily=7, weekly=4, monthly=3)
    # 7 newest days + newest of 4 weeks + newest of 3 months, overlapping; never unbounded
    assert 7 <= len(ids) <= 7 + 4 + 3
    assert max(ids) == now[0]
    def months(stamps):  # type: ignore[no-untyped-def]
        return {(d.year, d.month) for d in (datetime.fromtimestamp(t, timezone.utc) for t in stamps)}
    # the monthly tier reaches back to the third month that has backups (or as far as there are)
    assert months(ids) == set(sorted(months(created))[-3:])


def test_restore_latest_and_by_id(tree):
    m = tree.maintenance()
    first = m.backup(["linking_map", "amazon_cache"]).created
    original = _cache_snapshot(tree)
    write_json(tree.linking_map, [])
    os.unlink(os.path.join(tree.amazon_dir, "amazon_B07XX85HCW.json"))
    r = m.restore(["linking_map", "amazon_cache"])
    assert r.status == "ok" and len(r.safety_backups) == 2
    assert _cache_snapshot(tree) == original
    # mtimes come back too (freshness is by mtime)
    assert os.path.getmtime(tree.linking_map) == pytest.approx(tree.now - 100 * DAY)
    lm_id = [b.id for b in first if b.cache_type == "linking_map"][0]
    write_json(tree.linking_map, [{"x": 1}])
    assert m.restore(["linking_map"], backup_id=lm_id).restored == {"linking_map": lm_id}
    assert _cache_snapshot(tree) == original


def test_restore_refuses_tampered_archive(tree):
    m = tree.maintenance()
    b = m.backup(["linking_map"]).created[0]
    write_json(tree.linking_map, [{"supplier_product_identifier": "EAN_NEW"}])
    current = _cache_snapshot(tree)
    with open(b.archive, "r+b") as fh:
        fh.seek(40)
        fh.write(b"\x00\x01\x02")
    r = m.restore(["linking_map"])
    assert r.status == "error" and "checksum" in r.errors[0]
    assert _cache_snapshot(tree) == current


def test_restore_dry_run_lists_files(tree):
    m = tree.maintenance()
    m.backup(["supplier_cache"])
    before = snapshot(tree.root)
    r = m.restore(["supplier_cache"], dry_run=True)
    assert sorted(os.path.basename(p) for p in r.files) == [
        "clearance-king_co_uk_products_cache.backup_1717000000",
        "clearance-king_co_uk_products_cache.json", "other-shop_com_products_cache.json"]
    assert snapshot(tree.root) == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_backup_fails_cleanly(tree, code):
    m = tree.maintenance(writer=FailingWriter(2000, code))
    r = m.backup(["amazon_cache"])
    assert r.status == "error" and r.created == []
    bdir = os.path.join(tree.root, ".fbacache", "backups", "amazon_cache")
    assert os.listdir(bdir) == []
    assert tree.maintenance().backups("amazon_cache") == []


def test_restore_enospc_changes_nothing(tree):
    m = tree.maintenance()
    m.backup(["linking_map"])
    write_json(tree.linking_map, [{"supplier_product_identifier": "EAN_NEW"}])
    cfg = json.load(open(tree.config_path))
    cfg["cache"]["cache_types"]["linking_map"]["backup_enabled"] = False
    json.dump(cfg, open(tree.config_path, "w"))
    current = _cache_snapshot(tree)
    r = tree.maintenance(writer=FailingWriter(100)).restore(["linking_map"])
    assert r.status == "error"
    assert _cache_snapshot(tree) == current
    assert not [n for n in os.listdir(os.path.dirname(tree.linking_map)) if n.startswith(".fbacache")]


def test_repair_quarantines_never_deletes(tree):
    cut = os.path.join(tree.amazon_dir, "amazon_B000000CUT.json")
    with open(cut, "w") as fh:
        fh.write("{")
    with open(tree.linking_map, "w") as fh:
        fh.write("[{")
    m = tree.maintenance()
    dry = m.repair(dry_run=True)
    assert os.path.exists(cut) and len(dry.actions) == 2
    r = m.repair()
    assert r.status == "ok" and all(a.done for a in r.actions)
    dests = {os.path.basename(a.path): a.dest for a in r.actions}
    assert open(dests["amazon_B000000CUT.json"]).read() == "{"
    assert open(dests["linking_map.json"]).read() == "[{"
    assert ".fbacache" in dests["linking_map.json"] and "quarantine" in dests["linking_map.json"]
    assert m.metrics().total["corrupt_count"] == 0


def test_optimize(tree):
    old = tree.now - 2 * 3600
    stray = os.path.join(tree.amazon_dir, ".fbacache-tmp-amazon_x.json-dead")
    fresh_tmp = os.path.join(tree.amazon_dir, ".fbacache-tmp-amazon_y.json-live")
    for p, t in ((stray, old), (fresh_tmp, tree.now)):
        open(p, "w").close()
        os.utime(p, (t, t))
    os.makedirs(os.path.join(tree.amazon_dir, "empty", "deeper"))
    staging = os.path.join(tree.amazon_dir, ".fbacache-restore-dead")
    os.makedirs(staging)
    os.utime(staging, (old, old))
    m = tree.maintenance()
    m.clear("archive_old", ["amazon_cache"])
    r = m.optimize(["amazon_cache"])
    ops = sorted(a.op for a in r.actions if a.op != "delete" or "tmp" in a.path)
    assert ops.count("rmdir") == 2 and "rmtree" in ops and ops.count("compress") == 4
    assert not os.path.exists(stray) and os.path.exists(fresh_tmp)
    assert not os.path.exists(staging) and not os.path.exists(os.path.join(tree.amazon_dir, "empty"))
    gz = [a.dest for a in r.actions if a.op == "compress"]
    assert all(json.loads(gzip.open(p).read())["asin"] for p in gz)


def test_same_day_safety_backups_are_not_pruned(tree):
    m = tree.maintenance()
    for _ in range(3):
        m.backup(["linking_map"])
    assert len(m.backups("linking_map")) == 3  # the last daily_backups (7) always stay
