"""Filesystem adapter for the FBA cache directories (see ``docs/maintain.md``)."""
from __future__ import annotations

from fbacache.fba.config import CacheTypeConfig, FsConfig, load_config, parse_config
from fbacache.fba.ops import Maintenance
from fbacache.fba.store import JsonFileStore

__all__ = ["CacheTypeConfig", "FsConfig", "JsonFileStore", "Maintenance", "load_config",
           "parse_config"]
