#!/usr/bin/env bash
# Python SDK tests: build the package the way users install it (pip + maturin) into a fresh
# venv, make sure the rail binary exists, run pytest against the real binary.
# Usage: bindings-python/run-tests.sh [pytest args...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
venv="$repo/target/py-venv"

# The rail binary the tests start (INTENTRAIL_BIN overrides).
if [[ -z "${INTENTRAIL_BIN:-}" ]]; then
  cargo build -p intentrail-server --bin intentrail
  export INTENTRAIL_BIN="$repo/target/debug/intentrail"
fi

rm -rf "$venv"
"$python" -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
# pip builds the wheel with maturin (debug profile, into this workspace's target/).
python -m pip install --quiet "$repo/bindings-python" pytest httpx

cd "$repo/bindings-python"
python -m pytest -q -p no:cacheprovider "$@" tests
