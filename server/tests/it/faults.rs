//! Downstream faults during sustained load, against the real `intentrail serve` binary on a
//! real SQLite file and (with `INTENTRAIL_TEST_POSTGRES_URL`) on PostgreSQL.
//!
//! A test downstream injects, per request, the fault the payload asks for: slow beyond the
//! rail's forward timeout, `500`, a connection reset in the middle of the response, a `402`
//! (the downstream's own answer), or nothing; a second connector points at a port where every
//! connect is refused. Concurrent workers drive one-shot and two-phase executes (and replay
//! every two-phase permit once). Checked: every answer is one of the answers the rail defines
//! for these faults (200 with the downstream status, 502 `downstream_error`, 504
//! `downstream_timeout`, 409 `permit_already_used` for a replay) as RFC 9457 problem+json with
//! a stable code; every answer names its receipt, which is in the verified chain with the
//! matching outcome; the downstream (counting by `Idempotency-Key`) never saw a permit twice
//! and saw exactly the permits the receipts say were sent; and once the faults stop, clean
//! requests succeed without restarting anything.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{pg, verified_chain, write_config, Options, RailProcess, Written};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The rail's forward timeout for both connectors (ms); the slow fault answers far beyond it.
const FORWARD_TIMEOUT_MS: u64 = 1500;
/// How long the slow fault waits before answering.
const SLOW: Duration = Duration::from_millis(FORWARD_TIMEOUT_MS * 4);
const WORKERS: usize = 12;
const ACTIONS_PER_WORKER: usize = 30;

/// The fault a request asks for (the prefix of its `payment_id` / `customer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    /// Answer 200 at once.
    Ok,
    /// Answer 402: the downstream's own refusal, returned inside a 200.
    Declined,
    /// Answer 500.
    Error500,
    /// Send half a response, then reset the connection.
    Reset,
    /// Answer long after the rail's forward timeout.
    Slow,
    /// `money.payment`, whose connector points at a port that refuses every connect.
    Refused,
}

const CYCLE: [Fault; 10] = [
    Fault::Ok,
    Fault::Slow,
    Fault::Error500,
    Fault::Ok,
    Fault::Reset,
    Fault::Declined,
    Fault::Refused,
    Fault::Ok,
    Fault::Error500,
    Fault::Reset,
];

impl Fault {
    fn tag(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Declined => "declined",
            Fault::Error500 => "e500",
            Fault::Reset => "reset",
            Fault::Slow => "slow",
            Fault::Refused => "refused",
        }
    }

    fn from_id(id: &str) -> Fault {
        let tag = id.split('_').next().unwrap_or_default();
        [
            Fault::Declined,
            Fault::Error500,
            Fault::Reset,
            Fault::Slow,
            Fault::Refused,
        ]
        .into_iter()
        .find(|f| f.tag() == tag)
        .unwrap_or(Fault::Ok)
    }

    /// The action and params that ask for this fault; `n` makes each payload unique.
    fn request(self, n: usize) -> (&'static str, Value) {
        let id = format!("{}_{n}", self.tag());
        let amount = 1 + (n % 9000) as u64;
        match self {
            Fault::Refused => (
                "money.payment",
                json!({"customer": id, "amount": amount, "currency": "usd"}),
            ),
            _ => (
                "money.refund",
                json!({"payment_id": id, "amount": amount, "currency": "usd"}),
            ),
        }
    }
}

/// The fault-injecting downstream: a minimal HTTP/1.1 server (keep-alive, Content-Length
/// bodies) so that a reset can happen in the middle of a response. Counts requests by
/// `Idempotency-Key` before it decides what to do with them.
#[derive(Clone, Default)]
struct Faulty {
    seen: Arc<Mutex<HashMap<String, usize>>>,
    /// Requests without an Idempotency-Key (must stay 0).
    unkeyed: Arc<Mutex<usize>>,
    /// Once set, every request is answered 200 at once, whatever it asks for.
    healed: Arc<AtomicBool>,
}

impl Faulty {
    fn seen(&self) -> HashMap<String, usize> {
        self.seen.lock().unwrap().clone()
    }

