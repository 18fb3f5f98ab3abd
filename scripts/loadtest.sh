#!/usr/bin/env bash
# Load test of the one-shot governed path next to a direct call to the same downstream.
# Builds the release binary, starts `intentrail demo` (embedded SQLite, synchronous=FULL), and
# drives both with wrk (installed from apt if missing): POST, fixed connections and duration.
#   scripts/loadtest.sh [DURATION_S=30] [CONNECTIONS=32] [THREADS=2]
# Prints wrk's summaries; cleans up every process it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-30}; conns=${2:-32}; threads=${3:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p intentrail-server --bin intentrail
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
./target/release/intentrail demo --port 0 --no-tour --refund-limit 0 --dir "$work/demo" --env-file "$work/env.json" >"$work/demo.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/env.json" ] && break; sleep 0.1; done
[ -s "$work/env.json" ] || { cat "$work/demo.log"; exit 1; }
field() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/env.json" "$1"; }
rail=$(field rail_url); down=$(field downstream_url); key=$(field api_key); agent=$(field agent_id)
secret=$(cat "$work/demo/payments-api-key")
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LT_KEY")
local agent = os.getenv("LT_AGENT")
if agent and agent ~= "" then wrk.headers["IntentRail-Agent"] = agent end
wrk.body = os.getenv("LT_BODY")
LUA
params='{"amount":5000,"currency":"usd","payment_id":"pay_123"}'
echo "== direct: POST $down/v1/refunds (${conns} connections, ${dur}s)"
LT_KEY=$secret LT_AGENT= LT_BODY=$params wrk -t"$threads" -c"$conns" -d"${dur}s" --latency -s "$work/post.lua" "$down/v1/refunds"
echo "== rail one-shot: POST $rail/v1/actions/money.refund (${conns} connections, ${dur}s)"
LT_KEY=$key LT_AGENT=$agent LT_BODY="{\"params\":$params}" wrk -t"$threads" -c"$conns" -d"${dur}s" --latency -s "$work/post.lua" "$rail/v1/actions/money.refund"
echo "== rail status check"
curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $key" -H "IntentRail-Agent: $agent" -H 'Content-Type: application/json' -d "{\"params\":$params}" "$rail/v1/actions/money.refund"
