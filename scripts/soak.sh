#!/usr/bin/env bash
# Soak: the rail under a steady mix of allowed, denied, replayed and rate-limited traffic for a
# long time; memory must stay flat and the counts must reconcile exactly between the load
# generator, the downstream and the receipts.
#
#   scripts/soak.sh                          # 10 minutes, 100 actions/s, SQLite, release build
#   BACKEND=postgres scripts/soak.sh         # the same on a private PostgreSQL (scripts/with-postgres.sh)
#   DURATION=20 RATE=20 PROFILE=debug scripts/soak.sh   # what CI runs (scripts/test-all.sh)
#
# Knobs (env): DURATION (s, default 600), RATE (actions/s, default 100), BACKEND (sqlite |
# postgres), PROFILE (release | debug), SAMPLE (s between RSS samples; default 5, or 1 when
# DURATION < 120), WARMUP_PCT (20), RSS_MAX_MB (100), RSS_GROWTH_PCT (10), RSS_GROWTH_MIN_MB (8).
#
# Builds `intentrail` and `bench-soak`, writes a config with `intentrail init` (a fresh tenant
# id per run, the connector pointed at bench-soak's counting downstream, a count limit on
# money.payment so that some payments are refused `rate_limited`), starts `intentrail serve`,
# runs bench-soak (load, RSS samples, reconciliation; see bench/upstream/src/bin/soak.rs), stops
# the rail, then exports the chain with `intentrail receipts export` and checks it with
# `intentrail receipts verify` (and that it holds as many receipts as bench-soak counted).
# Prints a summary (also target/soak/latest.txt, and latest.json); exits non-zero on any
# mismatch. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DURATION=${DURATION:-600}
RATE=${RATE:-100}
BACKEND=${BACKEND:-sqlite}
PROFILE=${PROFILE:-release}
if [ -z "${SAMPLE:-}" ]; then
  if [ "${DURATION%.*}" -lt 120 ]; then SAMPLE=1; else SAMPLE=5; fi
fi

case $BACKEND in
  sqlite) ;;
  postgres)
    if [ -z "${INTENTRAIL_TEST_POSTGRES_URL:-}" ]; then
      exec bash scripts/with-postgres.sh bash "$0" "$@"
    fi ;;
  *) echo "soak: BACKEND must be sqlite or postgres" >&2; exit 2 ;;
esac
case $PROFILE in
  release) cargo build --release -q -p intentrail-server --bin intentrail -p intentrail-bench --bin bench-soak ;;
  debug) cargo build -q -p intentrail-server --bin intentrail -p intentrail-bench --bin bench-soak ;;
  *) echo "soak: PROFILE must be release or debug" >&2; exit 2 ;;
esac
bin=$root/target/$PROFILE

