#!/usr/bin/env bash
# Python SDK tests against the package as users get it: pip builds the wheel from the source
# folder with the package's own settings (the PEP 517 build `pip install ./bindings-python`
# runs: release profile, stripped), the wheel FILE is installed into a fresh venv as a
# downloaded wheel would be, and pytest runs against that install and the real rail binary.
# One build serves both ways of installing: `pip install ./bindings-python` is this same
# build followed by this same install.
# Usage: bindings-python/run-tests.sh [pytest args...]
# Env: INTENTRAIL_BIN (the rail binary; default: build target/debug/intentrail), PYTHON.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
venv="$repo/target/py-venv"
wheels="$repo/target/py-wheel"

# The rail binary the tests start (INTENTRAIL_BIN overrides).
if [[ -z "${INTENTRAIL_BIN:-}" ]]; then
  cargo build -p intentrail-server --bin intentrail
  export INTENTRAIL_BIN="$repo/target/debug/intentrail"
fi

rm -rf "$venv" "$wheels"
"$python" -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip

# The wheel, built by pip exactly as `pip install ./bindings-python` builds it (no override of
# the package's settings). Its log must show the release profile: a debug extension is not
# what users should get.
build_log="$repo/target/py-wheel.log"
if ! python -m pip wheel --verbose --no-deps --wheel-dir "$wheels" "$repo/bindings-python" >"$build_log" 2>&1; then
  tail -n 60 "$build_log" >&2
  echo "pip wheel ./bindings-python failed (log: $build_log)" >&2
  exit 1
fi
if ! grep -Eq 'Finished `release` profile \[optimized\]' "$build_log"; then
  grep -E 'Finished ' "$build_log" >&2 || true
  echo "pip wheel ./bindings-python did not build the release profile (log: $build_log)" >&2
  exit 1
fi
wheel="$(ls "$wheels"/intentrail-*.whl)"
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

# A fresh venv holds nothing of ours until the wheel file is installed.
python -m pip install --quiet "$wheel" pytest httpx mypy==2.4.1 mcp==2.3.0 langchain-core==1.8.3 langgraph==1.2.24 \
  openai-agents==0.24.0 pydantic-ai-slim==2.68.0
python -c 'import intentrail, intentrail._native'

cd "$repo/bindings-python"
python -m pytest -q -p no:cacheprovider "$@" tests
