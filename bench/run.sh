#!/usr/bin/env bash
# The rail next to its alternatives, in one run, on this machine.
#
#   bench/run.sh            # ROUNDS=3 DURATION=10 CONNECTIONS=32 LAT_ROUNDS=2 LAT_DURATION=8
#
# Builds the release binaries, starts
#   - upstream : bench-upstream (bench/upstream), a tiny hyper server answering POST with JSON
#   - nginx    : from apt, plain proxy_pass to the upstream with keepalive (config under a temp dir)
#   - rail     : `intentrail serve` on SQLite (WAL, synchronous=FULL), money.refund → upstream
# and drives them with the same load, interleaved over several rounds:
#   direct   : wrk → upstream                              POST the params (~0.75 KB)
#   nginx    : wrk → nginx → upstream                      same body
#   one-shot : wrk → rail POST /v1/actions/money.refund    {"params": …} (full pipeline)
#   proxy    : wrk → rail POST /v1/proxy/bench/v1/refunds   the params as the vendor's own body
#              (transparent mode: a profile imported from a small OpenAPI document of the
#              upstream; the same pipeline, one-shot, with the same cap and limit as one-shot)
#   mcp      : wrk → rail POST /mcp                        an MCP tools/call of money_refund with
#              the same params (MCP server mode: the same one-shot pipeline, same cap and limit)
#   two-phase: bench-twophase → rail POST /v1/intents, then POST /v1/execute with the permit,
#              on one keep-alive connection per client; one "request" = one governed action
#              (two HTTP round trips). wrk cannot chain a response into the next request of the
#              same connection, so this mode uses its own closed-loop client (same connections,
#              duration and thread count); its one-shot calibration row shows how it compares
#              with wrk on the same endpoint.
# Prints one table (medians over rounds): req/s, p50, p99, errors, CPU µs per request of the
# proxy process (nginx workers / rail) and of the upstream, ratios against direct and nginx;
# then a 1-connection latency run (added µs over direct) and the rail's RSS.
# Every process it starts is stopped on exit. Output also goes to target/bench/latest.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
LAT_ROUNDS=${LAT_ROUNDS:-2}
LAT_DURATION=${LAT_DURATION:-8}
MODES=${MODES:-direct nginx oneshot twophase proxy mcp}
QUIET_WAIT=${QUIET_WAIT:-90}   # seconds to wait for the 1-minute load to drop below 1.5

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need nginx nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p intentrail-server -p intentrail-bench --bins
bin=$root/target/release
rail_bin=${RAIL_BIN:-$bin/intentrail}   # RAIL_BIN=path compares another rail build

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { # url [method]
  for _ in $(seq 200); do curl -s -o /dev/null -X "${2:-GET}" "$1" && return 0; sleep 0.05; done
  echo "bench: $1 did not come up" >&2; return 1
}
cputicks() { # pid... → utime+stime of all, in clock ticks
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(awk '{sub(/^.*\) /,""); print $12 + $13}' "/proc/$p/stat")))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# --- upstream -------------------------------------------------------------------------------
up_port=$(free_port)
"$bin/bench-upstream" "$up_port" 2 2>"$work/upstream.log" &
up_pid=$!; pids+=("$up_pid")
wait_http "http://127.0.0.1:$up_port/" POST

