# Shared by scripts/demo.sh and scripts/test.sh: create .venv and install fbacache into it
# (which compiles the Cython core).  Usage: source scripts/_env.sh "<pip extras>"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
EXTRAS="${1:-}"
"$VPY" -m pip install -q --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
