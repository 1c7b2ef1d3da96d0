"""Issue #17, part 2: every key of the design documents' config honoured or reported once.

Each test carries its own copy of the keys it needs (the fixture config in
``conftest.CONFIG`` is the real shape) and goes through ``python -m fbacache.maintain``.
"""
from __future__ import annotations

import json
import os

import pytest

from .conftest import DAY, build_tree, snapshot, write_json
from .test_cli_errors import maintain


def _config(tree):
    return json.load(open(tree.config_path))


def _save(tree, cfg):
    write_json(tree.config_path, cfg)


def _json(p):
    return json.loads(p.stdout)


def test_every_design_key_is_honoured_or_reported_once(tree):
    cfg = _config(tree)
    c = cfg["cache"]
    # the design documents' keys this fixture does not carry yet
    c["strategies"]["clearing"]["schedule"] = {"enabled": True, "cron": "0 2 * * *",
                                               "strategy": "performance_aware"}
    c["directories"].update(product_data="cache/products", analysis_results="cache/analysis")
    c["cache_types"]["test_cache"] = {"ttl_hours": 1}  # a custom type without a directory
    c["colour"] = "blue"  # a typo / unknown key
    _save(tree, cfg)
    p = maintain(tree.cli_args("metrics", "--json"))
    data = _json(p)
    notes = [n["message"] for n in data["config_notes"]]
    unknown = [i["message"] for i in data["issues"] if i["code"] == "config.unknown_key"]
    assert sorted(n.split(":")[0] for n in notes) == [
        "cache.cache_types.test_cache", "cache.directories.analysis_results",
        "cache.directories.currency_rates", "cache.directories.product_data"]
    assert all("not managed: " in n for n in notes)  # each with its reason
    assert unknown == ["unknown config key ignored: cache.colour"]
    text = maintain(tree.cli_args("metrics")).stdout
    assert text.count("note: cache.directories.currency_rates") == 1
    assert text.count("cache.colour") == 1
    # known keys are not reported: everything else in the design config is honoured
    for key in ("enabled", "ttl_hours", "max_size_mb", "selective_clear_config",
                "global_settings", "strategies", "max_total_size_gb", "default_ttl_hours",
                "backup_retention_days", "validation_interval_hours", "schedule", "frequency",
                "compression", "retention_policy", "cleanup_strategy", "validation_enabled"):
        assert not any(key in m for m in notes + unknown), key


def _custom_tree(tmp_path):
    tree = build_tree(str(tmp_path / "fba"))
    cfg = _config(tree)
    cfg["cache"]["directories"]["test_cache"] = "OUTPUTS/test_cache"
    cfg["cache"]["cache_types"]["test_cache"] = {"ttl_hours": 24, "max_size_mb": 1,
                                                 "backup_enabled": True}
    _save(tree, cfg)
    d = tree.path("OUTPUTS", "test_cache")
    os.makedirs(os.path.join(d, "sub"))
    write_json(os.path.join(d, "a.json"), {"k": 1}, mtime=tree.now - 2 * DAY)
    write_json(os.path.join(d, "sub", "b.json"), [1, 2], mtime=tree.now - 60)
    with open(os.path.join(d, "torn.json"), "w") as fh:
        fh.write('{"k": ')
    return tree, d


def test_custom_cache_type_is_managed_with_generic_json_checks(tmp_path):
    tree, d = _custom_tree(tmp_path)
    val = maintain(tree.cli_args("validate", "--cache-type", "test_cache", "--json"))
    data = _json(val)
    bad = {os.path.basename(f["path"]) for f in data["files"] if not f["is_valid"]}
    assert val.returncode == 2 and bad == {"torn.json"} and len(data["files"]) == 3
    met = _json(maintain(tree.cli_args("metrics", "--cache-type", "test_cache", "--json",
                                       "--content")))
    assert met["types"]["test_cache"]["file_count"] == 3
    assert met["types"]["test_cache"]["corrupt_count"] == 1
    p = maintain(tree.cli_args("clear", "--cache-type", "test_cache", "--strategy", "selective",
                               "--yes"))
    assert p.returncode == 0, p.stdout
    assert not os.path.exists(os.path.join(d, "a.json"))  # 2 days old, TTL 24 h
    assert os.path.exists(os.path.join(d, "sub", "b.json"))
    assert [b["cache_type"] for b in _json(maintain(tree.cli_args(
        "backups", "--cache-type", "test_cache", "--json")))["backups"]["test_cache"]] == [
        "test_cache"]  # the clear's safety backup (backup_enabled)


def _cap(tree, gb):
    cfg = _config(tree)
    cfg["cache"]["global_settings"]["max_total_size_gb"] = gb
    _save(tree, cfg)


def test_max_total_size_gb_enforced_by_health(tree):
    _cap(tree, 1e-7)  # ~107 bytes, far less than the tree holds
    p = maintain(tree.cli_args("health", "--json"))
    data = _json(p)
    over = [i for i in data["issues"] if i["code"] == "size.total_over"]
    assert p.returncode == 1 and len(over) == 1 and "max_total_size_gb" in over[0]["message"]
    assert any(" clear " in r and "--strategy size_based" in r for r in data["recommendations"])
    _cap(tree, 5.0)
    data = _json(maintain(tree.cli_args("health", "--json")))
    assert not [i for i in data["issues"] if i["code"] == "size.total_over"]


