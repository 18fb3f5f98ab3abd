//! Test harness: a real rail (in-process, real TCP socket, real SQLite file in a temp dir,
//! real Ed25519 keys) in front of a test downstream that records what reaches it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use intentrail_server::app::{self, Rail};
use intentrail_server::auth::{generate_key, hash_key, ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX};
use intentrail_server::config::Config;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the test downstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

async fn record(
    State(log): State<Log>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = uri.path().to_string();
    let authorization = h("authorization");
    log.0.lock().unwrap().push(Seen {
        path: path.clone(),
        authorization: authorization.clone(),
        idempotency_key: h("idempotency-key"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match path.as_str() {
        "/fail" => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "boom"}))).into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({"late": true})).into_response()
        }
        "/echo" => {
            let a = authorization.unwrap_or_default();
            ([("x-echo", a.clone())], Json(json!({"you_sent": a}))).into_response()
        }
        "/declined" => (StatusCode::PAYMENT_REQUIRED, Json(json!({"error": "card_declined"}))).into_response(),
        _ => Json(json!({"id": "re_1", "status": "succeeded", "received": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)})).into_response(),
    }
}

/// Start the recording downstream on 127.0.0.1:0.
pub async fn downstream() -> (SocketAddr, Log) {
    let log = Log::default();
    let app = Router::new().fallback(post(record)).with_state(log.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, log)
}

/// A downstream that reads the request, sends half a response and resets the connection.
pub async fn resetting_downstream() -> (SocketAddr, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0usize));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            *h.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"partial\":")
                    .await;
                drop(s);
            });
        }
    });
    (addr, hits)
}

/// A port with nothing listening.
/// The port stays bound (never listening) for the rest of the test process, so no other test
/// can start a server on it and every connect is refused.
pub async fn dead_port() -> SocketAddr {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = sock.local_addr().unwrap();
    std::mem::forget(sock);
    a
}

pub struct Options {
    /// Base URL of the payments connector (default: the recording downstream).
    pub base_url: Option<String>,
    /// Path money.refund is sent to.
    pub refund_path: String,
    pub timeout_ms: u64,
    /// Extra TOML appended to tenant "acme" (e.g. limits).
    pub acme_extra: String,
    /// Credential reference override (default: a file holding the secret).
    pub credential: Option<String>,
    /// Cedar policies appended to tenant "acme"'s.
    pub acme_policy_extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: None,
            refund_path: "/v1/refunds".into(),
            timeout_ms: 5000,
            acme_extra: String::new(),
            credential: None,
            acme_policy_extra: String::new(),
        }
    }
}

pub struct TestRail {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub config_path: std::path::PathBuf,
    pub secret: String,
    pub api_key: String,
    pub api_key_2: String,
    pub admin_key: String,
    pub globex_key: String,
    pub rail: Arc<Rail>,
    pub log: Log,
    pub client: reqwest::Client,
    pub downstream_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub const POLICY: &str = r#"
@id("allow_refunds")
permit(principal, action == Action::"money.refund", resource);
@id("refund_cap")
forbid(principal, action == Action::"money.refund", resource) when { context.params.amount > 10000 };
@id("transfers_need_approval")
@approval("required")
permit(principal, action == Action::"money.transfer", resource);
"#;

pub fn key(prefix: &str) -> String {
    generate_key(prefix).unwrap().to_string()
}

/// Write a config + keys for tenants `acme` (agents bot-1, bot-2) and `globex` (agent g-bot).
pub fn write_config(
    dir: &std::path::Path,
    base_url: &str,
    o: &Options,
    listen: &str,
) -> (std::path::PathBuf, String, String, String, String, String) {
    let secret = format!("sk_test_{}", &key("")[..24]);
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let (k1, k2, ka, kg) = (
        key(AGENT_KEY_PREFIX),
        key(AGENT_KEY_PREFIX),
        key(ADMIN_KEY_PREFIX),
        key(AGENT_KEY_PREFIX),
    );
    let now = app::now_ms();
    intentrail_server::keystore::generate(&dir.join("keys/acme"), now).unwrap();
    intentrail_server::keystore::generate(&dir.join("keys/globex"), now).unwrap();
    let credential = o
        .credential
        .clone()
        .unwrap_or_else(|| format!("file:{}", secret_file.display()));
    let text = format!(
        r#"
listen = "{listen}"
ledger = "sqlite://ledger.db"
permit_lifetime_secs = 60

[[tenants]]
id = "acme"
keys_dir = "keys/acme"
admin_key_hash = "{ha}"
policies = '''{POLICY}{policy_extra}'''
{extra}
[[tenants.agents]]
id = "bot-1"
key_hash = "{h1}"
[[tenants.agents]]
id = "bot-2"
key_hash = "{h2}"
[[tenants.connectors]]
name = "payments"
base_url = "{base_url}"
credential = "{credential}"
auth = {{ type = "bearer" }}
allow_private = true
timeout_ms = {timeout}
connect_timeout_ms = {connect}
[[tenants.actions]]
name = "money.refund"
connector = "payments"
request = {{ method = "POST", path = "{refund_path}" }}
[[tenants.actions]]
name = "money.transfer"
connector = "payments"
request = {{ method = "POST", path = "/v1/transfers" }}

[[tenants]]
id = "globex"
keys_dir = "keys/globex"
policies = '''{POLICY}'''
[[tenants.agents]]
id = "bot-1"
key_hash = "{hg}"
[[tenants.connectors]]
name = "payments"
base_url = "{base_url}"
credential = "{credential}"
auth = {{ type = "bearer" }}
allow_private = true
[[tenants.actions]]
name = "money.refund"
connector = "payments"
request = {{ method = "POST", path = "/v1/refunds" }}
"#,
        ha = hash_key(&ka),
        h1 = hash_key(&k1),
        h2 = hash_key(&k2),
        hg = hash_key(&kg),
        extra = o.acme_extra,
        policy_extra = o.acme_policy_extra,
        timeout = o.timeout_ms,
        connect = o.timeout_ms.min(2000),
        refund_path = o.refund_path,
    );
    let path = dir.join("intentrail.toml");
    std::fs::write(&path, text).unwrap();
    (path, secret, k1, k2, ka, kg)
}

impl TestRail {
    pub async fn start(o: Options) -> TestRail {
        let (addr, log) = downstream().await;
        let dir = tempfile::tempdir().unwrap();
        let base = o
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let (config_path, secret, api_key, api_key_2, admin_key, globex_key) =
            write_config(dir.path(), &base, &o, "127.0.0.1:0");
        let config = Config::load(&config_path).unwrap();
        let ledger = intentrail_server::ledger::open(&config.ledger)
            .await
            .unwrap();
        let rail = Rail::build(config, ledger).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r = rail.clone();
        tokio::spawn(async move {
            app::serve(r, listener, async move {
                let _ = rx.await;
            })
            .await
        });
        TestRail {
            url,
            dir,
            config_path,
            secret,
            api_key,
            api_key_2,
            admin_key,
            globex_key,
            rail,
            log,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            downstream_addr: addr,
            shutdown: Some(tx),
        }
    }