work=$(mktemp -d)
rail_pid=
cleanup() {
  if [ -n "$rail_pid" ]; then kill "$rail_pid" 2>/dev/null || true; wait "$rail_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rail_port=$(free_port)
down_port=$(free_port)
tenant=soak-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
agent=soak-agent

"$bin/intentrail" init --dir "$work/rail" --tenant "$tenant" --agent "$agent" --refund-limit 0 >"$work/init.txt"
agent_key=$(sed -n "s/^agent \"$agent\" key.*: //p" "$work/init.txt")
admin_key=$(sed -n 's/^admin key.*: //p' "$work/init.txt")
[ -n "$agent_key" ] && [ -n "$admin_key" ] || { cat "$work/init.txt" >&2; echo "soak: no keys from init" >&2; exit 1; }
config=$work/rail/intentrail.toml
sed -i \
  -e "s|^listen = .*|listen = \"127.0.0.1:$rail_port\"|" \
  -e "s|https://api.payments.example|http://127.0.0.1:$down_port|" \
  -e "s|env:PAYMENTS_API_KEY|env:SOAK_DOWNSTREAM_KEY|" \
  -e "s|^allow_private = false|allow_private = true|" \
  "$config"
if [ "$BACKEND" = postgres ]; then
  sed -i -e "s|^ledger = .*|ledger = \"$INTENTRAIL_TEST_POSTGRES_URL\"|" "$config"
fi
# Payments: at most half of the mix's payments per 10 s window (3 of every 20 actions are
# payments), so a steady share of them is refused `rate_limited`.
pay_max=$(python3 -c "import sys;print(max(1,int(float(sys.argv[1])*3/20*10/2)))" "$RATE")
cat >>"$config" <<EOF

[[tenants.limits]]
id = "payments_per_window"
actions = ["money.payment"]
window_secs = 10
max_count = $pay_max
EOF
grep -q "127.0.0.1:$down_port" "$config" || { echo "soak: the init config changed shape" >&2; exit 1; }

SOAK_DOWNSTREAM_KEY=sk_soak_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  RUST_LOG=${RAIL_LOG:-warn} "$bin/intentrail" serve --config "$config" >"$work/rail.log" 2>&1 &
rail_pid=$!
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$rail_port/healthz" && break
  kill -0 "$rail_pid" 2>/dev/null || { cat "$work/rail.log" >&2; echo "soak: the rail exited" >&2; exit 1; }
  sleep 0.05
done

echo "soak: $PROFILE build, $BACKEND ledger, tenant $tenant, ${DURATION}s at ${RATE} actions/s (payments limited to $pay_max per 10 s)" >&2
mkdir -p target/soak
status=0
"$bin/bench-soak" --rail "http://127.0.0.1:$rail_port" --key "$agent_key" --agent "$agent" \
  --admin "$admin_key" --downstream-port "$down_port" --rail-pid "$rail_pid" \
  --duration "$DURATION" --rate "$RATE" --sample "$SAMPLE" \
  --warmup-pct "${WARMUP_PCT:-20}" --rss-max-mb "${RSS_MAX_MB:-100}" \
  --rss-growth-pct "${RSS_GROWTH_PCT:-10}" --rss-growth-min-mb "${RSS_GROWTH_MIN_MB:-8}" \
  --out "$work/report.json" | tee "$work/summary.txt" || status=$?
[ -s "$work/report.json" ] || { tail -20 "$work/rail.log" >&2; echo "soak: bench-soak did not finish (status $status)" >&2; exit 1; }

# Stop the rail (cleanly) and check the chain offline, as an auditor would.
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$rail_pid/status" 2>/dev/null || echo 0)
kill -TERM "$rail_pid"; wait "$rail_pid" 2>/dev/null || true; rail_pid=
"$bin/intentrail" receipts export --config "$config" --tenant "$tenant" -o "$work/receipts.json" 2>/dev/null
verify=$("$bin/intentrail" receipts verify "$work/receipts.json") || status=1
counted=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["receipts"]["total"])' "$work/report.json")
exported=$(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))["receipts"]))' "$work/receipts.json")
out=$work/tail.txt
echo "  receipts verify (offline, from intentrail receipts export): $verify" >"$out"
case $verify in OK:*) ;; *) status=1 ;; esac
if [ "$counted" = "$exported" ]; then
  echo "  [ok] the export holds the $exported receipts the rail served" >>"$out"
else
  echo "  [FAIL] the export holds $exported receipts, the rail served $counted" >>"$out"; status=1
fi
echo "  rail peak RSS (VmHWM) before stopping it: $((hwm / 1024)) MB" >>"$out"
errors=$(grep -cE ' ERROR |panicked' "$work/rail.log" || true)
echo "  rail log: $errors ERROR line(s)" >>"$out"
if [ "$errors" -ne 0 ]; then grep -E ' ERROR |panicked' "$work/rail.log" | head -5 >>"$out"; status=1; fi
echo "soak ($BACKEND, $PROFILE, ${DURATION}s @ ${RATE}/s): $([ "$status" -eq 0 ] && echo PASSED || echo FAILED)" >>"$out"
cat "$out" | tee -a "$work/summary.txt"
cp "$work/summary.txt" target/soak/latest.txt
cp "$work/report.json" target/soak/latest.json
exit "$status"