def test_max_total_size_gb_enforced_by_size_based_across_types(tree):
    sizes = _json(maintain(tree.cli_args("metrics", "--json")))["types"]
    total = sum(m["total_bytes"] for m in sizes.values())
    amazon = sizes["amazon_cache"]["total_bytes"]
    # room for everything but ~half of the amazon entries; per-type limits are far away
    _cap(tree, (total - amazon / 2) / 1024 ** 3)
    p = maintain(tree.cli_args("clear", "--strategy", "size_based", "--cache-type",
                               "amazon_cache", "--yes", "--json"))
    data = _json(p)
    assert p.returncode == 0, p.stdout
    gone = [a for a in data["actions"] if "max_total_size_gb" in a["reason"]]
    assert gone and all(a["done"] for a in gone)
    after = _json(maintain(tree.cli_args("metrics", "--json")))["types"]
    assert sum(m["total_bytes"] for m in after.values()) <= total - amazon / 2
    assert os.path.exists(tree.linking_map) and os.path.exists(tree.ai_file)  # never protected
    # every type counts towards the cap; only the type cleared size_based gives up files
    assert {a["cache_type"] for a in gone} == {"amazon_cache"}
    assert after["supplier_cache"] == sizes["supplier_cache"]


def test_cache_disabled_refuses_destructive_verbs(tree):
    cfg = _config(tree)
    cfg["cache"]["enabled"] = False
    _save(tree, cfg)
    before = snapshot(tree.root)
    for verb in (["clear", "--strategy", "full"], ["repair"], ["optimize"], ["restore"]):
        p = maintain(tree.cli_args(*verb, "--yes", "--json"))
        assert p.returncode == 3, (verb, p.stdout)
        assert _json(p)["error"]["code"] == "refused.disabled"
        assert "cache.enabled is false" in p.stderr
    assert snapshot(tree.root) == before
    dry = maintain(tree.cli_args("clear", "--strategy", "full", "--dry-run"))
    assert dry.returncode == 0 and "would: " in dry.stdout and "cache.enabled is false" in dry.stdout
    assert maintain(tree.cli_args("metrics")).returncode == 0  # reading is still fine


def test_default_strategy_comes_from_the_config(tree):
    cfg = _config(tree)
    cfg["cache"]["strategies"]["clearing"]["default"] = "full"
    del cfg["cache"]["cache_types"]["amazon_cache"]["cleanup_strategy"]
    _save(tree, cfg)
    data = _json(maintain(tree.cli_args("clear", "--cache-type", "amazon_cache", "--dry-run",
                                        "--json")))
    entries = [n for n in os.listdir(tree.amazon_dir) if n.startswith("amazon_")
               and not os.path.islink(os.path.join(tree.amazon_dir, n))]
    assert {a["reason"] for a in data["actions"]} == {"full clear"}
    assert len(data["actions"]) == len(entries)
    cfg["cache"]["strategies"]["clearing"]["default"] = "nuke"
    _save(tree, cfg)
    p = maintain(tree.cli_args("clear", "--dry-run"))
    assert p.returncode == 2 and "cache.strategies.clearing.default" in p.stderr


def test_available_strategies_are_enforced(tree):
    p = maintain(tree.cli_args("clear", "--strategy", "failed_extractions", "--yes", "--json"))
    assert p.returncode == 3 and _json(p)["error"]["code"] == "refused.strategy"
    assert maintain(tree.cli_args("clear", "--strategy", "full", "--dry-run")).returncode == 0


def _schedule_tree(tree, cron="0 2 * * *", **backup):
    cfg = _config(tree)
    cfg["cache"]["strategies"]["clearing"]["schedule"] = {
        "enabled": True, "cron": cron, "strategy": "performance_aware"}
    cfg["cache"]["strategies"]["backup"].update(backup)
    _save(tree, cfg)


def test_schedule_prints_crontab_and_systemd_timers(tree):
    _schedule_tree(tree, frequency="weekly")
    p = maintain(tree.cli_args("schedule"))
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    clear = [ln for ln in lines if ln.startswith("0 2 * * * ")]
    assert len(clear) == 1 and "clear --strategy performance_aware --yes" in clear[0]
    assert f"--config {tree.config_path}" in clear[0] and "CRON_TZ=UTC" in lines
    assert any(ln.startswith("0 1 * * 0 ") and " backup " in ln for ln in lines)  # weekly
    assert any(ln.startswith("0 */6 * * * ") and " validate " in ln for ln in lines)  # 6 h
    units = maintain(tree.cli_args("schedule", "--format", "systemd")).stdout
    assert "OnCalendar=*-*-* 02:00:00 UTC" in units
    assert "OnUnitActiveSec=6h" in units and "OnUnitActiveSec=24h" in units
    data = _json(maintain(tree.cli_args("schedule", "--json")))
    assert {j["name"] for j in data["jobs"]} == {"clear", "backup", "validate", "optimize"}
    _schedule_tree(tree, cron="0 25 * * *")
    p = maintain(tree.cli_args("schedule"))
    assert p.returncode == 2 and "cache.strategies.clearing.schedule.cron" in p.stderr


