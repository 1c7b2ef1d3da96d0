"""Filesystem adapter for the FBA cache directories (guide: the sdist's docs/maintain.md).

``Maintenance`` and ``JsonFileStore`` are loaded on first use (PEP 562), so the CLI's
read-only verbs start without importing the backup and clearing machinery.
"""
from __future__ import annotations

from typing import Any

from fbacache.fba.config import CacheTypeConfig, FsConfig, load_config, parse_config

__all__ = ["CacheTypeConfig", "FsConfig", "JsonFileStore", "Maintenance", "load_config",
           "parse_config"]


def __getattr__(name: str) -> Any:
    if name == "Maintenance":
        from fbacache.fba.ops import Maintenance
        return Maintenance
    if name == "JsonFileStore":
        from fbacache.fba.store import JsonFileStore
        return JsonFileStore
    raise AttributeError(f"module 'fbacache.fba' has no attribute {name!r}")
