//! Soak load generator and reconciler (driven by `scripts/soak.sh`).
//!
//! Runs a counting downstream on `127.0.0.1:--downstream-port` (answers every request `200`
//! with a small JSON and counts it by `Idempotency-Key`), then drives the rail at a steady
//! open-loop rate for `--duration` seconds with a fixed mix of governed actions:
//!
//! | share | what | expected answer |
//! |---|---|---|
//! | 10/20 | one-shot `POST /v1/actions/money.refund` (amount ≤ 10 000) | `200`, downstream status 200 |
//! | 3/20 | one-shot refund over the policy cap (amount 20 000) | `403 policy_denied` |
//! | 4/20 | two-phase: intent → execute → execute the same permit again | `201`, `200`, `409 permit_already_used` |
//! | 3/20 | one-shot `money.payment` against a count limit per window | `200` or `429 rate_limited` |
//!
//! It samples the rail's RSS (`/proc/<--rail-pid>/status`) every `--sample` seconds, waits
//! for every request to finish, reads the tenant's whole chain (`GET /v1/receipts`, admin key)
//! and reconciles exactly: the permits the generator saw succeed = the distinct
//! Idempotency-Keys the downstream received (each exactly once) = the `success` execution
//! receipts; denials = `deny`/`policy_denied` receipts; limited payments = `deny`/
//! `rate_limited` receipts; replays = `rejected`/`permit_already_used` execution receipts;
//! allow decisions = intents + successful one-shots; nothing else in the chain, no other answer
//! from the rail. Memory is "flat" when the median RSS of the last quarter of the run is at
//! most the median of the first quarter after warm-up plus `max(--rss-growth-pct %,
//! --rss-growth-min-mb)`, and no sample exceeds `--rss-max-mb`.
//!
//! Prints a summary (and writes it as JSON to `--out`); exits 1 on any mismatch, 2 on bad
//! arguments or setup failures.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// Command-line options.
struct Opts {
    rail: String,
    key: String,
    agent: String,
    admin: String,
    downstream_port: u16,
    rail_pid: u32,
    duration: Duration,
    rate: f64,
    sample: Duration,
    warmup_pct: f64,
    rss_max_mb: f64,
    rss_growth_pct: f64,
    rss_growth_min_mb: f64,
    max_in_flight: usize,
    out: Option<String>,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        rail: String::new(),
        key: String::new(),
        agent: String::new(),
        admin: String::new(),
        downstream_port: 0,
        rail_pid: 0,
        duration: Duration::from_secs(600),
        rate: 100.0,
        sample: Duration::from_secs(5),
        warmup_pct: 20.0,
        rss_max_mb: 100.0,
        rss_growth_pct: 10.0,
        rss_growth_min_mb: 8.0,
        max_in_flight: 512,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |s: String| -> Result<f64, String> {
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{a}: {s:?} is not a non-negative number"))
        };
        match a.as_str() {
            "--rail" => o.rail = v()?.trim_end_matches('/').to_string(),
            "--key" => o.key = v()?,
            "--agent" => o.agent = v()?,
            "--admin" => o.admin = v()?,
            "--downstream-port" => {
                o.downstream_port = v()?.parse().map_err(|_| "bad --downstream-port")?
            }
            "--rail-pid" => o.rail_pid = v()?.parse().map_err(|_| "bad --rail-pid")?,
            "--duration" => o.duration = Duration::from_secs_f64(num(v()?)?),
            "--rate" => o.rate = num(v()?)?,
            "--sample" => o.sample = Duration::from_secs_f64(num(v()?)?),
            "--warmup-pct" => o.warmup_pct = num(v()?)?,
            "--rss-max-mb" => o.rss_max_mb = num(v()?)?,
            "--rss-growth-pct" => o.rss_growth_pct = num(v()?)?,
            "--rss-growth-min-mb" => o.rss_growth_min_mb = num(v()?)?,
            "--max-in-flight" => {
                o.max_in_flight = v()?.parse().map_err(|_| "bad --max-in-flight")?
            }
            "--out" => o.out = Some(v()?),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if o.rail.is_empty() || o.key.is_empty() || o.agent.is_empty() || o.admin.is_empty() {
        return Err("--rail, --key, --agent and --admin are required".into());
    }
    if o.downstream_port == 0 || o.rail_pid == 0 {
        return Err("--downstream-port and --rail-pid are required".into());
    }
    if o.rate <= 0.0 || o.duration.is_zero() || o.sample.is_zero() || o.max_in_flight == 0 {
        return Err("--rate, --duration, --sample and --max-in-flight must be positive".into());
    }
    if o.warmup_pct >= 75.0 {
        return Err("--warmup-pct must be below 75".into());
    }
    Ok(o)
}

// --- the counting downstream ------------------------------------------------------------------

/// What the downstream received.
#[derive(Default)]
struct Downstream {
    by_key: Mutex<HashMap<String, u32>>,
    unkeyed: AtomicU64,
}

async fn answer(
    seen: Arc<Downstream>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read the whole body, as a real API would, then count and answer.
    let _ = req.into_body().collect().await;
    match key {
        Some(k) => {
            if let Ok(mut m) = seen.by_key.lock() {
                *m.entry(k).or_default() += 1;
            }
        }
        None => {
            seen.unkeyed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut resp = Response::new(Full::new(Bytes::from_static(
        br#"{"id":"re_soak","status":"succeeded"}"#,
    )));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn serve_downstream(port: u16, seen: Arc<Downstream>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("downstream: cannot listen on 127.0.0.1:{port}: {e}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| answer(seen.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

// --- the load ---------------------------------------------------------------------------------

/// The kinds of traffic in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allowed,
    Denied,
    Replayed,
    Payment,
}

/// The mix over 20 ticks (10 allowed, 3 denied, 4 replayed, 3 payments), interleaved.
const MIX: [Kind; 20] = {
    use Kind::{Allowed as A, Denied as D, Payment as P, Replayed as R};
    [A, R, A, D, A, P, R, A, A, D, A, R, P, A, D, A, R, A, P, A]
};

/// What the generator saw.
#[derive(Default, Clone)]
struct Seen {
    /// Permit ids of executes answered 200 with downstream status 200.
    succeeded: HashSet<String>,
    allowed_ok: u64,
    denied: u64,
    intents: u64,
    replay_first_ok: u64,
    replay_refused: u64,
    payment_ok: u64,
    payment_limited: u64,
    /// Answers outside the expected ones, by "kind step status code".
    unexpected: BTreeMap<String, u64>,
    /// Ticks dropped because `--max-in-flight` requests were already open.
    dropped: u64,
    latencies_us: Vec<u64>,
}

struct Ctx {
    http: reqwest::Client,
    o: Opts,
    seen: Mutex<Seen>,
}

impl Ctx {
    fn with<R>(&self, f: impl FnOnce(&mut Seen) -> R) -> Option<R> {
        self.seen.lock().ok().map(|mut s| f(&mut s))
    }

    fn unexpected(&self, what: String) {
        self.with(|s| *s.unexpected.entry(what).or_default() += 1);
    }

    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.o.rail))
            .bearer_auth(&self.o.key)
            .header("IntentRail-Agent", &self.o.agent)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await.map_err(|e| format!("transport: {e}"))?;
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, v))
    }

