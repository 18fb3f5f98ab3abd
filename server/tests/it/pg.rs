//! Helpers for tests against real PostgreSQL and real `intentrail serve` processes: a fresh
//! database per test (tenant names are fixed by the harness config), and a rail process that
//! is killed when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_intentrail");

/// The cluster's URL, or `None` (skip) outside CI; under `CI=true` a missing URL fails.
pub fn base_url() -> Option<String> {
    match std::env::var("INTENTRAIL_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but INTENTRAIL_TEST_POSTGRES_URL is not set: run the tests under \
                 scripts/with-postgres.sh"
            );
            eprintln!("skipped: INTENTRAIL_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// Create a new empty database on the test cluster and return its URL.
pub async fn fresh_db(base: &str) -> String {
    let (c, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(conn);
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (head, _) = base.rsplit_once('/').expect("a database in the URL");
    format!("{head}/{name}")
}

/// Point a harness config at another ledger URL.
pub fn set_ledger(config: &Path, url: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replace(
        "ledger = \"sqlite://ledger.db\"",
        &format!("ledger = \"{url}\""),
    );
    assert!(text.contains(url), "the harness config changed shape");
    std::fs::write(config, text).unwrap();
}

/// Wait (bounded) until no rail instance holds its PostgreSQL instance lock any more, i.e.
/// the killed process's session is gone (what a restart after a crash relies on).
pub async fn wait_no_instances(url: &str) {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    for _ in 0..200 {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .expect("pg_locks")
            .get(0);
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("a rail instance lock is still held 5 s after the kill");
}

/// A running `intentrail serve`; SIGKILLed on drop.
pub struct RailProcess {
    pub url: String,
    child: Child,
}

impl RailProcess {
    pub fn start(config: &Path) -> RailProcess {
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn intentrail serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "serve said {line:?}");
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        RailProcess { url, child }
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RailProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Fetch every receipt of tenant acme from `url` with the admin key, and verify the chain
/// against the tenant's JWKS. Returns the receipts.
pub async fn verified_chain(c: &reqwest::Client, url: &str, admin: &str) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    let mut after = 0u64;
    for _ in 0..10_000 {
        let page: serde_json::Value = c
            .get(format!("{url}/v1/receipts?after={after}&limit=1000"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = page["receipts"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            break;
        }
        after = page["next_after"].as_u64().unwrap();
        all.extend(rows);
    }
    let jwks = c
        .get(format!("{url}/v1/tenants/acme/jwks.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let jwks = intentrail_core::keys::Jwks::parse(&jwks).unwrap();
    let report = intentrail_core::receipt::verify_chain(&all, &jwks, None)
        .unwrap_or_else(|e| panic!("the chain does not verify: {e}"));
    assert_eq!(report.count as usize, all.len());
    all
}