    /// POST as agent bot-1 of acme.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_as(&self.api_key, "bot-1", path, body).await
    }

    pub async fn post_as(&self, key: &str, agent: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let (s, b, _) = self.raw(key, Some(agent), path, bytes).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// POST raw bytes; returns status, body bytes and content type.
    pub async fn raw(
        &self,
        key: &str,
        agent: Option<&str>,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>, String) {
        let mut rb = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if !key.is_empty() {
            rb = rb.bearer_auth(key);
        }
        if let Some(a) = agent {
            rb = rb.header("IntentRail-Agent", a);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, r.bytes().await.unwrap().to_vec(), ct)
    }

    /// Write `head` (request line and headers, CRLF-separated, without the blank line) and
    /// `body` on a socket as they are; returns the status and the JSON body.
    pub async fn raw_http(&self, head: &str, body: &[u8]) -> (u16, Value) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let addr = self.url.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = format!("{head}\r\nhost: {addr}\r\nconnection: close\r\n\r\n").into_bytes();
        req.extend_from_slice(body);
        s.write_all(&req).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    pub async fn get(&self, key: &str, agent: Option<&str>, path: &str) -> (u16, Value) {
        let mut rb = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(a) = agent {
            rb = rb.header("IntentRail-Agent", a);
        }
        let r = rb.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Every receipt of tenant acme, via the admin API.
    pub async fn receipts(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (s, page) = self
                .get(
                    &self.admin_key,
                    None,
                    &format!("/v1/receipts?after={after}&limit=1000"),
                )
                .await;
            assert_eq!(s, 200, "{page}");
            let rows = page["receipts"].as_array().unwrap().clone();
            if rows.is_empty() {
                return all;
            }
            after = page["next_after"].as_u64().unwrap();
            all.extend(rows);
        }
    }

    /// Verify acme's chain with its published JWKS.
    pub async fn verify_chain(&self) -> usize {
        let receipts = self.receipts().await;
        let jwks = self
            .client
            .get(format!("{}/v1/tenants/acme/jwks.json", self.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let jwks = intentrail_core::keys::Jwks::parse(&jwks).unwrap();
        let report = intentrail_core::receipt::verify_chain(&receipts, &jwks, None).unwrap();
        report.count as usize
    }

    pub fn refund(amount: i64) -> Value {
        json!({"payment_id": "pay_1", "amount": amount, "currency": "usd"})
    }

    /// Issue an intent for a refund and return the permit.
    pub async fn permit(&self, params: &Value) -> String {
        let (s, b) = self
            .post(
                "/v1/intents",
                json!({"action": "money.refund", "params": params}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["permit"].as_str().unwrap().to_string()
    }
}

impl Drop for TestRail {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