def test_backup_frequency_disabled_and_compression(tree):
    _schedule_tree(tree, enabled=False, compression=False)
    out = maintain(tree.cli_args("schedule")).stdout.splitlines()
    assert not [ln for ln in out if " backup " in ln and not ln.startswith(("#", "note:"))]
    p = maintain(tree.cli_args("backup", "--json"))
    data = _json(p)
    assert p.returncode == 1 and data["created"] == []
    assert data["issues"][0]["code"] == "backup.disabled"
    p = maintain(tree.cli_args("backup", "--cache-type", "linking_map", "--json"))
    (made,) = _json(p)["created"]
    assert made["archive"].endswith(made["id"] + ".tar")  # compression: false
    with open(made["archive"], "rb") as fh:
        assert fh.read(2) != b"\x1f\x8b"
    original = open(tree.linking_map, "rb").read()
    write_json(tree.linking_map, [])
    assert maintain(tree.cli_args("restore", "--cache-type", "linking_map",
                                  "--yes")).returncode == 0
    assert open(tree.linking_map, "rb").read() == original


def test_incremental_backups_reference_unchanged_files(tree):
    first = _json(maintain(tree.cli_args("backup", "--cache-type", "amazon_cache", "--json")))
    (b1,) = first["created"]
    assert b1["referenced_count"] == 0 and b1["depends_on"] == []
    (b2,) = _json(maintain(tree.cli_args("backup", "--cache-type", "amazon_cache",
                                         "--json")))["created"]
    assert b2["referenced_count"] == b2["file_count"] and b2["depends_on"] == [b1["id"]]
    assert b2["archive_bytes"] < b1["archive_bytes"] / 4  # an empty tar.gz, not the files again
    changed = os.path.join(tree.amazon_dir, "amazon_B07XX85HCW.json")
    write_json(changed, {"asin": "B07XX85HCW", "title": "new"}, mtime=tree.now)
    (b3,) = _json(maintain(tree.cli_args("backup", "--cache-type", "amazon_cache",
                                         "--json")))["created"]
    assert b3["referenced_count"] == b3["file_count"] - 1 and b3["depends_on"] == [b1["id"]]
    want = snapshot(tree.amazon_dir)
    for name in os.listdir(tree.amazon_dir):
        if name.startswith("amazon_") and not os.path.islink(os.path.join(tree.amazon_dir, name)):
            os.unlink(os.path.join(tree.amazon_dir, name))
    p = maintain(tree.cli_args("restore", "--backup", b3["id"], "--yes"))
    assert p.returncode == 0, p.stdout
    assert snapshot(tree.amazon_dir) == want  # the chain resolved, byte-exact


def test_retention_never_drops_a_backup_another_needs(tmp_path):
    tree = build_tree(str(tmp_path / "fba"))
    cfg = _config(tree)
    cfg["cache"]["strategies"]["backup"]["retention_policy"] = {
        "daily_backups": 1, "weekly_backups": 0, "monthly_backups": 0}
    _save(tree, cfg)
    ids = []
    for i in range(3):
        p = maintain([*tree.cli_args("backup", "--cache-type", "linking_map", "--json"),
                      "--now", repr(tree.now + i * 3600)])
        ids.append(_json(p)["created"][0])
    listed = _json(maintain(tree.cli_args("backups", "--cache-type", "linking_map", "--json")))
    kept = [b["id"] for b in listed["backups"]["linking_map"]]
    # the tiers keep only the newest; it references the first, which therefore stays
    assert kept == [ids[0]["id"], ids[2]["id"]] and ids[2]["depends_on"] == [ids[0]["id"]]
    write_json(tree.linking_map, [])
    assert maintain(tree.cli_args("restore", "--cache-type", "linking_map", "--yes")).returncode == 0
    assert json.load(open(tree.linking_map)) != []
    # a full backup needs nothing: the next prune may then drop the old holder
    maintain([*tree.cli_args("backup", "--cache-type", "linking_map", "--full"),
              "--now", repr(tree.now + 4 * 3600)])
    maintain([*tree.cli_args("backup", "--cache-type", "linking_map", "--full"),
              "--now", repr(tree.now + 5 * 3600)])
    listed = _json(maintain(tree.cli_args("backups", "--cache-type", "linking_map", "--json")))
    assert ids[0]["id"] not in [b["id"] for b in listed["backups"]["linking_map"]]


@pytest.mark.parametrize("freq, line", [("hourly", "0 * * * * "), ("daily", "0 1 * * * "),
                                        ("monthly", "0 1 1 * * ")])
def test_backup_frequency_sets_the_backup_job(tree, freq, line):
    _schedule_tree(tree, frequency=freq)
    out = maintain(tree.cli_args("schedule")).stdout
    assert any(ln.startswith(line) and " backup " in ln for ln in out.splitlines()), out
