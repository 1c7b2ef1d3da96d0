"""Check one built fbacache wheel: what scripts/test-dist.sh and scripts/test-pythons.sh require.

    python scripts/check_wheel.py WHEEL [--manylinux]

- the compiled core (``_index_c`` and ``_store_c``) and the walker of ``maintain metrics``
  (``fba/_tally_c``) for the wheel's own CPython, and py.typed;
- no ``.pyx``/``.pxi``/``.pxd``/``.c`` sources, no libraries grafted by auditwheel;
- each compiled module without debug info and without RPATH/RUNPATH (a path of the build
  machine; see setup.py);
- with ``--manylinux`` (a wheel repaired by auditwheel): one ``cpXY-cpXY`` tag pair and only
  manylinux platform tags, so an index such as PyPI accepts it.
Exits non-zero with a message naming what is wrong; prints one line when all is well.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile


def check(wheel: str, manylinux: bool) -> str:
    name = os.path.basename(wheel)
    _, _, py_tag, abi_tag, platforms = name[:-len(".whl")].split("-")
    if py_tag != abi_tag or not py_tag.startswith("cp3"):
        raise AssertionError(f"{name}: expected one cp3X-cp3X tag pair")
    if manylinux and not all(p.startswith(("manylinux_2_", "manylinux2014_"))
                             for p in platforms.split(".")):
        raise AssertionError(f"{name}: platform tags {platforms} are not manylinux")
    z = zipfile.ZipFile(wheel)
    names = z.namelist()
    sources = [n for n in names if n.endswith((".pyx", ".pxi", ".pxd", ".c"))]
    if sources:
        raise AssertionError(f"sources in {name}: {sources}")
    grafted = [n for n in names if ".libs/" in n]
    if grafted:
        raise AssertionError(f"auditwheel grafted libraries into {name}: {grafted}")
    if "fbacache/py.typed" not in names:
        raise AssertionError(f"py.typed missing from {name}")
    suffix = f".cpython-{py_tag[2:]}-"
    sos = sorted(n for n in names if n.startswith("fbacache/") and n.endswith(".so"))
    # the core, and the walker of `maintain metrics` (built wherever the core is but Windows)
    wanted = ["fbacache/_core/_index_c", "fbacache/_core/_store_c", "fbacache/fba/_tally_c"]
    if [n.split(".")[0] for n in sos] != wanted or not all(suffix in n for n in sos):
        raise AssertionError(f"{name}: compiled core for {py_tag} expected, found {sos}")
    with tempfile.TemporaryDirectory() as d:
        for so in sos:
            path = z.extract(so, d)
            sections = subprocess.run(["readelf", "-S", path], capture_output=True,
                                      text=True, check=True).stdout
            dynamic = subprocess.run(["readelf", "-d", path], capture_output=True,
                                     text=True, check=True).stdout
            if ".debug_info" in sections:
                raise AssertionError(f"{so} keeps its debug info")
            if "RPATH" in dynamic or "RUNPATH" in dynamic:
                raise AssertionError(f"{so} carries a library search path: {dynamic}")
    return (f"{name}: compiled core for {py_tag}, stripped, no RUNPATH, no sources"
            + (", manylinux tags" if manylinux else ""))


if __name__ == "__main__":
    args = sys.argv[1:]
    manylinux = "--manylinux" in args
    paths = [a for a in args if a != "--manylinux"]
    if len(paths) != 1:
        sys.exit(__doc__)
    try:
        print("   " + check(paths[0], manylinux))
    except AssertionError as exc:
        sys.exit(f"wheel check failed: {exc}")
