//! The PostgreSQL test cluster (`INTENTRAIL_TEST_POSTGRES_URL`, from
//! `scripts/with-postgres.sh`): a fresh database per test, and a lock, since every area's
//! tests share the cluster and one of them stops it: hold [`shared`] while using it,
//! [`exclusive`] while stopping and starting it.

use std::path::Path;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static CLUSTER: RwLock<()> = RwLock::const_new(());

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

/// The cluster's `pg_ctl` command (`INTENTRAIL_TEST_PG_CTL`), for the tests that stop and
/// start it, or `None` (skip) outside CI; under `CI=true` a missing command fails.
pub fn ctl() -> Option<String> {
    match std::env::var("INTENTRAIL_TEST_PG_CTL") {
        Ok(c) if !c.is_empty() => Some(c),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but INTENTRAIL_TEST_PG_CTL is not set"
            );
            eprintln!("skipped: INTENTRAIL_TEST_PG_CTL is not set");
            None
        }
    }
}

/// Use the cluster alongside other tests; waits while one stops it.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    CLUSTER.read().await
}

/// Have the cluster alone (to stop it): waits for every other user.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    CLUSTER.write().await
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

/// Point a config from [`write_config`](super::write_config) at another ledger URL.
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
