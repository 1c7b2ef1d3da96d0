"""Filesystem adapter for the FBA cache directories (see ``docs/maintain.md``)."""
from __future__ import annotations

from fbacache.fs.config import CacheTypeConfig, FsConfig, load_config, parse_config
from fbacache.fs.ops import Maintenance
from fbacache.fs.store import JsonFileStore

__all__ = ["CacheTypeConfig", "FsConfig", "JsonFileStore", "Maintenance", "load_config",
           "parse_config"]
