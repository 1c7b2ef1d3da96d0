#!/usr/bin/env bash
# Run cachetools' own tests against fbacache (issue #14): download the pinned cachetools sdist
# (its code is not ours, so it is fetched at test time, never vendored), extract the tests for the
# six cache classes, the decorators and the key functions, add a conftest that swaps cachetools'
# names for fbacache's before the test modules import them, and run them on the compiled core and
# on the pure-Python twin.  Exits non-zero if either run fails.
#   bash scripts/cachetools-suite.sh            (uses .venv/bin/python, or $VPY)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VPY="${VPY:-$ROOT/.venv/bin/python}"
VERSION=8.0.1
FILES="__init__.py test_lru.py test_lfu.py test_fifo.py test_rr.py test_ttl.py test_tlru.py
       test_cached.py test_cachedmethod.py test_keys.py"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VPY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "cachetools==$VERSION" -d "$WORK/dist"
tar xzf "$WORK/dist/cachetools-$VERSION.tar.gz" -C "$WORK"
mkdir "$WORK/run" "$WORK/run/tests"
for f in $FILES; do
    cp "$WORK/cachetools-$VERSION/tests/$f" "$WORK/run/tests/$f"
done
cp "$ROOT/scripts/cachetools_suite/conftest.py" "$WORK/run/conftest.py"
# the tests import cachetools itself (its Cache base and the names we replace)
"$VPY" -c "import cachetools" 2>/dev/null || "$VPY" -m pip install -q "cachetools==$VERSION"
cd "$WORK/run"
status=0
echo "== cachetools $VERSION tests on fbacache, compiled core"
"$VPY" -m pytest -q -p no:cacheprovider -p no:randomly --rootdir "$WORK/run" -c /dev/null tests "$@" || status=1
echo "== cachetools $VERSION tests on fbacache, pure-Python twin (FBACACHE_NO_EXTENSIONS=1)"
FBACACHE_NO_EXTENSIONS=1 "$VPY" -m pytest -q -p no:cacheprovider -p no:randomly --rootdir "$WORK/run" \
    -c /dev/null tests "$@" || status=1
exit $status
