#!/usr/bin/env bash
# From a fresh checkout: build fbacache (with its native core) and run the demo.
#   bash scripts/demo.sh
source "$(dirname "$0")/_env.sh" "msgpack,zstd"  # the demo shows the msgpack codec and zstd
exec "$VPY" -m fbacache.demo
