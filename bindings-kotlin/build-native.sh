#!/usr/bin/env bash
# Build what the Maven package wraps, from the workspace (run by `mvn` in generate-sources;
# a no-op apart from cargo's freshness checks when everything is current):
#
# 1. the native library: `cargo build -p intentrail-kotlin` into the workspace's target/debug
#    (the target dir every other cargo command of the workspace uses), with the same
#    per-package optimisation as the Python wheel and the Node module (EdDSA verification is
#    ~100x slower unoptimised; same settings = shared artifacts); `INTENTRAIL_KOTLIN_RELEASE=1`
#    builds --release instead;
# 2. the library, debug info stripped, as the classpath resource
#    target/native/linux-x86-64/libintentrail_kotlin.so (JNA's resource path for the platform);
# 3. the uniffi Kotlin sources generated from that library (uniffi-bindgen, built here only)
#    into target/generated-sources/uniffi.
#
# Swift bindings come from the same library: scripts/generate-swift.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

opt=(
  --config 'profile.dev.package.curve25519-dalek.opt-level=3'
  --config 'profile.dev.package.ed25519-dalek.opt-level=3'
  --config 'profile.dev.package.sha2.opt-level=3'
  --config 'profile.dev.package.intentrail-core.opt-level=3'
)
profile=debug
flags=()
if [[ "${INTENTRAIL_KOTLIN_RELEASE:-}" == 1 ]]; then
  profile=release
  flags=(--release)
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) resource=linux-x86-64 lib=libintentrail_kotlin.so ;;
  Linux-aarch64) resource=linux-aarch64 lib=libintentrail_kotlin.so ;;
  Darwin-x86_64) resource=darwin-x86-64 lib=libintentrail_kotlin.dylib ;;
  Darwin-arm64) resource=darwin-aarch64 lib=libintentrail_kotlin.dylib ;;
  *) echo "build-native.sh: unsupported platform $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

cargo build --quiet -p intentrail-kotlin "${flags[@]}" "${opt[@]}"
built="$target_dir/$profile/$lib"
test -f "$built"

# 2. The resource, replaced atomically and only when the library changed.
dest_dir="$here/target/native/$resource"
mkdir -p "$dest_dir"
dest="$dest_dir/$lib"
stamp="$here/target/native.stamp"
source_mtime="$(stat -c %Y "$built" 2>/dev/null || stat -f %m "$built")"
if [[ ! -f "$dest" || ! -f "$stamp" || "$(cat "$stamp")" != "$source_mtime:$profile" ]]; then
  tmp="$dest.tmp.$$"
  if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$tmp" "$built" 2>/dev/null || cp "$built" "$tmp"
  else
    cp "$built" "$tmp"
  fi
  mv -f "$tmp" "$dest"
  echo "$source_mtime:$profile" > "$stamp"
fi

# 3. The uniffi Kotlin sources, from the library just built (library mode reads the exported
# interface from it, so sources and library always match).
gen="$here/target/generated-sources/uniffi"
gen_stamp="$here/target/generated-sources/.source-mtime"
if [[ ! -f "$gen_stamp" || "$(cat "$gen_stamp")" != "$source_mtime:$profile" ]]; then
  cargo build --quiet -p intentrail-uniffi-bindgen --features cli --bin uniffi-bindgen
  rm -rf "$gen.tmp"
  "$target_dir/debug/uniffi-bindgen" generate --library "$built" --language kotlin \
    --crate intentrail_kotlin --no-format --out-dir "$gen.tmp"
  rm -rf "$gen"
  mv "$gen.tmp" "$gen"
  echo "$source_mtime:$profile" > "$gen_stamp"
fi
