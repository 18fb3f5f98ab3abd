#!/usr/bin/env bash
# Node SDK tests, the way users get the package: build the native module (cargo, release
# profile: scripts/install.js), pack the npm package with it, install the tarball into a FRESH
# folder with `npm install`, then run `node --test` (vectors, governed calls against the real
# `intentrail demo` rail, concurrency, the example agents, the Vercel AI SDK and LangChain.js
# adapters in their frameworks' agent loops, the rail's MCP server through the official MCP
# TypeScript SDK's client, `tsc --noEmit`) against that install.
# Also checks that the committed native.d.ts matches what the napi-rs CLI generates.
# Usage: bindings-node/run-tests.sh [extra node --test args...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

# The rail binary the tests start (INTENTRAIL_BIN overrides).
if [[ -z "${INTENTRAIL_BIN:-}" ]]; then
  cargo build -p intentrail-server --bin intentrail
  export INTENTRAIL_BIN="$repo/target/debug/intentrail"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/intentrail-node-tests.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cd "$here"
# Dev dependencies (@napi-rs/cli for the .d.ts check). `npm ci` fails with this registry
# (absent optional platform packages of the CLI's dependencies); `npm install` does not.
npm install --no-audit --no-fund --loglevel=error
node scripts/dts.js --check

# Pack (its `prepack` script builds the native module: cargo build --release -p
# intentrail-node) and install the tarball into a fresh folder, with the test setup's own dev
# dependencies.
npm pack --pack-destination "$work" --loglevel=error >/dev/null
tarball="$(ls "$work"/intentrail-*.tgz)"
echo "npm tarball: $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
mkdir "$work/app"
cd "$work/app"
cat > package.json <<'JSON'
{ "name": "intentrail-node-tests", "private": true, "version": "0.0.0" }
JSON
# Installing the tarball runs no script, and npm has nothing to warn about (npm 11 warns about
# a package with install or prepare scripts).
install_log="$work/npm-install.log"
npm install --no-audit --no-fund --loglevel=warn "$tarball" typescript@~5.9.3 @types/node@^20.9.5 2>&1 | tee "$install_log"
if grep -Eq 'install-scripts|intentrail@.*(prepare|install)' "$install_log"; then
  echo "installing the intentrail tarball warned about scripts (see above)" >&2
  exit 1
fi
node -e "require('intentrail')" # the installed package loads on its own
# The agent frameworks are optional peer dependencies: installing intentrail pulled none in.
for framework in ai @langchain/core @langchain/langgraph zod @modelcontextprotocol/sdk; do
  if [[ -e "node_modules/$framework" ]]; then
    echo "installing the intentrail tarball installed $framework" >&2
    exit 1
  fi
done
# The frameworks of the adapter tests (intentrail/ai, intentrail/langchain), beside the
# package: the versions the adapters are tested with (zod: a peer dependency of both, and of
# the MCP SDK); and the MCP client that mcp.test.js drives the rail's /mcp with.
npm install --no-audit --no-fund --loglevel=warn ai@7.0.173 @langchain/core@1.4.0 @langchain/langgraph@1.7.3 zod@4.6.7 \
  @modelcontextprotocol/sdk@1.32.2

export INTENTRAIL_SDK="$work/app/node_modules/intentrail"
export INTENTRAIL_TEST_HOME="$work/app"
export INTENTRAIL_REPO="$repo"
cd "$here"
node --test "$@" __test__/*.test.js
