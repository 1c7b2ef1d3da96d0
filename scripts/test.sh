#!/usr/bin/env bash
# From a fresh checkout: create .venv, build the native core, install the test dependencies and a
# real redis-server, then run the whole test suite (core and cache tests on both the compiled core
# and the pure-Python twin), and the docstring examples once more on the twin.  Extra arguments go
# to the main pytest run.
#   bash scripts/test.sh
# Environment: FBACACHE_STRESS scales stress/crash loop counts (default 1.0);
# FBACACHE_REQUIRE_EXTENSIONS=1 (set by CI) fails the run if the compiled core did not load.
source "$(dirname "$0")/_env.sh" "test,redis,bench"
bash "$ROOT/scripts/install-redis.sh"
echo "== test suite (core: $("$VPY" -c 'import fbacache; print(fbacache.CORE_IMPLEMENTATION)'))"
"$VPY" -m pytest "$@"
# The core and cache tests ran on the compiled core and on the twin in that one run (the session
# fixture `core`, tests/conftest.py). The docstring examples once more with the twin selected by
# the environment variable, as a user without a compiler gets it:
echo "== docstring examples on the pure-Python twin (FBACACHE_NO_EXTENSIONS=1)"
FBACACHE_NO_EXTENSIONS=1 "$VPY" -m pytest -q fbacache -p no:cacheprovider
echo "== cachetools' own tests against fbacache (compiled core and twin)"
VPY="$VPY" bash "$ROOT/scripts/cachetools-suite.sh"
