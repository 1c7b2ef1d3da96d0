#!/usr/bin/env bash
# Build the compiled core and run the core and cachetools-contract tests on every other
# CPython this machine has (3.9, 3.10, 3.12, 3.13 where installed; the main run uses .venv).
# A version that is not installed is reported and skipped; one that is installed must pass.
# cachetools itself is not installed here: the contract's comparison runs against it are the
# main run's (cachetools releases differ in a few edge cases, e.g. 6.2 on 3.9 accepts maxsize < 0).
#   bash scripts/test-pythons.sh [versions...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.9 3.10 3.12 3.13)
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
for v in "${versions[@]}"; do
    py="$(find_python "$v")"
    if [ -z "$py" ]; then
        echo "== python $v: not installed here, skipped"
        continue
    fi
    venv="$ROOT/.venv-py$v"
    echo "== python $v ($py): build the core, run tests/core and the cachetools contract"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip setuptools >/dev/null
    # -e: the core is compiled in place; build isolation pulls setuptools>=77 and Cython>=3
    "$venv/bin/python" -m pip install -q -e . hypothesis pytest pytest-benchmark pytest-timeout psutil
    FBACACHE_REQUIRE_EXTENSIONS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/core tests/caches/test_caches_contract.py
done