# --- nginx ----------------------------------------------------------------------------------
ng_port=$(free_port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  client_body_buffer_size 64k;
  upstream up { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$ng_port;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
EOF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx/stderr.log" &
ng_pid=$!; pids+=("$ng_pid")
wait_http "http://127.0.0.1:$ng_port/" POST
ng_workers=$(pgrep -P "$ng_pid" | tr '\n' ' ')

# --- rail -----------------------------------------------------------------------------------
rail_port=$(free_port)
"$bin/intentrail" init --dir "$work/rail" --tenant bench --agent bench-agent --refund-limit 0 >"$work/init.txt"
agent_key=$(sed -n 's/^agent "bench-agent" key.*: //p' "$work/init.txt")
[ -n "$agent_key" ] || { cat "$work/init.txt"; echo "bench: no agent key" >&2; exit 1; }
sed -i \
  -e "s|^listen = .*|listen = \"127.0.0.1:$rail_port\"|" \
  -e "s|https://api.payments.example|http://127.0.0.1:$up_port|" \
  -e "s|env:PAYMENTS_API_KEY|env:BENCH_UPSTREAM_KEY|" \
  -e "s|^allow_private = false|allow_private = true|" \
  -e 's|^@id("allow_refunds")|@id("allow_proxy_refunds")\npermit(principal, action == Action::"bench.createRefund", resource);\n@id("proxy_refund_cap")\nforbid(principal, action == Action::"bench.createRefund", resource)\n  when { context.params.body.amount > 10000 };\n@id("allow_refunds")|' \
  "$work/rail/intentrail.toml"
# Transparent mode: the upstream's refund endpoint as an OpenAPI profile bound to the same
# connector, with the same cap (policy above) and a limit like one-shot's.
cat >>"$work/rail/intentrail.toml" <<'TOML'

[[tenants.limits]]
id = "proxy_refunds_per_hour"
actions = ["bench.createRefund"]
window_secs = 3600
max_count = 10000000
sum_param = "/body/amount"
max_sum = 1000000000000

[[tenants.profiles]]
name = "bench"
connector = "payments"
TOML
cat >"$work/openapi.json" <<'JSON'
{"openapi": "3.1.0", "info": {"title": "bench upstream", "version": "1"},
 "paths": {"/v1/refunds": {"post": {"operationId": "createRefund",
   "requestBody": {"required": true, "content": {"application/json": {"schema": {
     "type": "object", "required": ["payment_id", "amount", "currency"],
     "additionalProperties": false,
     "properties": {"payment_id": {"type": "string", "minLength": 1, "maxLength": 128},
                    "amount": {"type": "integer", "minimum": 1},
                    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                    "reason": {"type": "string", "maxLength": 500}}}}}},
   "responses": {"200": {"description": "refunded"}}}}}}
JSON
"$rail_bin" profiles import bench "$work/openapi.json" --config "$work/rail/intentrail.toml" \
  >"$work/import.txt" 2>&1 || { cat "$work/import.txt" >&2; echo "bench: profile import failed" >&2; exit 1; }
BENCH_UPSTREAM_KEY=sk_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  ${RAIL_LOG:+RUST_LOG=$RAIL_LOG} "$rail_bin" serve --config "$work/rail/intentrail.toml" \
  >"$work/rail.log" 2>&1 &
rail_pid=$!; pids+=("$rail_pid")
wait_http "http://127.0.0.1:$rail_port/healthz"

# --- load -----------------------------------------------------------------------------------
# ~0.75 KB of params: the refund schema's longest payment_id and reason.
pid_s=$(printf 'pay_%0124d' 7)
reason=$(python3 -c 'print(("customer asked for a refund of a duplicate charge; " * 11)[:500])')
params="{\"payment_id\":\"$pid_s\",\"amount\":5000,\"currency\":\"usd\",\"reason\":\"$reason\"}"
printf '%s' "$params" >"$work/params.json"
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("LT_KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
local agent = os.getenv("LT_AGENT")
if agent and agent ~= "" then wrk.headers["IntentRail-Agent"] = agent end
if os.getenv("LT_MCP") == "1" then -- one stateless MCP request (protocol revision 2026-07-28)
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = "money_refund"
end
wrk.body = os.getenv("LT_BODY")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
# sanity: each path answers 200
for u in "http://127.0.0.1:$up_port/v1/refunds" "http://127.0.0.1:$ng_port/v1/refunds"; do
  c=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$params" "$u")
  [ "$c" = 200 ] || { echo "bench: $u answered $c" >&2; exit 1; }
done
c=$(curl -s -o "$work/oneshot.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $agent_key" \
  -H 'IntentRail-Agent: bench-agent' -H 'Content-Type: application/json' \
  -d "{\"params\":$params}" "http://127.0.0.1:$rail_port/v1/actions/money.refund")
[ "$c" = 200 ] || { cat "$work/oneshot.json" "$work/rail.log" >&2; echo "bench: rail answered $c" >&2; exit 1; }
c=$(curl -s -o "$work/proxy.txt" -w '%{http_code}' -X POST -H "Authorization: Bearer $agent_key" \
  -H 'Content-Type: application/json' -d "$params" "http://127.0.0.1:$rail_port/v1/proxy/bench/v1/refunds")
[ "$c" = 200 ] || { cat "$work/proxy.txt" "$work/rail.log" >&2; echo "bench: rail proxy answered $c" >&2; exit 1; }

mcp_meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
mcp_body="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"money_refund\",\"arguments\":$params,$mcp_meta}}"
c=$(curl -s -o "$work/mcp.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $agent_key" \
  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: money_refund' \
  -d "$mcp_body" "http://127.0.0.1:$rail_port/mcp")
{ [ "$c" = 200 ] && grep -q '"isError":false' "$work/mcp.json"; } ||
  { cat "$work/mcp.json" "$work/rail.log" >&2; echo "bench: rail /mcp answered $c" >&2; exit 1; }

results=$work/results.txt; : >"$results"
# run MODE ROUND CONNS THREADS DURATION
run() {
  local mode=$1 round=$2 conns=$3 threads=$4 dur=$5 out proxy_pids="" t0p t0u t1p t1u line
  case $mode in
    nginx) proxy_pids=$ng_workers ;;
    oneshot|twophase|oneshot-client|proxy|mcp) proxy_pids=$rail_pid ;;
  esac
  t0p=$(cputicks $proxy_pids); t0u=$(cputicks "$up_pid")
  case $mode in
    direct) out=$(LT_KEY= LT_AGENT= LT_BODY=$params wrk -t"$threads" -c"$conns" -d"${dur}s" \
              -s "$work/post.lua" "http://127.0.0.1:$up_port/v1/refunds") ;;
    nginx) out=$(LT_KEY= LT_AGENT= LT_BODY=$params wrk -t"$threads" -c"$conns" -d"${dur}s" \
              -s "$work/post.lua" "http://127.0.0.1:$ng_port/v1/refunds") ;;
    oneshot) out=$(LT_KEY=$agent_key LT_AGENT=bench-agent LT_BODY="{\"params\":$params}" \
              wrk -t"$threads" -c"$conns" -d"${dur}s" -s "$work/post.lua" \
              "http://127.0.0.1:$rail_port/v1/actions/money.refund") ;;
    proxy) out=$(LT_KEY=$agent_key LT_AGENT= LT_BODY=$params \
              wrk -t"$threads" -c"$conns" -d"${dur}s" -s "$work/post.lua" \
              "http://127.0.0.1:$rail_port/v1/proxy/bench/v1/refunds") ;;
    mcp) out=$(LT_KEY=$agent_key LT_AGENT= LT_MCP=1 LT_BODY=$mcp_body \
              wrk -t"$threads" -c"$conns" -d"${dur}s" -s "$work/post.lua" \
              "http://127.0.0.1:$rail_port/mcp") ;;
    twophase|oneshot-client)
      local m=twophase; [ "$mode" = oneshot-client ] && m=oneshot
      out=$("$bin/bench-twophase" --addr "127.0.0.1:$rail_port" --key "$agent_key" \
              --agent bench-agent --params-file "$work/params.json" --connections "$conns" \
              --duration "$dur" --threads "$threads" --mode "$m" |
            python3 -c 'import json,sys;d=json.load(sys.stdin);print("WRK %d %d %d %d %d"%(d["actions"],d["seconds"]*1e6,d["p50_us"],d["p99_us"],d["errors"]))') ;;
  esac
  t1p=$(cputicks $proxy_pids); t1u=$(cputicks "$up_pid")
  line=$(grep '^WRK ' <<<"$out") || { echo "$out" >&2; return 1; }
  local rss; rss=$(awk '/^VmRSS/{print $2}' "/proc/$rail_pid/status")
  # mode round conns requests duration_us p50 p99 errors proxy_ticks upstream_ticks rail_rss_kb
  echo "$mode $round $conns ${line#WRK } $((t1p - t0p)) $((t1u - t0u)) $rss" >>"$results"
  sleep 1
}

