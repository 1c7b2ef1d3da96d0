"""setup.py's optional build: a failed in-place build leaves no stale compiled module behind.

An editable install whose compile fails used to keep the module an earlier build had put next
to the sources: the package then imported that stale module, built from older sources than the
Python code beside it, although the warning said the pure-Python twin was in use. The test
builds a copy of the project in place with a compiler that always fails (``CC=/bin/false``)
and Cython hidden (so the shipped, generated C is what is compiled, as from an sdist).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ["fbacache/_core/_index_c.c", "fbacache/_core/_store_c.c", "fbacache/fba/_tally_c.c"]


def _project_copy(tmp_path: Path) -> Path:
    if not (ROOT / "setup.py").is_file() or not all((ROOT / c).is_file() for c in GENERATED):
        pytest.skip("needs the source checkout with its generated C (an editable build)")
    dest = tmp_path / "project"
    (dest / "fbacache").mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copy2(ROOT / "fbacache" / "__init__.py", dest / "fbacache" / "__init__.py")
    for c in GENERATED:
        (dest / c).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / c, dest / c)
    return dest


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="CC=/bin/false is a POSIX build")
def test_a_failed_inplace_build_removes_the_stale_modules_and_warns_once(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    stale = [project / "fbacache" / "_core" / f"_index_c{suffix}",
             project / "fbacache" / "fba" / f"_tally_c{suffix}"]
    for path in stale:
        path.write_bytes(b"an earlier build")
    hide = tmp_path / "hide" / "Cython"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text('raise ImportError("Cython hidden by the test")\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("FBACACHE_REQUIRE_EXTENSIONS", "FBACACHE_NO_EXTENSIONS")}
    env.update(CC="/bin/false", PYTHONPATH=str(hide.parent))
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("WARNING: the compiled core of fbacache was NOT built") == 1, \
        proc.stderr[-3000:]
    for path in stale:
        assert not path.exists(), f"{path.name} from an earlier build was left in place"
    # the sources themselves are untouched
    assert all((project / c).is_file() for c in GENERATED)


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="CC=/bin/false is a POSIX build")
def test_a_failed_build_with_extensions_required_is_an_error(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    hide = tmp_path / "hide" / "Cython"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text('raise ImportError("Cython hidden by the test")\n')
    env = dict(os.environ, CC="/bin/false", PYTHONPATH=str(hide.parent),
               FBACACHE_REQUIRE_EXTENSIONS="1")
    env.pop("FBACACHE_NO_EXTENSIONS", None)
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode != 0
    assert "WARNING: the compiled core" not in proc.stderr
