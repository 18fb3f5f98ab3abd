#!/usr/bin/env bash
# The main job: build the rail (release) and run `intentrail demo` — the rail on its embedded
# SQLite ledger, a demo payments API, and a guided tour of governed calls. Extra arguments go to
# `intentrail demo` (see `--help`), e.g. `./scripts/demo.sh --port 0 --env-file demo.json`.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> building intentrail (release; the first build takes a few minutes)"
cargo build --release -p intentrail-server --bin intentrail
exec ./target/release/intentrail demo "$@"