load1() { cut -d' ' -f1 /proc/loadavg; }
for _ in $(seq "$QUIET_WAIT"); do
  awk -v l="$(load1)" 'BEGIN{exit !(l < 1.5)}' && break; sleep 1
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# warm-up (connections, page cache, WAL)
[ "${WARMUP:-3}" -gt 0 ] && run oneshot 0 "$CONNECTIONS" "$THREADS" "${WARMUP:-3}" >/dev/null
if [ -n "${PERF:-}" ]; then # PERF=oneshot|twophase: profile the rail over one round of that mode
  mkdir -p target/bench
  perf record -F "${PERF_FREQ:-499}" --call-graph "${PERF_CALLGRAPH:-dwarf,16384}" -p "$rail_pid" -o target/bench/perf.data -- sleep "$DURATION" 2>/dev/null &
  perf_pid=$!
  run "$PERF" 0 "$CONNECTIONS" "$THREADS" "$DURATION"
  wait "$perf_pid" || true
  echo "perf profile of the rail ($PERF): target/bench/perf.data" >&2
fi
: >"$results"
for r in $(seq "$ROUNDS"); do
  for m in $MODES; do run "$m" "$r" "$CONNECTIONS" "$THREADS" "$DURATION"; done
done
[ -n "${CALIBRATE-1}" ] && [ "$ROUNDS" -gt 0 ] && run oneshot-client 1 "$CONNECTIONS" "$THREADS" "$DURATION"
for r in $(seq "$LAT_ROUNDS"); do
  for m in $MODES; do run "$m" "$r" 1 1 "$LAT_DURATION"; done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
curl -s "http://127.0.0.1:$rail_port/metrics" >"$work/metrics.txt"
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$rail_pid/status")

