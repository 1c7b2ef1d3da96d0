#!/usr/bin/env bash
# Install redis-server (>= 6) for fbacache's real-server tests.
#
# Usage: scripts/install-redis.sh
#
# Idempotent: does nothing when a redis-server >= 6 is already on PATH. Otherwise installs the
# Debian/Ubuntu package with apt-get (as root, or through sudo when available).
#
# Why policy-rc.d: the Debian package's maintainer scripts start a system-wide redis on
# 127.0.0.1:6379 as soon as it is unpacked. Our tests never use it (they start private servers on
# free loopback ports), so we forbid service starts for the duration of the install (exit code 101
# is the documented "action forbidden" answer of invoke-rc.d / deb-systemd-invoke) and, on a
# fresh install only, disable the unit so it does not come back at the next boot either.
#
# Exit codes: 0 = a usable redis-server is on PATH; 1 = it could not be installed.
set -euo pipefail

MIN_MAJOR=6

redis_major() {
    # "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=..." -> 7
    local out
    out="$(redis-server --version 2>/dev/null)" || return 1
    out="${out#*v=}"
    echo "${out%%.*}"
}

have_usable_redis() {
    command -v redis-server >/dev/null 2>&1 || return 1
    local major
    major="$(redis_major)" || return 1
    [[ "$major" =~ ^[0-9]+$ ]] && (( major >= MIN_MAJOR ))
}

if have_usable_redis; then
    echo "install-redis: $(redis-server --version) already installed at $(command -v redis-server)"
    exit 0
fi

if command -v redis-server >/dev/null 2>&1; then
    echo "install-redis: found $(redis-server --version 2>&1 | head -n1), need >= ${MIN_MAJOR}; upgrading" >&2
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-redis: redis-server >= ${MIN_MAJOR} missing and apt-get is not available;" \
         "install Redis with your package manager (or put redis-server on PATH)" >&2
    exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "install-redis: need root (or password-less sudo) to apt-get install redis-server" >&2
        exit 1
    fi
fi

POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if (( created_policy )); then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT

# Never replace a policy the administrator (or a container image) already set.
if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\n# temporary, written by fbacache scripts/install-redis.sh\nexit 101\n' \
        | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends redis-server redis-tools

# The unit may still have been started (e.g. a pre-existing policy allowed it): stop and disable it.
# Only the package's own unit is touched, and only on this fresh install.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    "${SUDO[@]}" systemctl disable --now redis-server.service >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/redis-server ]]; then
    "${SUDO[@]}" /etc/init.d/redis-server stop >/dev/null 2>&1 || true
    if command -v update-rc.d >/dev/null 2>&1; then
        "${SUDO[@]}" update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
fi

if ! have_usable_redis; then
    echo "install-redis: installation finished but redis-server >= ${MIN_MAJOR} is still not usable" >&2
    exit 1
fi
echo "install-redis: installed $(redis-server --version)"