    /// A 200 execute: its downstream status must be 200 and it names its permit.
    fn record_success(&self, label: &str, b: &Value) -> bool {
        match (b["status"].as_u64(), b["permit_id"].as_str()) {
            (Some(200), Some(jti)) => {
                let fresh = self
                    .with(|s| s.succeeded.insert(jti.to_string()))
                    .unwrap_or(false);
                if !fresh {
                    self.unexpected(format!("{label}: permit {jti} answered 200 twice"));
                }
                fresh
            }
            _ => {
                self.unexpected(format!("{label}: 200 without downstream 200 / permit_id"));
                false
            }
        }
    }

    async fn one(&self, kind: Kind, n: u64) {
        let label = format!("{kind:?}");
        let outcome = |r: &Result<(u16, Value), String>| match r {
            Ok((s, b)) => format!("{s} {}", b["code"].as_str().unwrap_or_default()),
            Err(e) => e.clone(),
        };
        // Amounts vary so no two payloads are equal; all within the refund cap but Denied.
        let amount = 1 + n % 9_999;
        match kind {
            Kind::Allowed | Kind::Denied => {
                let amount = if kind == Kind::Denied { 20_000 } else { amount };
                let params =
                    json!({"payment_id": format!("pay_{n}"), "amount": amount, "currency": "usd"});
                let r = self
                    .post("/v1/actions/money.refund", json!({"params": params}))
                    .await;
                match (&r, kind) {
                    (Ok((200, b)), Kind::Allowed) => {
                        if self.record_success(&label, b) {
                            self.with(|s| s.allowed_ok += 1);
                        }
                    }
                    (Ok((403, b)), Kind::Denied) if b["code"] == "policy_denied" => {
                        self.with(|s| s.denied += 1);
                    }
                    _ => self.unexpected(format!("{label}: {}", outcome(&r))),
                }
            }
            Kind::Payment => {
                let params =
                    json!({"customer": format!("cus_{n}"), "amount": amount, "currency": "usd"});
                let r = self
                    .post("/v1/actions/money.payment", json!({"params": params}))
                    .await;
                match &r {
                    Ok((200, b)) => {
                        if self.record_success(&label, b) {
                            self.with(|s| s.payment_ok += 1);
                        }
                    }
                    Ok((429, b)) if b["code"] == "rate_limited" => {
                        self.with(|s| s.payment_limited += 1);
                    }
                    _ => self.unexpected(format!("{label}: {}", outcome(&r))),
                }
            }
            Kind::Replayed => {
                let params =
                    json!({"payment_id": format!("pay_{n}"), "amount": amount, "currency": "usd"});
                let r = self
                    .post(
                        "/v1/intents",
                        json!({"action": "money.refund", "params": params}),
                    )
                    .await;
                let permit = match &r {
                    Ok((201, b)) if b["permit"].is_string() => b["permit"].clone(),
                    _ => return self.unexpected(format!("{label} intent: {}", outcome(&r))),
                };
                self.with(|s| s.intents += 1);
                let exec = json!({"permit": permit, "params": params});
                let r = self.post("/v1/execute", exec.clone()).await;
                match &r {
                    Ok((200, b)) => {
                        if self.record_success(&label, b) {
                            self.with(|s| s.replay_first_ok += 1);
                        }
                    }
                    _ => self.unexpected(format!("{label} execute: {}", outcome(&r))),
                }
                let r = self.post("/v1/execute", exec).await;
                match &r {
                    Ok((409, b)) if b["code"] == "permit_already_used" => {
                        self.with(|s| s.replay_refused += 1);
                    }
                    _ => self.unexpected(format!("{label} replay: {}", outcome(&r))),
                }
            }
        }
    }
}

