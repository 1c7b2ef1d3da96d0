"""The package type-checks cleanly with mypy (configuration: ``[tool.mypy]`` in pyproject.toml).

Run by hand with ``python -m mypy fbacache`` from the repository root.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_reports_no_errors(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache"), "fbacache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}{proc.stderr}"
    assert "Success: no issues found" in proc.stdout


def test_public_names_are_explicit_reexports_for_strict_users(tmp_path):
    """A user running ``mypy --strict`` on ``from fbacache import ...`` gets no export errors."""
    user = tmp_path / "user_code.py"
    user.write_text(
        "from fbacache import CacheManager, LRUCache, TTLCache, cached, ConfigError\n"
        "cache: LRUCache = LRUCache(maxsize=2)\n"
        "cache['a'] = 1\n"
        "def make() -> CacheManager:\n"
        "    return CacheManager()\n"
        "errors: tuple[type[Exception], ...] = (ConfigError,)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "mypy_cache"),
         "--config-file", os.devnull, str(user)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mypy --strict on user code:\n{proc.stdout}{proc.stderr}"
