//! PostgreSQL's own tests: the shared suite against a real PostgreSQL, two instances on one
//! database, migrations, recovery across instances, and what an unreachable database answers.
//! `INTENTRAIL_TEST_POSTGRES_URL` names the database (`scripts/with-postgres.sh` starts one and
//! sets it). Without it the tests are skipped with a message, except under `CI=true`, where a
//! missing database is a failure.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::NoTls;

use super::instance::LOCK_NS;
use super::pool::describe;
use super::{migrate_url, permits, PostgresLedger};
use crate::ledger::clock::now_ms;
use crate::ledger::permits::ConsumeTo;
use crate::ledger::suite::{self, Steps, Store};
use crate::ledger::LedgerError;
use crate::model::{ConsumeOutcome, LimitAdd, LimitOutcome, Outcome, PermitRecord, PermitState};

#[async_trait]
impl Steps for PostgresLedger {
    async fn record_permit(&self, p: &PermitRecord) -> Result<(), LedgerError> {
        PostgresLedger::record_permit(self, p).await
    }

    async fn consume_permit(&self, tenant: &str, jti: &str) -> Result<ConsumeOutcome, LedgerError> {
        self.consume(tenant, jti, ConsumeTo::Consumed).await
    }

    async fn mark_forwarding(&self, tenant: &str, jti: &str) -> Result<(), LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.with_conn("mark a permit forwarding", move |c| {
            Box::pin(async move {
                if permits::mark_forwarding(c, &t, &j).await? {
                    return Ok(());
                }
                Err(permits::refusal(c, &t, &j, "forwarding").await?)
            })
        })
        .await
    }

    async fn finish_permit(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
    ) -> Result<(), LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.with_conn("finish a permit", move |c| {
            Box::pin(async move {
                if permits::finish(c, &t, &j, outcome, now_ms()).await? {
                    return Ok(());
                }
                Err(permits::refusal(c, &t, &j, "done").await?)
            })
        })
        .await
    }

    async fn limit_try_add(&self, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError> {
        PostgresLedger::limit_try_add(self, adds).await
    }
}

/// The test database URL, or `None` (skip) outside CI.
fn test_url() -> Option<String> {
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

/// The test database, opened as a restarting rail would: each open first waits until the
/// previous ledger's instance lock is released (a restarted process's old session is gone).
struct Database {
    url: String,
    last: Mutex<Option<i32>>,
}

impl Store for Database {
    async fn fresh() -> Option<Self> {
        Some(Database {
            url: test_url()?,
            last: Mutex::new(None),
        })
    }

    async fn open(&self) -> Arc<dyn Steps> {
        let prev = self.last.lock().expect("lock").take();
        if let Some(k) = prev {
            wait_released(&self.url, k).await;
        }
        let l = PostgresLedger::open(&self.url).await.expect("open");
        *self.last.lock().expect("lock") = Some(l.instance_key());
        Arc::new(l)
    }
}

suite::shared_suite!(Database);

async fn open_at(url: &str) -> Arc<dyn Steps> {
    Arc::new(PostgresLedger::open(url).await.expect("open"))
}

/// Wait (bounded) until no session holds instance lock `key`, i.e. a dropped ledger's
/// lock connection is really gone, as after a process exit.
async fn wait_released(url: &str, key: i32) {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    for _ in 0..100 {
        let held: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                   AND classid = $1::integer::oid AND objid = $2::integer::oid
                   AND objsubid = 2",
                &[&LOCK_NS, &key],
            )
            .await
            .expect("pg_locks")
            .get(0);
        if held == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("instance lock {key} still held after 5 s");
}

/// Two ledgers on one database (two rail instances): consume, limits and the chain hold
/// across them, not only within one pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_single_use_limits_and_the_chain() {
    let Some(u) = test_url() else { return };
    let (a, b) = (open_at(&u).await, open_at(&u).await);
    suite::two_ledgers_agree(a, b).await;
}

