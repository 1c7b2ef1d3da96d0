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
    # the package as imported: the checkout's sources, or the installed wheel (the dist test
    # runs this suite without the sources beside it)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache"),
         "-p", "fbacache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}{proc.stderr}"
    assert "Success: no issues found" in proc.stdout


def test_public_names_are_explicit_reexports_for_strict_users(tmp_path):
    """A user running ``mypy --strict`` on ``from fbacache import ...`` gets no export errors."""
    user = tmp_path / "user_code.py"
    user.write_text(
        "from fbacache import CacheManager, LRUCache, TTLCache, cached, ConfigError\n"
        "cache: LRUCache[str, int] = LRUCache(maxsize=2)\n"
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


# A user's file: each line ending in "# E: <text>" must get a mypy error containing <text>,
# and no other line may get one.  It exercises what #14 promises to type checkers.
USER_FILE = '''\
from datetime import datetime, timedelta
from fbacache import (CacheManager, LFUCache, LRUCache, TTLCache, TLRUCache, cache_invalidate,
                      cached, cachedmethod)
from fbacache.keys import hashkey

lru: LRUCache[str, int] = LRUCache(maxsize=2)
lru["a"] = 1
lru[1] = 1  # E: Invalid index type "int" for "LRUCache[str, int]"
lru["b"] = "x"  # E: Incompatible types in assignment
total: int = lru["a"] + 1
name: str = lru["a"]  # E: Incompatible types in assignment
maybe: int = lru.get("a")  # E: Incompatible types in assignment
either: int = lru.get("a", 0)
lfu: LFUCache[int, bytes] = LFUCache(maxsize=4)
ttl: TTLCache[str, float, datetime] = TTLCache(maxsize=4, ttl=timedelta(days=1), timer=datetime.now)
tlru: TLRUCache[str, str, float] = TLRUCache(maxsize=4, ttu=lambda k, v, now: now + 1)

@cached(ttl=60)
def price(asin: str, currency: str = "GBP") -> float:
    return 1.0

ok: float = price("B01")
price(1)  # E: has incompatible type "int"; expected "str"
price("B01", cur="EUR")  # E: Unexpected keyword argument "cur"
wrong: str = price("B01")  # E: Incompatible types in assignment
price.cache_clear()

@cached(LRUCache(maxsize=32), info=True)
def square(x: int) -> int:
    return x * x

sq: int = square(3)
square("3")  # E: has incompatible type "str"; expected "int"
square.cache_info()

@cache_invalidate(keys=["product:{pid}"])
def update(pid: int, data: dict[str, str]) -> bool:
    return True

done: bool = update(1, {})
update("1", {})  # E: Argument 1 to "update" has incompatible type "str"

CacheManager(max_entries=10, default_ttl=5.0)
CacheManager(max_entires=10)  # E: Unexpected keyword argument "max_entires"
CacheManager(default_ttl="5")  # E: Argument "default_ttl" to "CacheManager" has incompatible type "str"
metrics = CacheManager().get_metrics()
rate: float = metrics["hit_rate"]
metrics["hit_ratio"]  # E: TypedDict "ManagerMetrics" has no key "hit_ratio"
key = hashkey(1, 2, x=3)
'''


def _expected_errors(text: str) -> dict[int, str]:
    return {n: line.split("# E: ", 1)[1] for n, line in enumerate(text.splitlines(), 1)
            if "# E: " in line}


def test_user_code_gets_the_expected_type_errors_under_mypy_strict(tmp_path):
    user = tmp_path / "user_typed.py"
    user.write_text(USER_FILE)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
         "--hide-error-context", "--cache-dir", str(tmp_path / "mypy_cache"),
         "--config-file", os.devnull, str(user)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    got: dict[int, list[str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split(":", 3)
        if len(parts) == 4 and parts[0].endswith("user_typed.py") and " error: " in line:
            got.setdefault(int(parts[1]), []).append(parts[3])
    expected = _expected_errors(USER_FILE)
    assert expected, "the user file must have deliberately wrong lines"
    for n, text in expected.items():
        assert any(text in message for message in got.get(n, [])), (
            f"line {n}: expected an error containing {text!r}, got {got.get(n)}\n{proc.stdout}")
    unexpected = {n: msgs for n, msgs in got.items() if n not in expected}
    assert not unexpected, f"errors on lines that should type-check:\n{proc.stdout}"


def test_user_code_gets_errors_on_the_same_lines_under_pyright(tmp_path):
    """pyright (when installed: the ``test`` extra) flags the same deliberately wrong lines."""
    import json
    import shutil

    pyright = shutil.which("pyright", path=os.path.dirname(sys.executable)) or shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (pip install pyright)")
    user = tmp_path / "user_typed.py"
    user.write_text(USER_FILE)
    (tmp_path / "pyrightconfig.json").write_text(
        # extraPaths: pyright does not follow the import hook of an editable install
        json.dumps({"pythonVersion": "%d.%d" % sys.version_info[:2], "extraPaths": [ROOT],
                    "venvPath": os.path.dirname(sys.prefix),
                    "venv": os.path.basename(sys.prefix)}))
    proc = subprocess.run([pyright, "--outputjson", str(user)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        pytest.skip(f"pyright did not run (no node?): {proc.stdout[-500:]}{proc.stderr[-500:]}")
    lines = {d["range"]["start"]["line"] + 1 for d in report["generalDiagnostics"]
             if d["severity"] == "error"}
    expected = set(_expected_errors(USER_FILE))
    assert lines == expected, (f"pyright errors on lines {sorted(lines)}, expected "
                               f"{sorted(expected)}:\n{proc.stdout}")


def test_metrics_type_lists_exactly_the_keys_get_metrics_returns():
    """ManagerMetrics is the contract of get_metrics(): a key added to one must be added to the other."""
    from typing import get_type_hints

    from fbacache import CacheManager
    from fbacache.manager_types import ManagerMetrics

    with CacheManager() as manager:
        metrics = manager.get_metrics()
    hints = get_type_hints(ManagerMetrics)
    assert set(metrics) == set(hints)
    for name, value in metrics.items():
        assert isinstance(value, hints[name]), (name, value, hints[name])
