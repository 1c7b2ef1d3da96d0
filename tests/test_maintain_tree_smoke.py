"""benchmarks/maintain_tree.py keeps running: a tiny tree, the metrics verb only.

The ``--installed`` mode (a wheel built and installed into a temporary venv) is not run
here: building the compiled core takes longer than the rest of this file.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "maintain_tree.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ not in this checkout")


@pytest.mark.timeout(120)
def test_maintain_tree_only_metrics_prints_its_rows(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--files", "40", "--rss-files", "30",
                           "--repeat", "1", "--only", "metrics", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| verb | median s | floor |")
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["metrics"]
    cells = [c.strip() for c in rows[1].split("|")]
    assert cells[3] == "floor: du -s" and cells[5].endswith("x") and cells[6].startswith("<= 3x")
    assert not list(tmp_path.iterdir())  # the trees are removed


def test_maintain_tree_refuses_unknown_verbs() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--only", "metrics,nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--only" in proc.stderr
