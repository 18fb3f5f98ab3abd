#!/usr/bin/env bash
# Kotlin SDK tests, the way the package is built: the native library once into the
# workspace's target/ (cargo; build-native.sh, which `mvn` also runs in generate-sources), then
# `mvn -q verify`: compile against the generated uniffi sources, JUnit 5 against the real
# `intentrail` binary (golden and external vectors, governed calls through `intentrail demo`,
# a tampering proxy, 100 concurrent coroutine calls, Spring AI tool calling), package the jar
# with the library as its resource. Then: the jar holds the library, and the Swift bindings
# generate from the same library. Installs Maven and a JDK with apt when missing; the Maven
# dependencies come from Maven Central on the first run.
# Usage: bindings-kotlin/run-tests.sh [extra mvn args...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  echo "installing Maven and a JDK (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven default-jdk-headless >/dev/null
fi

# The rail binary the tests start (INTENTRAIL_BIN overrides).
if [[ -z "${INTENTRAIL_BIN:-}" ]]; then
  cargo build -p intentrail-server --bin intentrail
  export INTENTRAIL_BIN="$repo/target/debug/intentrail"
fi
export INTENTRAIL_REPO="$repo"

bash "$here/build-native.sh"

cd "$here"
rm -rf target/surefire-reports
mvn -B -q verify "-Dintentrail.repo=$repo" "$@"

# Surefire's own summary, which -q hides.
python3 - target/surefire-reports <<'PY'
import glob, sys, xml.etree.ElementTree as ET
tests = failed = skipped = 0
for f in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    s = ET.parse(f).getroot()
    tests += int(s.get("tests")); skipped += int(s.get("skipped"))
    failed += int(s.get("failures")) + int(s.get("errors"))
if tests == 0:
    sys.exit("Kotlin SDK: no test ran")
print(f"Kotlin SDK (JUnit): {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or skipped else 0)
PY

jar="target/intentrail-0.1.0.jar"
listing="$(unzip -l "$jar")"
grep -q ' linux-x86-64/libintentrail_kotlin.so$' <<<"$listing" \
  || { echo "$jar does not carry linux-x86-64/libintentrail_kotlin.so" >&2; exit 1; }

# Swift: generated from the same library (not compiled: no Swift toolchain here).
bash "$here/scripts/generate-swift.sh" "$here/target/swift" >/dev/null
for decl in 'open class NativeRail' 'func act(action: String, paramsJson: Data, idempotencyKey: String?) async throws' \
  'public func payloadHash(json: Data)' 'enum NativeError: Swift.Error'; do
  grep -qF "$decl" "$here/target/swift/IntentRail.swift" \
    || { echo "generated Swift lacks: $decl" >&2; exit 1; }
done
echo "Swift bindings generated in bindings-kotlin/target/swift (not compiled here)"