/// The rail's resident set size in KiB.
fn rss_kb(pid: u32) -> Option<u64> {
    proc_status_kb(pid, "VmRSS:")
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Tally of the tenant's chain.
#[derive(Default)]
struct Chain {
    total: u64,
    /// "kind decision-or-outcome code" → count.
    by_class: BTreeMap<String, u64>,
    /// Permit ids of `success` execution receipts.
    success: HashSet<String>,
}

async fn read_chain(ctx: &Ctx) -> Result<Chain, String> {
    let mut c = Chain::default();
    let mut after = 0u64;
    loop {
        let r = ctx
            .http
            .get(format!(
                "{}/v1/receipts?after={after}&limit=1000",
                ctx.o.rail
            ))
            .bearer_auth(&ctx.o.admin)
            .send()
            .await
            .map_err(|e| format!("receipts: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("receipts: the rail answered {}", r.status()));
        }
        let page: Value = r.json().await.map_err(|e| format!("receipts: {e}"))?;
        let rows = page["receipts"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            return Ok(c);
        }
        for r in &rows {
            c.total += 1;
            let kind = r["kind"].as_str().unwrap_or("?");
            let what = r["decision"]
                .as_str()
                .or(r["outcome"].as_str())
                .unwrap_or("?");
            let code = r["code"].as_str().unwrap_or("-");
            *c.by_class
                .entry(format!("{kind} {what} {code}"))
                .or_default() += 1;
            if kind == "execution" && what == "success" {
                if let Some(j) = r["permit_id"].as_str() {
                    c.success.insert(j.to_string());
                }
            }
        }
        after = page["next_after"]
            .as_u64()
            .ok_or("receipts: no next_after in the page")?;
    }
}

fn main() {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-soak: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-soak: runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(run(o)).unwrap_or_else(|e| {
        eprintln!("bench-soak: {e}");
        2
    });
    std::process::exit(code);
}

async fn run(o: Opts) -> Result<i32, String> {
    let down = Arc::new(Downstream::default());
    serve_downstream(o.downstream_port, down.clone()).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(o.max_in_flight)
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let health = http
        .get(format!("{}/healthz", o.rail))
        .send()
        .await
        .map_err(|e| format!("the rail at {} does not answer: {e}", o.rail))?;
    if !health.status().is_success() {
        return Err(format!("the rail's /healthz answered {}", health.status()));
    }
    let rss0 = rss_kb(o.rail_pid).ok_or(format!("no /proc/{}/status", o.rail_pid))?;
    let ctx = Arc::new(Ctx {
        http,
        o,
        seen: Mutex::new(Seen::default()),
    });
    let o = &ctx.o;
    eprintln!(
        "bench-soak: {:.0} actions/s for {:.0} s against {} (rail pid {}, RSS {} MB at start)",
        o.rate,
        o.duration.as_secs_f64(),
        o.rail,
        o.rail_pid,
        rss0 / 1024
    );

    // RSS sampler.
    let samples: Arc<Mutex<Vec<(f64, u64)>>> = Arc::default();
    let start = Instant::now();
    let sampler = {
        let (samples, pid, every) = (samples.clone(), o.rail_pid, o.sample);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(kb) = rss_kb(pid) else { return };
                if let Ok(mut s) = samples.lock() {
                    s.push((start.elapsed().as_secs_f64(), kb));
                }
            }
        })
    };

    // Steady open-loop load: tick k fires at start + k / rate, whatever the answers do.
    let gate = Arc::new(tokio::sync::Semaphore::new(o.max_in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / o.rate);
    let end = start + o.duration;
    let mut k: u64 = 0;
    let mut next_report = start + Duration::from_secs(60);
    loop {
        let at = start + period.mul_f64(k as f64);
        if at >= end {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        while tasks.try_join_next().is_some() {}
        let kind = MIX[(k % MIX.len() as u64) as usize];
        match gate.clone().try_acquire_owned() {
            Ok(permit) => {
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    let t = Instant::now();
                    ctx.one(kind, k).await;
                    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                    ctx.with(|s| s.latencies_us.push(us));
                    drop(permit);
                });
            }
            Err(_) => {
                ctx.with(|s| s.dropped += 1);
            }
        }
        k += 1;
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(60);
            let rss = rss_kb(o.rail_pid).unwrap_or(0);
            let (ok, bad) = ctx
                .with(|s| (s.succeeded.len(), s.unexpected.values().sum::<u64>()))
                .unwrap_or_default();
            eprintln!(
                "bench-soak: {:>5.0} s: {k} actions sent, {ok} forwarded, {bad} unexpected, rail RSS {} MB",
                start.elapsed().as_secs_f64(),
                rss / 1024
            );
        }
    }
    let sent = k;
    let load_secs = start.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    sampler.abort();
    if let Some(kb) = rss_kb(o.rail_pid) {
        if let Ok(mut s) = samples.lock() {
            s.push((start.elapsed().as_secs_f64(), kb));
        }
    }

    // Reconcile. The peak RSS is read before and after reading the chain, so that a peak
    // of the load and one of serving the audit trail are told apart.
    let hwm_load = proc_status_kb(o.rail_pid, "VmHWM:").unwrap_or(0);
    let chain = read_chain(&ctx).await?;
    let hwm_chain = proc_status_kb(o.rail_pid, "VmHWM:").unwrap_or(0);
    let seen = ctx
        .seen
        .lock()
        .map_err(|_| "generator state poisoned")?
        .clone();
    let by_key = down
        .by_key
        .lock()
        .map_err(|_| "downstream state poisoned")?
        .clone();
    let unkeyed = down.unkeyed.load(Ordering::Relaxed);
    let class = |k: &str| chain.by_class.get(k).copied().unwrap_or(0);
    let ok = seen.allowed_ok + seen.replay_first_ok + seen.payment_ok;
    let mut checks: Vec<(String, bool)> = Vec::new();
    let mut check = |name: String, pass: bool| checks.push((name, pass));
    let twice = by_key.values().filter(|n| **n > 1).count();
    let down_keys: HashSet<&String> = by_key.keys().collect();
    let gen_keys: HashSet<&String> = seen.succeeded.iter().collect();
    let rec_keys: HashSet<&String> = chain.success.iter().collect();
    check(
        format!(
            "no unexpected answer ({})",
            seen.unexpected.values().sum::<u64>()
        ),
        seen.unexpected.is_empty(),
    );
    check(
        format!("no tick dropped at --max-in-flight ({})", seen.dropped),
        seen.dropped == 0,
    );
    check(
        format!(
            "generator successes {ok} = downstream distinct keys {} = success receipts {}",
            by_key.len(),
            chain.success.len()
        ),
        ok as usize == by_key.len() && ok as usize == chain.success.len(),
    );
    check(
        "the same permit ids in all three".into(),
        gen_keys == down_keys && down_keys == rec_keys,
    );
    check(
        format!("no permit forwarded twice ({twice}), none without a key ({unkeyed})"),
        twice == 0 && unkeyed == 0,
    );
    check(
        format!(
            "denials {} = policy_denied receipts {}",
            seen.denied,
            class("decision deny policy_denied")
        ),
        seen.denied == class("decision deny policy_denied"),
    );
    check(
        format!(
            "limited payments {} = rate_limited receipts {}",
            seen.payment_limited,
            class("decision deny rate_limited")
        ),
        seen.payment_limited == class("decision deny rate_limited"),
    );
    check(
        format!(
            "replays refused {} = intents {} = permit_already_used receipts {}",
            seen.replay_refused,
            seen.intents,
            class("execution rejected permit_already_used")
        ),
        seen.replay_refused == seen.intents
            && seen.replay_refused == class("execution rejected permit_already_used"),
    );
    let allows = seen.allowed_ok + seen.payment_ok + seen.intents;
    check(
        format!(
            "allow decisions {} = one-shot successes + intents {allows}",
            class("decision allow -")
        ),
        class("decision allow -") == allows,
    );
    let accounted = class("decision allow -")
        + class("decision deny policy_denied")
        + class("decision deny rate_limited")
        + class("execution success -")
        + class("execution rejected permit_already_used");
    check(
        format!(
            "every receipt accounted for ({accounted} of {})",
            chain.total
        ),
        accounted == chain.total,
    );
    let answered = seen.allowed_ok
        + seen.denied
        + seen.intents
        + seen.payment_ok
        + seen.payment_limited
        + seen.unexpected.values().sum::<u64>();
    check(
        format!("every action sent was answered ({answered} of {sent})"),
        answered == sent - seen.dropped,
    );

    // Memory.
    let samples = samples.lock().map_err(|_| "samples poisoned")?.clone();
    let total = samples.last().map(|s| s.0).unwrap_or(0.0).max(load_secs);
    let warm = total * o.warmup_pct / 100.0;
    let after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t >= warm)
        .map(|(t, kb)| (*t, *kb as f64 / 1024.0))
        .collect();
    let span = total - warm;
    let base: Vec<f64> = after
        .iter()
        .filter(|(t, _)| *t < warm + span / 4.0)
        .map(|s| s.1)
        .collect();
    let last: Vec<f64> = after
        .iter()
        .filter(|(t, _)| *t >= total - span / 4.0)
        .map(|s| s.1)
        .collect();
    let mb: Vec<f64> = samples.iter().map(|s| s.1 as f64 / 1024.0).collect();
    let max = mb.iter().copied().fold(0.0, f64::max);
    let (b, l) = (median(&base), median(&last));
    let allowed_growth = (b * o.rss_growth_pct / 100.0).max(o.rss_growth_min_mb);
    check(
        format!(
            "RSS flat: median {l:.1} MB in the last quarter vs {b:.1} MB after warm-up \
             (growth {:+.1} MB, allowed {allowed_growth:.1} MB)",
            l - b
        ),
        !base.is_empty() && !last.is_empty() && l - b <= allowed_growth,
    );
    check(
        format!("RSS max {max:.1} MB ≤ {:.0} MB", o.rss_max_mb),
        max <= o.rss_max_mb,
    );

    let mut lat = seen.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            return 0;
        }
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    let passed = checks.iter().all(|(_, p)| *p);
    let report = json!({
        "passed": passed,
        "rate_target": o.rate,
        "rate_achieved": sent as f64 / load_secs,
        "seconds": load_secs,
        "actions_sent": sent,
        "generator": {
            "allowed_ok": seen.allowed_ok,
            "denied": seen.denied,
            "intents": seen.intents,
            "replay_first_ok": seen.replay_first_ok,
            "replay_refused": seen.replay_refused,
            "payment_ok": seen.payment_ok,
            "payment_limited": seen.payment_limited,
            "dropped": seen.dropped,
            "unexpected": seen.unexpected,
            "action_p50_us": pct(0.50),
            "action_p99_us": pct(0.99),
        },
        "downstream": {"distinct_keys": by_key.len(), "requests": by_key.values().map(|n| u64::from(*n)).sum::<u64>() + unkeyed},
        "receipts": {"total": chain.total, "by_class": chain.by_class},
        "rss_mb": {
            "start": rss0 as f64 / 1024.0,
            "after_warmup_median": b,
            "last_quarter_median": l,
            "end": mb.last().copied().unwrap_or(f64::NAN),
            "max": max,
            "peak_hwm_after_load": hwm_load as f64 / 1024.0,
            "peak_hwm_after_reading_chain": hwm_chain as f64 / 1024.0,
            "min": mb.iter().copied().fold(f64::INFINITY, f64::min),
            "samples": samples.len(),
            "series": samples.iter().map(|(t, kb)| json!([t.round(), kb / 1024])).collect::<Vec<_>>(),
        },
        "checks": checks.iter().map(|(n, p)| json!({"check": n, "passed": p})).collect::<Vec<_>>(),
    });
    if let Some(path) = &o.out {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
    }
    println!(
        "soak: {sent} actions in {load_secs:.0} s ({:.1}/s, target {:.1}/s); action p50 {} µs, p99 {} µs",
        sent as f64 / load_secs,
        o.rate,
        pct(0.50),
        pct(0.99)
    );
    println!(
        "  generator: {} allowed ok, {} denied, {} two-phase ({} executed, {} replays refused), \
         {} payments ok, {} payments rate-limited, {} unexpected, {} dropped",
        seen.allowed_ok,
        seen.denied,
        seen.intents,
        seen.replay_first_ok,
        seen.replay_refused,
        seen.payment_ok,
        seen.payment_limited,
        seen.unexpected.values().sum::<u64>(),
        seen.dropped
    );
    for (what, n) in &seen.unexpected {
        println!("    unexpected: {what} × {n}");
    }
    println!(
        "  downstream: {} distinct Idempotency-Keys, {} requests",
        by_key.len(),
        by_key.values().map(|n| u64::from(*n)).sum::<u64>() + unkeyed
    );
    println!("  receipts: {} in the chain", chain.total);
    for (class, n) in &chain.by_class {
        println!("    {class}: {n}");
    }
    println!(
        "  rail RSS (MB): start {:.1}, after warm-up {b:.1}, last quarter {l:.1}, end {:.1}, max {max:.1} ({} samples)",
        rss0 as f64 / 1024.0,
        mb.last().copied().unwrap_or(f64::NAN),
        samples.len()
    );
    println!(
        "  rail peak RSS (VmHWM): {:.1} MB at the end of the load, {:.1} MB after serving the chain",
        hwm_load as f64 / 1024.0,
        hwm_chain as f64 / 1024.0
    );
    for (name, pass) in &checks {
        println!("  [{}] {name}", if *pass { "ok" } else { "FAIL" });
    }
    println!("soak: {}", if passed { "PASSED" } else { "FAILED" });
    Ok(if passed { 0 } else { 1 })
}
