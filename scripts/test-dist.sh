#!/usr/bin/env bash
# Test the distributions, not the checkout: build the sdist and the wheel, check what is in
# them, install the wheel into a fresh venv OUTSIDE the checkout and run the sdist's test suite
# against it (so a file missing from either distribution fails), then install the sdist with no
# working C compiler (it must succeed on the pure-Python core, and must fail when
# FBACACHE_REQUIRE_EXTENSIONS=1).  Run by CI after scripts/test.sh; needs .venv from it.
#   bash scripts/test-dist.sh [extra pytest args for the wheel run]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VPY="$ROOT/.venv/bin/python"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fbacache-dist.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
pip_q() { "$1" -m pip install -q --disable-pip-version-check "${@:2}"; }

echo "== build the sdist and the wheel"
pip_q "$VPY" build
# the sdist from a clean export of HEAD plus the working tree's changes would need git tricks;
# build from the checkout itself (MANIFEST.in decides what goes in)
(cd "$ROOT" && FBACACHE_REQUIRE_EXTENSIONS=1 "$VPY" -m build -q --outdir "$WORK/dist" . >/dev/null)
SDIST="$(ls "$WORK"/dist/fbacache-*.tar.gz)"
WHEEL="$(ls "$WORK"/dist/fbacache-*.whl)"
echo "   $(basename "$SDIST") $(du -k "$SDIST" | cut -f1) KiB; $(basename "$WHEEL") $(du -k "$WHEEL" | cut -f1) KiB"

echo "== check their contents"
"$VPY" - "$SDIST" "$WHEEL" <<'PY'
import sys, tarfile, zipfile, subprocess, tempfile, os
sdist, wheel = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
bad = [n for n in names if n.endswith((".pyx", ".pxi", ".pxd", ".c"))]
assert not bad, f"sources in the wheel: {bad}"
sos = [n for n in names if n.startswith("fbacache/_core/_index_c") and n.endswith((".so", ".pyd"))]
assert sos, f"no compiled core in the wheel: {names}"
assert any(n.endswith("fbacache/py.typed") for n in names), "py.typed missing from the wheel"
with tempfile.TemporaryDirectory() as d:
    so = zipfile.ZipFile(wheel).extract(sos[0], d)
    sections = subprocess.run(["readelf", "-S", so], capture_output=True, text=True).stdout
    assert ".debug_info" not in sections, "the wheel's core keeps its debug info"
    print(f"   core {os.path.getsize(so) // 1024} KiB, no debug info, no sources")
meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
for needle in ("License-Expression: MIT", "Classifier: Typing :: Typed", "Requires-Python: >=3.9"):
    assert needle in meta, f"wheel metadata lacks {needle!r}"
entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt")))
assert b"fbacache-maintain" in entry, "no fbacache-maintain console script"
members = tarfile.open(sdist).getnames()
top = members[0].split("/")[0]
for need in ("LICENSE", "tests/conftest.py", "tests/core", "tests/fba", "docs",
             "fbacache/_core/_index_c.pyx", "fbacache/_core/_index_c.c", "fbacache/_core/_store.pxi",
             "fbacache/_core/_store_c.c", "scripts/install-redis.sh"):
    assert any(m == f"{top}/{need}" or m.startswith(f"{top}/{need}/") for m in members), \
        f"sdist lacks {need}"
print(f"   sdist: {len(members)} members, tests/docs/C source included")
PY

echo "== the sdist's tests against the installed wheel (fresh venv outside the checkout)"
"${PYTHON:-python3}" -m venv "$WORK/wheel-venv"
WPY="$WORK/wheel-venv/bin/python"
pip_q "$WPY" --upgrade pip
pip_q "$WPY" "$WHEEL[test,redis]"
mkdir "$WORK/src" && tar -xzf "$SDIST" -C "$WORK/src"
SRC="$(ls -d "$WORK"/src/fbacache-*)"
rm -rf "$SRC/fbacache"  # the tests must import the installed wheel, not the sources
(cd "$SRC" && "$WPY" -c 'import fbacache, sys; assert fbacache.NATIVE, fbacache.CORE_IMPLEMENTATION; assert "site-packages" in fbacache.__file__, fbacache.__file__')
# Every test but those that start Redis servers (the main job runs those against the checkout;
# here the point is the distribution: every module imports, every data file is there).
if [ $# -eq 0 ]; then set -- tests -m "not redis"; fi
(cd "$SRC" && "$WPY" -m pytest -q -x -p no:cacheprovider -p no:randomly "$@")
"$WORK/wheel-venv/bin/fbacache-maintain" --help >/dev/null

echo "== the sdist with no working C compiler: installs, runs on the pure-Python core"
"${PYTHON:-python3}" -m venv "$WORK/nocc-venv"
NPY="$WORK/nocc-venv/bin/python"
pip_q "$NPY" --upgrade pip
env -u FBACACHE_REQUIRE_EXTENSIONS CC=/bin/false "$NPY" -m pip install -q --disable-pip-version-check "$SDIST"
out="$(cd "$WORK" && env -u FBACACHE_REQUIRE_EXTENSIONS "$NPY" -W always -c 'import fbacache; print(fbacache.CORE_IMPLEMENTATION)' 2>&1)"
echo "$out" | grep -q '^py$' || { echo "expected the pure-Python core, got: $out"; exit 1; }
echo "$out" | grep -q 'PurePythonCoreWarning' || { echo "no warning about the pure-Python core: $out"; exit 1; }
echo "   installed without a compiler: core=py, one PurePythonCoreWarning"
if env FBACACHE_REQUIRE_EXTENSIONS=1 CC=/bin/false "$NPY" -m pip install -q --force-reinstall \
        --no-deps --disable-pip-version-check "$SDIST" >/dev/null 2>&1; then
    echo "FBACACHE_REQUIRE_EXTENSIONS=1 did not make the failed compile an error"; exit 1
fi
echo "   FBACACHE_REQUIRE_EXTENSIONS=1 with no compiler: the install fails, as it must"
echo "== distributions OK"
