"""Load the Redis fixtures plugin for this directory (unless the top-level conftest already did)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/ holds redis_fixtures.py; this directory has no __init__.py on purpose: as a package named
# "redis" on sys.path it would shadow redis-py.
_TESTS_DIR = str(Path(__file__).resolve().parent.parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("redis_fixtures"):
        config.pluginmanager.import_plugin("redis_fixtures")
