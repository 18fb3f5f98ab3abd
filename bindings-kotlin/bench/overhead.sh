#!/usr/bin/env bash
# Run bench/Overhead.kt against a running `intentrail demo` (its --env-file JSON):
#   bindings-kotlin/bench/overhead.sh demo.json [N]
# Compiles it with the SDK (Maven profile `bench`) and runs it in its own JVM.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_file="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
cd "$here"
mvn -B -q -Pbench -DskipTests test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/bench-classpath.txt -Dmdep.includeScope=test
exec java -cp "target/classes:target/test-classes:$(cat target/bench-classpath.txt)" \
  dev.intentrail.bench.OverheadKt "$env_file" "${2:-300}"
