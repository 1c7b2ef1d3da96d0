#!/usr/bin/env bash
# From a fresh checkout: create .venv, build the native core, install the test dependencies and a
# real redis-server, then run the whole test suite, and the core tests once more on the
# pure-Python twin.  Extra arguments go to the main pytest run.
#   bash scripts/test.sh
# Environment: FBACACHE_STRESS scales stress/crash loop counts (default 1.0);
# FBACACHE_REQUIRE_EXTENSIONS=1 (set by CI) fails the run if the compiled core did not load.
source "$(dirname "$0")/_env.sh" "test,redis,bench"
bash "$ROOT/scripts/install-redis.sh"
echo "== test suite (core: $("$VPY" -c 'import fbacache; print(fbacache.CORE_IMPLEMENTATION)'))"
"$VPY" -m pytest "$@"
echo "== core tests on the pure-Python twin (FBACACHE_NO_EXTENSIONS=1)"
FBACACHE_NO_EXTENSIONS=1 "$VPY" -m pytest -q tests/core tests/test_caches_contract.py tests/test_doctests.py \
    -p no:cacheprovider
echo "== cachetools' own tests against fbacache (compiled core and twin)"
VPY="$VPY" bash "$ROOT/scripts/cachetools-suite.sh"
