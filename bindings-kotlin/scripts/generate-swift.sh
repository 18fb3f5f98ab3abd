#!/usr/bin/env bash
# Generate the Swift bindings of the IntentRail native library (the same uniffi exports the
# Kotlin SDK wraps) into OUT (default: bindings-kotlin/target/swift):
#
#   IntentRail.swift          the Swift API (NativeRail with async methods, payloadHash, …)
#   IntentRailFFI.h           the C header of the library's FFI
#   IntentRailFFI.modulemap   the Clang module of that header
#
# and copy the built library (libintentrail_kotlin.so / .dylib) beside them. This machine has
# no Swift toolchain: the sources are generated and checked for their declarations here, never
# compiled or tested here. How to build them is in bindings-kotlin/README.md ("Swift").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${1:-$here/target/swift}"
cd "$repo"

# The library and uniffi-bindgen (build-native.sh builds both and is a no-op when current).
bash "$here/build-native.sh"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
profile=debug
[[ "${INTENTRAIL_KOTLIN_RELEASE:-}" == 1 ]] && profile=release
ext=so
[[ "$(uname -s)" == Darwin ]] && ext=dylib
lib="$target_dir/$profile/libintentrail_kotlin.$ext"
test -f "$lib"

rm -rf "$out.tmp"
"$target_dir/debug/uniffi-bindgen" generate --library "$lib" --language swift \
  --crate intentrail_kotlin --no-format --out-dir "$out.tmp"
cp "$lib" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
ls "$out"
