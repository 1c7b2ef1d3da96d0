"""Load and validate the ``cache`` section of the FBA system's ``system_config.json``.

The loader is strict about values and lenient about names: a bad value raises
:class:`~fbacache.errors.ConfigError` whose ``field`` is the dotted path of the
offending key (``cache.cache_types.amazon_cache.ttl_hours``); an unknown key is
kept out of the result and listed in :attr:`FsConfig.unknown_keys` so the CLI
can report it.

Example:
    >>> cfg = parse_config({"cache": {"directories": {"amazon_cache": "a"},
    ...     "cache_types": {"amazon_cache": {"ttl_hours": 1}}}}, root="/srv/fba")
    >>> cfg.cache_types["amazon_cache"].directory
    '/srv/fba/a'
    >>> cfg.cache_types["amazon_cache"].ttl_seconds
    3600.0
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from fbacache.errors import ConfigError
from fbacache.fba.numbers import check_number

__all__ = [
    "CacheTypeConfig", "FsConfig", "KNOWN_TYPES", "STRATEGIES", "load_config", "parse_config",
]

#: Cache types whose file formats the adapter knows (see ``schemas.py``).
KNOWN_TYPES = ("supplier_cache", "amazon_cache", "ai_category_cache", "linking_map")

#: Every clearing strategy ``clear`` accepts.
STRATEGIES = (
    "full", "selective", "smart_selective", "size_based", "archive_old",
    "failed_extractions", "performance_aware",
)

# Directory names with a meaning to the tool itself rather than a cache type.
_TOOL_DIRS = ("backups", "quarantine", "archive", "linking_map_backups")

_TYPE_KEYS = {"ttl_hours", "max_size_mb", "backup_enabled", "validation_enabled", "cleanup_strategy"}
_GLOBAL_KEYS = {
    "max_total_size_gb", "default_ttl_hours", "backup_retention_days",
    "validation_interval_hours", "optimization_interval_hours",
}
_SELECTIVE_KEYS = {
    "preserve_analyzed_products", "preserve_ai_categories", "preserve_linking_map",
    "clear_unanalyzed_only", "clear_failed_extractions",
}
_TOP_KEYS = {
    "enabled", "ttl_hours", "max_size_mb", "selective_clear_config", "global_settings",
    "strategies", "cache_types", "directories",
}


@dataclass(frozen=True)
class CacheTypeConfig:
    """Settings of one cache type, with its directory resolved to an absolute path."""

    name: str
    directory: str
    ttl_hours: float = 336.0
    max_size_mb: float = 500.0
    backup_enabled: bool = False
    validation_enabled: bool = True
    cleanup_strategy: str = "selective"

    @property
    def ttl_seconds(self) -> float | None:
        """TTL in seconds, or ``None`` when the type never expires (``ttl_hours == -1``)."""
        return None if self.ttl_hours < 0 else self.ttl_hours * 3600.0

    @property
    def max_size_bytes(self) -> int:
        """``max_size_mb`` in bytes."""
        return int(self.max_size_mb * 1024 * 1024)


@dataclass(frozen=True)
class FsConfig:
    """The validated ``cache`` section: types, tool directories and clearing rules."""

    root: str
    cache_types: dict[str, CacheTypeConfig]
    directories: dict[str, str]
    selective: dict[str, bool]
    global_settings: dict[str, float]
    strategies: dict[str, Any]
    retention: dict[str, int]
    unknown_keys: list[str] = field(default_factory=list)
    source: str | None = None

    @property
    def state_dir(self) -> str:
        """Directory holding the tool's own backups, quarantine and archive by default."""
        return os.path.join(self.root, ".fbacache")

    def tool_dir(self, name: str) -> str:
        """Absolute path of the tool directory ``backups``, ``quarantine`` or ``archive``."""
        if name in self.directories:
            return self.directories[name]
        return os.path.join(self.state_dir, name)

    def protected_roots(self) -> list[str]:
        """Directories a destructive operation may act inside (the cache type directories)."""
        roots = [t.directory for t in self.cache_types.values()]
        if "linking_map_backups" in self.directories:
            roots.append(self.directories["linking_map_backups"])
        return roots


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"expected true or false, got {value!r}")
    return value


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected an object, got {type(value).__name__}")
    return value


def _unknown(section: Mapping[str, Any], known: set[str], path: str, out: list[str]) -> None:
    out.extend(f"{path}.{k}" for k in section if k not in known)


def _parse_type(name: str, raw: Any, directory: str, defaults: dict[str, float],
                unknown: list[str]) -> CacheTypeConfig:
    path = f"cache.cache_types.{name}"
    spec = _obj(raw, path)
    _unknown(spec, _TYPE_KEYS, path, unknown)
    ttl_v = float(check_number(spec.get("ttl_hours", defaults["ttl_hours"]), f"{path}.ttl_hours"))
    strategy = spec.get("cleanup_strategy", "selective")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{path}.cleanup_strategy",
                          f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    return CacheTypeConfig(
        name=name, directory=directory, ttl_hours=ttl_v,
        max_size_mb=float(check_number(spec.get("max_size_mb", defaults["max_size_mb"]),
                                       f"{path}.max_size_mb")),
        backup_enabled=_bool(spec.get("backup_enabled", False), f"{path}.backup_enabled"),
        validation_enabled=_bool(spec.get("validation_enabled", True),
                                 f"{path}.validation_enabled"),
        cleanup_strategy=strategy,
    )


