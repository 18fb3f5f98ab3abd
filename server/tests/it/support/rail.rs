//! A rail in the test's own process: [`TestRail::start`] writes the config ([`write_config`]),
//! opens the real SQLite ledger, builds the rail and serves it on a real TCP socket, in front
//! of a recording downstream. Stopped when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use intentrail_server::config::Config;
use intentrail_server::http;
use intentrail_server::rail::Rail;
use serde_json::{json, Value};

use super::config::{write_config, Options};
use super::downstream::{downstream, Log};
use super::http::{post_json, raw_http};
use super::receipts::{all_receipts, verified_chain};

pub struct TestRail {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The `file:` secret of the payments connectors (unless [`Options::credential`]).
    pub secret: String,
    /// acme's bot-1.
    pub api_key: String,
    /// acme's bot-2.
    pub api_key_2: String,
    pub admin_key: String,
    /// globex's bot-1.
    pub globex_key: String,
    pub rail: Arc<Rail>,
    /// What the downstream received.
    pub log: Log,
    pub client: reqwest::Client,
    pub downstream_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestRail {
    pub async fn start(o: Options) -> TestRail {
        let (addr, log) = downstream().await;
        let dir = tempfile::tempdir().unwrap();
        let base = o
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let w = write_config(dir.path(), &base, &o);
        let config = Config::load(&w.config_path).unwrap();
        let ledger = intentrail_server::ledger::open(&config.ledger)
            .await
            .unwrap();
        let rail = Rail::build(config, ledger).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r = rail.clone();
        tokio::spawn(async move {
            http::serve(r, listener, async move {
                let _ = rx.await;
            })
            .await
        });
        TestRail {
            url,
            dir,
            config_path: w.config_path,
            secret: w.secret,
            api_key: w.api_key,
            api_key_2: w.api_key_2,
            admin_key: w.admin_key,
            globex_key: w.globex_key,
            rail,
            log,
            client: reqwest::Client::builder()
                .no_proxy()
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

    /// [`raw_http`] to this rail.
    pub async fn raw_http(&self, head: &str, body: &[u8]) -> (u16, Value) {
        raw_http(self.url.trim_start_matches("http://"), head, body).await
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
        all_receipts(&self.client, &self.url, &self.admin_key).await
    }

    /// Verify acme's chain with its published JWKS; returns its length.
    pub async fn verify_chain(&self) -> usize {
        verified_chain(&self.client, &self.url, &self.admin_key)
            .await
            .len()
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

    /// One governed refund of 500 as bot-1 (intent and execute in one round trip) with payment
    /// id `route`: with [`Options::routed`] it goes to `/{route}/refunds`, so `route` picks
    /// the downstream's answer.
    pub async fn refund_via(&self, route: &str) -> (u16, Value) {
        let body = json!({"params": {"payment_id": route, "amount": 500, "currency": "usd"}});
        let url = format!("{}/v1/actions/money.refund", self.url);
        post_json(&self.client, &url, &self.api_key, "bot-1", &body).await
    }
}

impl Drop for TestRail {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
