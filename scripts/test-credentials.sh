#!/usr/bin/env bash
# Credential-store tests: AWS Secrets Manager against a real moto_server (installed into the
# venv target/moto-venv on first use), Azure Key Vault and HashiCorp Vault against local
# doubles of their documented HTTP APIs, and the canary through the real `intentrail serve`
# binary. Everything listens on 127.0.0.1 only.
#
# moto is required here: if it cannot be installed the script fails (it never skips), so
# `CI=true` runs always exercise the AWS tests. Set MOTO_SERVER to use another moto_server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

MOTO_VERSION=5.2.5
venv=target/moto-venv
if [ -z "${MOTO_SERVER:-}" ]; then
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "==> installing moto[server]==$MOTO_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  export MOTO_SERVER="$PWD/$venv/bin/moto_server"
fi
if [ ! -x "$MOTO_SERVER" ]; then
  echo "moto_server not found at $MOTO_SERVER" >&2
  exit 1
fi
export INTENTRAIL_REQUIRE_MOTO=1
# `source scripts/test-credentials.sh --setup` only prepares moto and exports the variables (the
# workspace test run in scripts/test-all.sh then runs these tests with everything else).
if [ "${1:-}" = "--setup" ]; then
  return 0 2>/dev/null || exit 0
fi

echo "==> credential provider unit tests"
cargo test -p intentrail-server --lib credentials::
echo "==> credential stores through the rail (moto, Azure Key Vault and Vault doubles) + canary"
cargo test -p intentrail-server --test it -- credentials_ canary::
