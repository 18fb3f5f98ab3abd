#!/usr/bin/env bash
# Every test of the project, from a fresh machine. Installs what it needs, exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo test"
cargo test --workspace
