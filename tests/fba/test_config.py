"""Config loading: the real shape loads; bad values name their path; unknown keys are listed."""
from __future__ import annotations

import json
import os
import sys

import pytest

from fbacache.errors import ConfigError
from fbacache.fba import load_config, parse_config

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


# Every numeric key of the cache section, where it lives (issue #12, item 16): each goes
# through fbacache.fba.numbers.check_number; the last test proves none is missing here.
NUMERIC_PATHS = [
    ("ttl_hours",), ("max_size_mb",),
    ("cache_types", "amazon_cache", "ttl_hours"), ("cache_types", "amazon_cache", "max_size_mb"),
    ("global_settings", "max_total_size_gb"), ("global_settings", "default_ttl_hours"),
    ("global_settings", "backup_retention_days"),
    ("global_settings", "validation_interval_hours"),
    ("global_settings", "optimization_interval_hours"),
    ("strategies", "backup", "retention_policy", "daily_backups"),
    ("strategies", "backup", "retention_policy", "weekly_backups"),
    ("strategies", "backup", "retention_policy", "monthly_backups"),
]
BAD_NUMBERS = [float("nan"), float("inf"), float("-inf"), -2, True, False, "12", None, [1],
               10 ** 400, 1e300]


def _with(path, value):
    raw = json.loads(json.dumps(CONFIG))
    node = raw["cache"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


@pytest.mark.parametrize("path", NUMERIC_PATHS, ids=".".join)
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_every_number_refuses_nan_inf_negative_bool_and_huge(path, value):
    field = "cache." + ".".join(path)
    with pytest.raises(ConfigError) as info:
        parse_config(_with(path, value), "/r")
    assert info.value.field == field and str(info.value).startswith(field + ": ")


@pytest.mark.parametrize("path", NUMERIC_PATHS, ids=".".join)
def test_every_number_accepts_an_ordinary_value(path):
    parse_config(_with(path, 7), "/r")  # and 7.0, as JSON writers sometimes put it
    parse_config(_with(path, 7.0), "/r")


def test_numeric_keys_listed_here_are_all_the_rules():
    from fbacache.fba.numbers import RULES
    assert {p[-1] for p in NUMERIC_PATHS} == set(RULES)


def test_ttl_nan_is_refused_and_minus_one_means_never(tmp_path):
    # NaN compares false with everything: accepted, nothing of the type ever expired
    p = tmp_path / "c.json"
    p.write_text(json.dumps(CONFIG).replace('"ttl_hours": 720', '"ttl_hours": NaN'))
    with pytest.raises(ConfigError, match="ai_category_cache.ttl_hours: expected a number, "
                                          "got NaN"):
        load_config(str(p))
    assert parse_config(_with(("cache_types", "amazon_cache", "ttl_hours"), -1),
                        "/r").cache_types["amazon_cache"].ttl_seconds is None
    with pytest.raises(ConfigError, match="must be > 0 or -1"):
        parse_config(_with(("cache_types", "amazon_cache", "ttl_hours"), 0), "/r")


def test_whole_numbers_and_platform_limit():
    ret = ("strategies", "backup", "retention_policy", "weekly_backups")
    with pytest.raises(ConfigError, match="expected a whole number, got 2.5"):
        parse_config(_with(ret, 2.5), "/r")
    assert parse_config(_with(ret, 2.0), "/r").retention["weekly_backups"] == 2
    # max_size_mb in bytes must fit a signed machine word
    limit_mb = sys.maxsize // (1 << 20)
    cfg = parse_config(_with(("max_size_mb",), limit_mb), "/r")
    assert cfg.cache_types["amazon_cache"].max_size_mb == 2000  # the type's own value wins
    assert parse_config(_with(("cache_types", "amazon_cache", "max_size_mb"), limit_mb),
                        "/r").cache_types["amazon_cache"].max_size_bytes <= sys.maxsize
    with pytest.raises(ConfigError, match="exceeds this platform's limit"):
        parse_config(_with(("cache_types", "amazon_cache", "max_size_mb"), limit_mb * 2), "/r")


@pytest.mark.parametrize("dirs", [
    {"amazon_cache": "/", "linking_map": "/tmp/x"},
    {"amazon_cache": "/srv", "linking_map": "/srv/fba/lm"},
    {"amazon_cache": "/srv/fba/", "linking_map": "/srv/fba"},
])
def test_nested_directories_refused_including_the_filesystem_root(dirs):
    cfg = {"cache": {"directories": dirs, "cache_types": {"amazon_cache": {}, "linking_map": {}}}}
    with pytest.raises(ConfigError, match="overlaps the directory of"):
        parse_config(cfg, "/r")


def test_siblings_with_a_common_prefix_are_not_nested():
    cfg = {"cache": {"directories": {"amazon_cache": "/srv/fba", "linking_map": "/srv/fba2"},
                     "cache_types": {"amazon_cache": {}, "linking_map": {}}}}
    assert set(parse_config(cfg, "/r").cache_types) == {"amazon_cache", "linking_map"}


def test_a_symlinked_alias_of_a_directory_overlaps_it(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    os.symlink(tmp_path / "a" / "sub", tmp_path / "alias")
    cfg = {"cache": {"directories": {"amazon_cache": "a", "linking_map": "alias"},
                     "cache_types": {"amazon_cache": {}, "linking_map": {}}}}
    with pytest.raises(ConfigError, match="overlaps the directory of 'amazon_cache'"):
        parse_config(cfg, str(tmp_path))
