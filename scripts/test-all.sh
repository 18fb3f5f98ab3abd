#!/usr/bin/env bash
# Every test of the project, from a fresh machine: formatting, lints, the Rust workspace
# (unit, golden vectors, property tests, end-to-end over real HTTP with the real binary), the
# fuzz targets' build, and the SDK suites as they land. Installs what it needs itself and
# exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "moto_server for the AWS Secrets Manager tests (pip, into target/moto-venv)"
# shellcheck source=scripts/test-credentials.sh
source scripts/test-credentials.sh --setup

step "GitHub's OpenAPI description for the profile import test (npm @octokit/openapi, into target/openapi-docs)"
octokit_version=23.0.2
octokit_dir="$PWD/target/openapi-docs"
octokit_pkg="$octokit_dir/node_modules/@octokit/openapi"
if ! grep -q "\"version\": \"$octokit_version\"" "$octokit_pkg/package.json" 2>/dev/null; then
  mkdir -p "$octokit_dir"
  npm install --prefix "$octokit_dir" --no-save --no-audit --no-fund --loglevel=error \
    "@octokit/openapi@$octokit_version"
fi
export INTENTRAIL_TEST_GITHUB_OPENAPI="$octokit_pkg/generated/api.github.com.json"
test -s "$INTENTRAIL_TEST_GITHUB_OPENAPI"

step "cargo test (workspace: unit, vectors, properties, e2e over HTTP, credential stores, canary; a private PostgreSQL for the shared ledger suite, two-instance and crash tests)"
bash scripts/with-postgres.sh cargo test --workspace

step "soak harness, short: 15 s at 20 actions/s on SQLite and on PostgreSQL (debug build; the 10-minute release soak is scripts/soak.sh, docs/operations.md)"
DURATION=15 RATE=20 PROFILE=debug bash scripts/soak.sh
DURATION=15 RATE=20 PROFILE=debug BACKEND=postgres bash scripts/soak.sh

step "Python SDK: pip builds the release wheel (as pip install ./bindings-python does), installed into a fresh venv, pytest against the real binary"
INTENTRAIL_BIN="$PWD/target/debug/intentrail" bindings-python/run-tests.sh

step "Node SDK: release module, npm pack + npm install into a fresh folder, node --test against the real binary, tsc"
INTENTRAIL_BIN="$PWD/target/debug/intentrail" bash bindings-node/run-tests.sh

step "fresh clone: the committed tree alone in an empty folder replays every vector test (Rust, Python, Node)"
bash scripts/fresh-clone-vectors.sh

step "fuzz targets build (core/fuzz; running them is for local use)"
cargo check --manifest-path core/fuzz/Cargo.toml --target-dir target/fuzz --quiet

step "Kotlin SDK: native library once (cargo, target/debug), uniffi Kotlin sources, mvn -q verify (JUnit 5 against the real binary), jar check, Swift bindings generated"
INTENTRAIL_BIN="$PWD/target/debug/intentrail" bash bindings-kotlin/run-tests.sh

step "done: every suite passed"
