"""Config loading: the real shape loads; bad values name their path; unknown keys are listed."""
from __future__ import annotations

import json
import os

import pytest

from fbacache.errors import ConfigError
from fbacache.fs import load_config, parse_config

from .conftest import CONFIG


def test_real_shape_loads_and_resolves_against_root(tmp_path):
    p = tmp_path / "cfg" / "system_config.json"
    p.parent.mkdir()
    p.write_text(json.dumps(CONFIG))
    cfg = load_config(str(p), str(tmp_path / "fba"))
    lm = cfg.cache_types["linking_map"]
    assert lm.directory == str(tmp_path / "fba" / "OUTPUTS" / "FBA_ANALYSIS" / "Linking map")
    assert lm.ttl_seconds is None and lm.backup_enabled
    assert cfg.cache_types["ai_category_cache"].ttl_seconds == 720 * 3600
    assert cfg.retention == {"daily_backups": 7, "weekly_backups": 4, "monthly_backups": 3}
    assert cfg.unknown_keys == []
    # default root: the config file's directory
    assert load_config(str(p)).root == str(p.parent)


def test_unknown_keys_are_reported_not_fatal():
    raw = json.loads(json.dumps(CONFIG))
    raw["cache"]["colour"] = "blue"
    raw["cache"]["cache_types"]["amazon_cache"]["shiny"] = True
    raw["cache"]["cache_types"]["mystery_cache"] = {}
    cfg = parse_config(raw, "/r")
    assert set(cfg.unknown_keys) == {"cache.colour", "cache.cache_types.amazon_cache.shiny",
                                     "cache.cache_types.mystery_cache"}


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c["cache_types"]["amazon_cache"].update(ttl_hours="x"),
     "cache.cache_types.amazon_cache.ttl_hours"),
    (lambda c: c["cache_types"]["amazon_cache"].update(ttl_hours=-5),
     "cache.cache_types.amazon_cache.ttl_hours"),
    (lambda c: c["cache_types"]["linking_map"].update(backup_enabled="yes"),
     "cache.cache_types.linking_map.backup_enabled"),
    (lambda c: c["cache_types"]["supplier_cache"].update(max_size_mb=-1),
     "cache.cache_types.supplier_cache.max_size_mb"),
    (lambda c: c["cache_types"]["supplier_cache"].update(cleanup_strategy="nuke"),
     "cache.cache_types.supplier_cache.cleanup_strategy"),
    (lambda c: c["selective_clear_config"].update(preserve_linking_map=1),
     "cache.selective_clear_config.preserve_linking_map"),
    (lambda c: c["strategies"]["backup"]["retention_policy"].update(daily_backups=1.5),
     "cache.strategies.backup.retention_policy.daily_backups"),
    (lambda c: c["directories"].pop("amazon_cache"), "cache.directories.amazon_cache"),
    (lambda c: c["directories"].update(amazon_cache="OUTPUTS/cached_products/sub"),
     "cache.directories.amazon_cache"),
    (lambda c: c["directories"].update(linking_map=""), "cache.directories.linking_map"),
])
def test_bad_values_name_their_path(mutate, field):
    raw = json.loads(json.dumps(CONFIG))
    mutate(raw["cache"])
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "/r")
    assert info.value.field == field
    assert field in str(info.value)


def test_missing_and_non_json_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(str(bad))


def test_tool_dirs_default_under_root_and_can_be_configured(tmp_path):
    cfg = parse_config(CONFIG, str(tmp_path))
    assert cfg.tool_dir("backups") == os.path.join(str(tmp_path), ".fbacache", "backups")
    raw = json.loads(json.dumps(CONFIG))
    raw["cache"]["directories"]["backups"] = "OUTPUTS/cache_backups"
    assert parse_config(raw, str(tmp_path)).tool_dir("backups") == \
        os.path.join(str(tmp_path), "OUTPUTS", "cache_backups")