mkdir -p target/bench
python3 - "$results" "$work/metrics.txt" "$HZ" "$hwm" "$load_start" "$load_end" \
  "$CONNECTIONS" "$DURATION" "$ROUNDS" "$LAT_DURATION" "$LAT_ROUNDS" "$(nproc)" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')" <<'PY' | tee target/bench/latest.txt
import sys, statistics as st, re
res, metrics, hz, hwm, l0, l1, conns, dur, rounds, ldur, lrounds, ncpu, rev = sys.argv[1:]
hz = int(hz); conns = int(conns)
rows = {}
for ln in open(res):
    m, r, c, n, d, p50, p99, err, tp, tu, rss = ln.split()
    rows.setdefault((m, int(c)), []).append(dict(n=int(n), d=int(d), p50=int(p50), p99=int(p99),
        err=int(err), tp=int(tp), tu=int(tu), rss=int(rss)))
def med(m, c, f):
    return st.median(f(x) for x in rows[(m, c)])
names = {"direct": "direct (wrk → upstream)", "nginx": "nginx proxy_pass",
         "oneshot": "rail one-shot", "twophase": "rail two-phase",
         "proxy": "rail transparent proxy", "mcp": "rail MCP tools/call",
         "oneshot-client": "rail one-shot, two-phase client (calibration)"}
rps = lambda x: x["n"] / (x["d"] / 1e6)
cpu = lambda k: (lambda x: x[k] * 1e6 / hz / max(x["n"], 1))
print(f"IntentRail bench @ {rev}: {ncpu} CPUs, load avg {l0} at start, {l1} at end; "
      f"{conns} connections, {dur} s x {rounds} rounds interleaved (medians)")
print()
print("| path | req/s | p50 µs | p99 µs | errors | CPU µs/req proxy | CPU µs/req upstream | × direct | × nginx |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
base = {m: med(m, conns, rps) if (m, conns) in rows else float("nan") for m in ("direct", "nginx")}
for m in ("direct", "nginx", "oneshot", "twophase", "proxy", "mcp", "oneshot-client"):
    if (m, conns) not in rows: continue
    r = med(m, conns, rps)
    cp = "–" if m == "direct" else f"{med(m, conns, cpu('tp')):.0f}"
    print(f"| {names[m]} | {r:,.0f} | {med(m, conns, lambda x: x['p50']):,.0f} | "
          f"{med(m, conns, lambda x: x['p99']):,.0f} | {sum(x['err'] for x in rows[(m, conns)])} | "
          f"{cp} | {med(m, conns, cpu('tu')):.0f} | {r / base['direct']:.3f} | {r / base['nginx']:.3f} |")
if ("oneshot", conns) in rows and ("twophase", conns) in rows:
    print(f"\ntwo-phase / one-shot throughput: {med('twophase', conns, rps) / med('oneshot', conns, rps):.2f}")
if ("oneshot", conns) in rows and ("mcp", conns) in rows:
    print(f"MCP tools/call / one-shot: CPU per action {med('mcp', conns, cpu('tp')) / med('oneshot', conns, cpu('tp')):.2f}x, "
          f"throughput {med('mcp', conns, rps) / med('oneshot', conns, rps):.2f}")
if ("direct", 1) in rows and ("oneshot", 1) in rows:
    print(f"\n1 connection, {ldur} s x {lrounds} rounds (medians):\n")
    print("| path | req/s | p50 µs | p99 µs | added p50 µs | added p99 µs |")
    print("|---|---:|---:|---:|---:|---:|")
    d50 = med("direct", 1, lambda x: x["p50"]); d99 = med("direct", 1, lambda x: x["p99"])
    for m in ("direct", "nginx", "oneshot", "twophase", "proxy", "mcp"):
        if (m, 1) not in rows: continue
        p50 = med(m, 1, lambda x: x["p50"]); p99 = med(m, 1, lambda x: x["p99"])
        print(f"| {names[m]} | {med(m, 1, rps):,.0f} | {p50:,.0f} | {p99:,.0f} | "
              f"{p50 - d50:+,.0f} | {p99 - d99:+,.0f} |")
rss = max(x["rss"] for k, v in rows.items() if k[0] in ("oneshot", "twophase", "proxy", "mcp") for x in v)
print(f"\nrail RSS: {rss / 1024:.0f} MB max after a round, {int(hwm) / 1024:.0f} MB peak (VmHWM)")
# stage means from the rail's /metrics
s, c = {}, {}
for ln in open(metrics):
    m = re.match(r'intentrail_stage_duration_seconds_(sum|count)\{stage="([^"]+)"\} (\S+)', ln)
    if m:
        (s if m.group(1) == "sum" else c)[m.group(2)] = float(m.group(3))
if c:
    print("rail stage means (µs, all runs): " + ", ".join(
        f"{k} {s[k] / c[k] * 1e6:.0f}" for k in c if c[k] > 0))
PY
