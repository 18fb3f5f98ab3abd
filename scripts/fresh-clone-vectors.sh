#!/usr/bin/env bash
# The repository carries every vector its tests read. Checked here: the committed tree (HEAD)
# is cloned alone into an empty temporary folder, with nothing beside it, and every vector test
# runs from that clone — Rust (core's vector tests, compiled from the clone), Python and Node
# (the clone's test files, against the SDKs that bindings-python/run-tests.sh and
# bindings-node/run-tests.sh built and installed; run those first). A test that reads a file
# outside its repository fails here.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Nothing may point the tests elsewhere: they locate the repository and its vectors themselves.
unset INTENTRAIL_EXTERNAL_VECTORS INTENTRAIL_REPO INTENTRAIL_SDK

venv_python="$repo/target/py-venv/bin/python"
node_sdk="$repo/bindings-node"
"$venv_python" -c 'import intentrail' \
  || { echo "fresh clone: no installed Python SDK in target/py-venv (run bindings-python/run-tests.sh)" >&2; exit 1; }
ls "$node_sdk"/intentrail.*.node >/dev/null 2>&1 \
  || { echo "fresh clone: no built Node module in bindings-node/ (run bindings-node/run-tests.sh)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/intentrail-fresh-clone.XXXXXX")"
trap 'rm -rf "$work"' EXIT
clone="$work/intentrail" # alone in a new, empty folder
git clone --quiet --no-checkout "$repo" "$clone"
git -C "$clone" checkout --quiet --detach "$(git -C "$repo" rev-parse HEAD)"
cd "$clone"

# Its own target dir: the tests find the vectors through paths compiled in (CARGO_MANIFEST_DIR),
# and cargo does not rebuild a path crate that moved, so sharing target/debug with the main
# tree would hand stale paths to one side or the other. Kept across runs for its dependencies.
CARGO_TARGET_DIR="$repo/target/fresh-clone" \
  cargo test --quiet -p intentrail-core --test jcs_vectors --test wycheproof --test golden

(cd bindings-python && "$venv_python" -m pytest -q -p no:cacheprovider tests/test_vectors.py)

(cd bindings-node && INTENTRAIL_SDK="$node_sdk" node --test __test__/vectors.test.js)