    fn serve(&self, listener: TcpListener) {
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move { me.connection(s).await });
            }
        });
    }

    async fn connection(&self, mut s: TcpStream) {
        let mut buf = Vec::with_capacity(4096);
        loop {
            // Head.
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
            };
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body: Value =
                serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
            buf.drain(..head_end + len);
            match header("idempotency-key") {
                Some(k) => *self.seen.lock().unwrap().entry(k).or_default() += 1,
                None => *self.unkeyed.lock().unwrap() += 1,
            }
            let id = body["payment_id"]
                .as_str()
                .or(body["customer"].as_str())
                .unwrap_or_default();
            let fault = if self.healed.load(Ordering::SeqCst) {
                Fault::Ok
            } else {
                Fault::from_id(id)
            };
            let answer = |status: &str, body: &str| {
                format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            let out = match fault {
                Fault::Ok | Fault::Refused => {
                    answer("200 OK", r#"{"id":"re_1","status":"succeeded"}"#)
                }
                Fault::Declined => answer("402 Payment Required", r#"{"error":"card_declined"}"#),
                Fault::Error500 => answer("500 Internal Server Error", r#"{"error":"boom"}"#),
                Fault::Slow => {
                    tokio::time::sleep(SLOW).await;
                    answer("200 OK", r#"{"late":true}"#)
                }
                Fault::Reset => {
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"partial\":")
                        .await;
                    let _ = s.flush().await;
                    // Let the half response reach the rail, then abort (RST, not FIN).
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = s.set_zero_linger();
                    return;
                }
            };
            if s.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// Config for the harness rail: the refund connector → the faulty downstream, and
/// `money.payment` → a connector whose port refuses every connect (bound, never listening).
fn faults_config(dir: &std::path::Path, down: SocketAddr, refused: SocketAddr) -> Written {
    let secret_ref = format!("file:{}", dir.join("secret").display());
    let o = Options {
        timeout_ms: FORWARD_TIMEOUT_MS,
        acme_extra: format!(
            r#"
[[tenants.connectors]]
name = "payments-refused"
base_url = "http://{refused}"
credential = "{secret_ref}"
auth = {{ type = "bearer" }}
allow_private = true
timeout_ms = {FORWARD_TIMEOUT_MS}
connect_timeout_ms = {FORWARD_TIMEOUT_MS}
[[tenants.actions]]
name = "money.payment"
connector = "payments-refused"
request = {{ method = "POST", path = "/v1/payments" }}
"#
        ),
        // Let acme's agents make payments too (the harness policy allows refunds only).
        acme_policy_extra: r#"
@id("allow_payments")
permit(principal, action == Action::"money.payment", resource);
"#
        .into(),
        ..Options::default()
    };
    write_config(dir, &format!("http://{down}"), &o)
}

/// A governed action as the client saw it: the answer to its execute and, for two-phase,
/// the answer to the replay of the same permit.
struct Done {
    first: Answer,
    replay: Option<Answer>,
}

/// One answer as the client saw it.
#[derive(Debug, Clone)]
struct Answer {
    fault: Fault,
    two_phase: bool,
    status: u16,
    body: Value,
    content_type: String,
}

impl Answer {
    /// The problem's `code` (`ok` for a 200).
    fn code(&self) -> &str {
        if self.status == 200 {
            return "ok";
        }
        self.body["code"].as_str().unwrap_or("?")
    }

    fn receipt_id(&self) -> Option<&str> {
        if self.status == 200 {
            self.body["receipt"]["id"].as_str()
        } else {
            self.body["receipt_id"].as_str()
        }
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .header("IntentRail-Agent", "bot-1")
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the rail did not answer {path}: {e}"));
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{path} answered {status} with a body that is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, body, ct)
    }

    /// One governed action asking for `fault`; two-phase also replays its permit once.
    async fn action(&self, fault: Fault, n: usize, two_phase: bool) -> Done {
        let (action, params) = fault.request(n);
        let answer = |(status, body, content_type): (u16, Value, String)| Answer {
            fault,
            two_phase,
            status,
            body,
            content_type,
        };
        if !two_phase {
            let r = self
                .post(&format!("/v1/actions/{action}"), &json!({"params": params}))
                .await;
            return Done {
                first: answer(r),
                replay: None,
            };
        }
        let (s, b, _) = self
            .post("/v1/intents", &json!({"action": action, "params": params}))
            .await;
        assert_eq!(s, 201, "intent: {b}");
        let exec = json!({"permit": b["permit"], "params": params});
        let first = answer(self.post("/v1/execute", &exec).await);
        let replay = answer(self.post("/v1/execute", &exec).await);
        Done {
            first,
            replay: Some(replay),
        }
    }
}

/// Is this a well-formed RFC 9457 answer with a stable code matching its status?
fn check_problem(a: &Answer) {
    assert!(
        a.content_type.starts_with("application/problem+json"),
        "{} answered with content type {:?}: {}",
        a.status,
        a.content_type,
        a.body
    );
    let code = a.code();
    assert_eq!(a.body["status"], json!(a.status), "{}", a.body);
    assert_eq!(
        a.body["type"],
        json!(format!("https://intentrail.dev/errors/{code}")),
        "{}",
        a.body
    );
    assert!(a.body["title"].is_string() && a.body["detail"].is_string());
}

/// The receipt outcome an answer to a first execute stands for, checked against the rules
/// of the pipeline (docs/architecture.md, "Outcomes"). `None`: not an answer these faults
/// may produce.
fn expected_outcome(a: &Answer) -> Option<&'static [&'static str]> {
    match (a.status, a.code()) {
        (200, _) => Some(&["success"]),
        (502, "downstream_error") if a.body["downstream_status"].is_number() => {
            Some(&["downstream_error"])
        }
        // Refused (not sent) or broken mid-answer (sent, outcome unknown).
        (502, "downstream_error") => Some(&["not_forwarded", "unknown"]),
        (504, "downstream_timeout") => Some(&["unknown"]),
        _ => None,
    }
}

async fn faults_under_load(postgres: Option<String>) {
    let down = Faulty::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down_addr = listener.local_addr().unwrap();
    down.serve(listener);
    // A bound socket that never listens: every connect to it is refused, and no other test
    // can take the port. It starts listening (same port) when the faults stop.
    let refused = tokio::net::TcpSocket::new_v4().unwrap();
    refused.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let refused_addr = refused.local_addr().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let r = faults_config(dir.path(), down_addr, refused_addr);
    if let Some(url) = &postgres {
        pg::set_ledger(&r.config_path, url);
    }
    let rail = RailProcess::start(&r.config_path);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = Arc::new(Client {
        http: http.clone(),
        url: rail.url.clone(),
        key: r.api_key.clone(),
    });

    // Sustained concurrent load with every fault mixed in.
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0..ACTIONS_PER_WORKER {
                    let n = w * ACTIONS_PER_WORKER + i;
                    let fault = CYCLE[(w + i) % CYCLE.len()];
                    answers.push(client.action(fault, n, (w + i / 3) % 2 == 1).await);
                }
                answers
            })
        })
        .collect();
    let mut done: Vec<Done> = Vec::new();
    for w in workers {
        done.extend(w.await.unwrap());
    }

    // Every answer is one the rail defines for these faults, well formed, with a receipt.
    let mut tally: HashMap<String, usize> = HashMap::new();
    for a in done.iter().map(|d| &d.first) {
        *tally
            .entry(format!(
                "{:?}{} → {} {}",
                a.fault,
                if a.two_phase { " (two-phase)" } else { "" },
                a.status,
                a.code()
            ))
            .or_default() += 1;
        assert!(
            expected_outcome(a).is_some(),
            "unexpected answer to a {:?} request: {} {}",
            a.fault,
            a.status,
            a.body
        );
        if a.status != 200 {
            check_problem(a);
        }
        assert!(a.receipt_id().is_some(), "no receipt named: {}", a.body);
        // What each fault may produce. A healthy answer can still time out on a stalled
        // machine (504, outcome unknown), so only the faults' own answers are pinned.
        let fits = match a.fault {
            Fault::Ok | Fault::Declined => a.status == 200 || a.status == 504,
            Fault::Error500 => {
                (a.status == 502 && a.body["downstream_status"] == json!(500)) || a.status == 504
            }
            Fault::Reset => {
                (a.status == 502 && a.body["downstream_status"].is_null()) || a.status == 504
            }
            Fault::Slow => a.status == 504,
            Fault::Refused => a.status == 502 && a.body["downstream_status"].is_null(),
        };
        assert!(
            fits,
            "a {:?} request answered {} {}",
            a.fault, a.status, a.body
        );
        if a.status == 200 {
            let want = if a.fault == Fault::Declined { 402 } else { 200 };
            assert_eq!(a.body["status"], json!(want), "{}", a.body);
        }
    }
    for a in done.iter().filter_map(|d| d.replay.as_ref()) {
        assert_eq!(
            (a.status, a.code()),
            (409, "permit_already_used"),
            "a replayed permit: {}",
            a.body
        );
        check_problem(a);
        assert!(a.receipt_id().is_some(), "no receipt named: {}", a.body);
    }
    eprintln!("answers by fault: {tally:#?}");
    // Every fault was injected and answered as itself at least once (else the test proves
    // nothing about it).
    for (fault, status) in [
        (Fault::Ok, 200),
        (Fault::Declined, 200),
        (Fault::Error500, 502),
        (Fault::Reset, 502),
        (Fault::Slow, 504),
        (Fault::Refused, 502),
    ] {
        assert!(
            done.iter()
                .any(|d| d.first.fault == fault && d.first.status == status),
            "no {fault:?} request answered {status}: {tally:?}"
        );
    }

    // The faults stop: clean requests succeed, without restarting the rail.
    down.healed.store(true, Ordering::SeqCst);
    let listener = refused.listen(1024).unwrap();
    down.serve(listener);
    let mut n = WORKERS * ACTIONS_PER_WORKER;
    for fault in CYCLE {
        for two_phase in [false, true] {
            n += 1;
            let d = client.action(fault, n, two_phase).await;
            assert_eq!(
                d.first.status, 200,
                "after the faults stopped, a {fault:?} request answered {}",
                d.first.body
            );
            done.push(d);
        }
    }

    // Receipts: the chain verifies; each answer's receipt has the matching outcome.
    let chain = verified_chain(&http, &rail.url, &r.admin_key).await;
    let by_id: HashMap<&str, &Value> = chain
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    let seen = down.seen();
    assert_eq!(
        *down.unkeyed.lock().unwrap(),
        0,
        "a forward without its key"
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "permits forwarded more than once: {twice:?}"
    );
    let mut sent_per_receipts: HashSet<String> = HashSet::new();
    for a in done.iter().map(|d| &d.first) {
        let rid = a.receipt_id().unwrap();
        let r = by_id
            .get(rid)
            .unwrap_or_else(|| panic!("receipt {rid} of an answer is not in the chain"));
        assert_eq!(r["kind"], "execution", "{r}");
        let outcome = r["outcome"].as_str().unwrap_or_default();
        let allowed = expected_outcome(a).unwrap();
        assert!(
            allowed.contains(&outcome),
            "answer {} {} but receipt outcome {outcome}",
            a.status,
            a.code()
        );
        if a.status != 200 {
            assert_eq!(r["code"], json!(a.code()), "{r}");
        }
        if let Some(status) = a.body["downstream_status"].as_u64().or(if a.status == 200 {
            a.body["status"].as_u64()
        } else {
            None
        }) {
            assert_eq!(r["downstream"]["status"], json!(status), "{r}");
        }
        let jti = r["permit_id"].as_str().unwrap();
        if a.status == 200 {
            assert_eq!(a.body["permit_id"], json!(jti));
        }
        let times = seen.get(jti).copied().unwrap_or(0);
        match outcome {
            "success" | "downstream_error" => {
                assert_eq!(
                    times, 1,
                    "{jti} ({outcome}) reached the downstream {times}×"
                )
            }
            "not_forwarded" => {
                assert_eq!(times, 0, "{jti} recorded not_forwarded but was sent")
            }
            // Sent (or at least attempted): never twice. A stalled machine can time out a
            // request before the downstream has read all of it.
            "unknown" => assert!(
                times <= 1,
                "{jti} (unknown) reached the downstream {times}×"
            ),
            other => panic!("outcome {other}"),
        }
        if times > 0 {
            sent_per_receipts.insert(jti.to_string());
        }
    }
    for a in done.iter().filter_map(|d| d.replay.as_ref()) {
        let r = by_id[a.receipt_id().unwrap()];
        assert_eq!(r["outcome"], "rejected", "{r}");
        assert_eq!(r["code"], "permit_already_used", "{r}");
    }
    // Nothing reached the downstream that no answer's receipt accounts for.
    let seen_keys: HashSet<String> = seen.keys().cloned().collect();
    assert_eq!(
        seen_keys, sent_per_receipts,
        "the downstream and the receipts disagree on what was sent"
    );
    // One execution receipt per answer (first executes and replays), and no others.
    let executions = chain.iter().filter(|r| r["kind"] == "execution").count();
    let answered = done.len() + done.iter().filter(|d| d.replay.is_some()).count();
    assert_eq!(executions, answered);
    eprintln!(
        "{answered} answers, {} forwards, chain of {} verifies",
        seen.len(),
        chain.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_faults_under_load_sqlite() {
    faults_under_load(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_faults_under_load_postgres() {
    let Some(base) = pg::base_url() else { return };
    let _cluster = pg::shared().await;
    let url = pg::fresh_db(&base).await;
    faults_under_load(Some(url)).await;
}