/// Migrations are idempotent and serialized: several ledgers opening at once all succeed
/// and the schema is at the latest version once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_migrate_once() {
    let Some(u) = test_url() else { return };
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let u = u.clone();
            tokio::spawn(async move { PostgresLedger::open(&u).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.expect("join").expect("open");
    }
    let (current, latest) = migrate_url(&u).await.expect("migrate");
    assert_eq!(current, latest);
    let (c, conn) = tokio_postgres::connect(&u, NoTls).await.expect("connect");
    tokio::spawn(conn);
    let n: i64 = c
        .query_one("SELECT count(*) FROM schema_version", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, i64::from(latest), "each migration recorded once");
}

/// A permit consumed by a live instance is not reported as unfinished to another one (it
/// would "recover" a forward in flight); once that instance is gone, it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_permits_of_a_live_instance_are_left_to_it() {
    let Some(u) = test_url() else { return };
    let t = suite::tenant();
    let live = PostgresLedger::open(&u).await.expect("open");
    let key = live.instance_key();
    let p = suite::permit(&t, "in-flight");
    live.record_permit(&p).await.expect("record");
    live.consume_permit(&t, "in-flight").await.expect("consume");
    let other = open_at(&u).await;
    let mine =
        |v: Vec<(PermitRecord, PermitState)>| v.into_iter().filter(|(r, _)| r.tenant == t).count();
    assert_eq!(mine(other.unfinished_permits().await.expect("list")), 0);
    drop(live);
    wait_released(&u, key).await;
    assert_eq!(mine(other.unfinished_permits().await.expect("list")), 1);
}

/// An edited receipt row comes back exactly as edited; a row that is not JSON is corrupt.
#[tokio::test]
async fn an_edited_receipt_is_returned_as_stored() {
    let Some(u) = test_url() else { return };
    let l = open_at(&u).await;
    let t = suite::tenant();
    let key = suite::test_key();
    let id1 = format!("{t}-r1");
    let r1 = l
        .append_receipt(suite::draft(&t, &id1), Arc::clone(&key))
        .await
        .expect("append");
    l.append_receipt(suite::draft(&t, &format!("{t}-r2")), key)
        .await
        .expect("append");
    let (c, conn) = tokio_postgres::connect(&u, NoTls).await.expect("connect");
    tokio::spawn(conn);
    c.execute(
        "UPDATE receipts SET body = replace(body, 'money.refund', 'money.payment')
         WHERE id = $1",
        &[&id1],
    )
    .await
    .expect("edit");
    let got = l.receipt(&t, &id1).await.expect("get").expect("some");
    assert_eq!(got["action"], "money.payment");
    assert_ne!(
        suite::recompute_hash(&got),
        r1.hash,
        "the edit is detectable"
    );
    c.execute(
        "UPDATE receipts SET body = '{\"a\":1,\"a\":2}' WHERE id = $1",
        &[&format!("{t}-r2")],
    )
    .await
    .expect("edit");
    assert!(matches!(
        l.receipt(&t, &format!("{t}-r2")).await,
        Err(LedgerError::Corrupt(_))
    ));
}

/// A database that is not there is `Unavailable` (never a panic), and the message carries
/// neither the password nor the full URL.
#[tokio::test]
async fn an_unreachable_database_is_unavailable_without_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("postgres://rail:hunter2@127.0.0.1:{port}/rail");
    let err = crate::ledger::open(&url).await.err().expect("refused");
    assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = crate::ledger::open("postgres://rail:hunter2@[bad")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LedgerError::Unavailable(_)));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // A wrong password is refused as unavailable too, without echoing it.
    let Some(u) = test_url() else { return };
    let mut cfg = tokio_postgres::Config::from_str(&u).expect("url");
    cfg.password("not-the-password-x9");
    let host = describe(&cfg);
    let wrong = format!(
        "postgres://{}:not-the-password-x9@{}",
        cfg.get_user().unwrap_or("postgres"),
        host
    );
    let err = crate::ledger::open(&wrong).await.err().expect("refused");
    assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("not-the-password-x9"), "{err}");
}