def _parse_retention(strategies: Mapping[str, Any], unknown: list[str]) -> dict[str, int]:
    retention = {"daily_backups": 7, "weekly_backups": 4, "monthly_backups": 3}
    backup = strategies.get("backup", {})
    policy = _obj(backup, "cache.strategies.backup").get("retention_policy", {})
    policy = _obj(policy, "cache.strategies.backup.retention_policy")
    _unknown(policy, set(retention), "cache.strategies.backup.retention_policy", unknown)
    for key in retention:
        if key in policy:
            retention[key] = int(check_number(
                policy[key], f"cache.strategies.backup.retention_policy.{key}"))
    return retention


def parse_config(data: Mapping[str, Any], root: str, source: str | None = None) -> FsConfig:
    """Validate a parsed ``system_config.json`` (or its bare ``cache`` section).

    Args:
        data: the whole config (with a ``cache`` key) or the ``cache`` section itself.
        root: directory that relative ``directories`` resolve against.
        source: where ``data`` came from, kept for messages.

    Raises:
        ConfigError: a value is invalid; ``field`` is its dotted path.
    """
    cache = _obj(data.get("cache", data), "cache")
    unknown: list[str] = []
    _unknown(cache, _TOP_KEYS, "cache", unknown)
    root = os.path.abspath(root)
    dirs_raw = _obj(cache.get("directories", {}), "cache.directories")
    directories: dict[str, str] = {}
    for name, rel in dirs_raw.items():
        if not isinstance(rel, str) or not rel.strip() or "\0" in rel:
            raise ConfigError(f"cache.directories.{name}", f"expected a path, got {rel!r}")
        directories[name] = os.path.normpath(os.path.join(root, rel))

    gs = _obj(cache.get("global_settings", {}), "cache.global_settings")
    _unknown(gs, _GLOBAL_KEYS, "cache.global_settings", unknown)
    global_settings = {k: float(check_number(v, f"cache.global_settings.{k}"))
                       for k, v in gs.items() if k in _GLOBAL_KEYS}
    default_ttl = cache.get("ttl_hours", global_settings.get("default_ttl_hours", 336))
    defaults = {
        "ttl_hours": float(check_number(default_ttl, "cache.ttl_hours")),
        "max_size_mb": float(check_number(cache.get("max_size_mb", 500), "cache.max_size_mb")),
    }

    sc = _obj(cache.get("selective_clear_config", {}), "cache.selective_clear_config")
    _unknown(sc, _SELECTIVE_KEYS, "cache.selective_clear_config", unknown)
    selective = {k: True for k in _SELECTIVE_KEYS}
    selective["clear_unanalyzed_only"] = False
    for k, v in sc.items():
        if k in _SELECTIVE_KEYS:
            selective[k] = _bool(v, f"cache.selective_clear_config.{k}")

    strategies = dict(_obj(cache.get("strategies", {}), "cache.strategies"))
    clearing = _obj(strategies.get("clearing", {}), "cache.strategies.clearing")
    available = clearing.get("available", [])
    if not isinstance(available, list):  # a str would be checked letter by letter
        raise ConfigError("cache.strategies.clearing.available",
                          f"must be a list of strategy names, got {available!r}")
    for i, name in enumerate(available):
        if name not in STRATEGIES:
            raise ConfigError(f"cache.strategies.clearing.available[{i}]",
                              f"unknown strategy {name!r}")
    retention = _parse_retention(strategies, unknown)

    types_raw = _obj(cache.get("cache_types", {}), "cache.cache_types")
    cache_types: dict[str, CacheTypeConfig] = {}
    for name, spec in types_raw.items():
        if name not in KNOWN_TYPES:
            unknown.append(f"cache.cache_types.{name}")
            continue
        if name not in directories:
            raise ConfigError(f"cache.directories.{name}",
                              f"cache type {name!r} has no directory")
        cache_types[name] = _parse_type(name, spec, directories[name], defaults, unknown)
    _check_overlap(cache_types)
    return FsConfig(root=root, cache_types=cache_types, directories=directories,
                    selective=selective, global_settings=global_settings,
                    strategies=strategies, retention=retention, unknown_keys=unknown,
                    source=source)


def _contains(outer: str, inner: str) -> bool:
    # commonpath on resolved paths: string prefixes got "/" wrong ("/" + os.sep == "//"
    # prefixes nothing), and a symlinked alias of a directory must count as that directory
    return os.path.commonpath([outer, inner]) == outer


def _check_overlap(types: Mapping[str, CacheTypeConfig]) -> None:
    # Nested type directories would let one type's strategy delete another type's files.
    real = {t.name: os.path.realpath(t.directory) for t in types.values()}
    items = sorted(types.values(), key=lambda t: (real[t.name], t.name))
    for a in items:
        for b in items:
            if a is not b and _contains(real[a.name], real[b.name]):
                raise ConfigError(f"cache.directories.{b.name}",
                                  f"overlaps the directory of {a.name!r} ({a.directory})")


def load_config(path: str, root: str | None = None) -> FsConfig:
    """Read and validate a config file.

    Args:
        path: the ``system_config.json`` file.
        root: base for relative directories; defaults to the config file's directory.

    Raises:
        ConfigError: the file is missing or unreadable (a directory, no permission), is
            not JSON (or is nested too deeply), or holds an invalid value.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError("config", f"{path} is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        # the C decoder recurses once per nesting level; no real config is nested this deep
        raise ConfigError("config", f"{path} is nested too deeply to be a config") from None
    if not isinstance(data, dict):
        raise ConfigError("config", f"{path} must hold a JSON object")
    base = root if root is not None else os.path.dirname(os.path.abspath(path))
    return parse_config(data, base, source=path)
