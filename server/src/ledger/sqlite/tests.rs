//! SQLite's own tests: the shared suite on a ledger file, the in-memory ledger, the file's
//! settings and schema, and the writer's batches (savepoints, batch signatures).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::db::{db_err, rows};
use super::schema::{open_writer, MIGRATIONS};
use super::{limits, permits, receipts, SqliteLedger};
use crate::ledger::permits::ConsumeTo;
use crate::ledger::suite::{self, Steps, Store};
use crate::ledger::{Ledger, LedgerError, SigningKey};
use crate::model::{ConsumeOutcome, LimitAdd, LimitOutcome, Outcome, PermitRecord};

#[async_trait]
impl Steps for SqliteLedger {
    async fn record_permit(&self, p: &PermitRecord) -> Result<(), LedgerError> {
        let p = p.clone();
        self.write(move |c| permits::record(c, &p)).await
    }

    async fn consume_permit(&self, tenant: &str, jti: &str) -> Result<ConsumeOutcome, LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| permits::consume(c, &t, &j, ConsumeTo::Consumed))
            .await
    }

    async fn mark_forwarding(&self, tenant: &str, jti: &str) -> Result<(), LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| permits::mark_forwarding(c, &t, &j))
            .await
    }

    async fn finish_permit(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
    ) -> Result<(), LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| permits::finish(c, &t, &j, outcome))
            .await
    }

    async fn limit_try_add(&self, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError> {
        let adds = adds.to_vec();
        self.write(move |c| limits::try_add(c, &adds)).await
    }
}

/// A ledger file in a fresh temporary directory.
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Store for File {
    async fn fresh() -> Option<Self> {
        let (_dir, path) = fresh();
        Some(File { _dir, path })
    }

    async fn open(&self) -> Arc<dyn Steps> {
        open_at(&self.path).await
    }
}

suite::shared_suite!(File);

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    (dir, path)
}

/// Keep the writer busy for half a second (once it has started on it), so the jobs sent
/// meanwhile queue up and are drained into one batch. Await the handle to release.
async fn hold_writer(l: &Arc<SqliteLedger>) -> tokio::task::JoinHandle<Result<(), LedgerError>> {
    let l = Arc::clone(l);
    let blocker = tokio::spawn(async move {
        l.write(|_| {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    blocker
}

async fn open_at(path: &Path) -> Arc<dyn Steps> {
    Arc::new(SqliteLedger::open(path).await.expect("open"))
}

/// The in-memory variant runs the non-restart behaviours too (reads go to the writer).
/// `sqlite::memory:` opens one; the suite drives one through its single steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_ledger_keeps_the_same_semantics() {
    drop(crate::ledger::open("sqlite::memory:").await.expect("open"));
    let l: Arc<dyn Steps> = Arc::new(SqliteLedger::open_in_memory().await.expect("open"));
    suite::consume_is_single_use_under_concurrency(Arc::clone(&l)).await;
    suite::limits_are_exact_under_concurrency(Arc::clone(&l)).await;
    suite::idempotency_lifecycle(Arc::clone(&l)).await;
    suite::agent_keys_put_and_revoke(l).await;
}

#[tokio::test]
async fn the_file_is_in_wal_mode_with_full_sync_and_current_schema() {
    let (_d, p) = fresh();
    let l = open_at(&p).await;
    drop(l);
    let raw = Connection::open(&p).expect("raw");
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let version: i64 = raw
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(Some(version), MIGRATIONS.last().map(|m| m.0));
    // `synchronous` is per connection: check the writer's setting through a fresh one.
    let c = open_writer(Some(&p)).expect("writer");
    let sync: i64 = c
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("sync");
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let (_d, p) = fresh();
    drop(open_at(&p).await);
    let raw = Connection::open(&p).expect("raw");
    raw.execute("INSERT INTO schema_version (version) VALUES (99)", [])
        .expect("bump");
    drop(raw);
    assert!(matches!(
        SqliteLedger::open(&p).await,
        Err(LedgerError::Corrupt(_))
    ));
}

/// An edited receipt row comes back exactly as edited (the chain verifier's job to catch);
/// a row that is not JSON at all is reported as corrupt.
#[tokio::test]
async fn an_edited_receipt_is_returned_as_stored() {
    let (_d, p) = fresh();
    let l = open_at(&p).await;
    let t = suite::tenant();
    let key = suite::test_key();
    let r1 = l
        .append_receipt(suite::draft(&t, "r1"), Arc::clone(&key))
        .await
        .expect("append");
    l.append_receipt(suite::draft(&t, "r2"), key)
        .await
        .expect("append");

    let raw = Connection::open(&p).expect("raw");
    let body: String = raw
        .query_row("SELECT body FROM receipts WHERE id = 'r1'", [], |r| {
            r.get(0)
        })
        .expect("body");
    let edited = body.replace("money.refund", "money.payment");
    assert_ne!(edited, body);
    raw.execute(
        "UPDATE receipts SET body = ?1 WHERE id = 'r1'",
        params![edited],
    )
    .expect("edit");

    let got = l.receipt(&t, "r1").await.expect("get").expect("some");
    assert_eq!(got["action"], "money.payment");
    assert_eq!(got["hash"].as_str(), Some(r1.hash.as_str()));
    assert_ne!(
        suite::recompute_hash(&got),
        r1.hash,
        "the edit is detectable"
    );
    let listed = l.receipts_after(&t, 0, 10).await.expect("list");
    assert_eq!(listed[0], got);

    raw.execute(
        "UPDATE receipts SET body = '{\"a\":1,\"a\":2}' WHERE id = 'r2'",
        [],
    )
    .expect("edit");
    assert!(matches!(
        l.receipt(&t, "r2").await,
        Err(LedgerError::Corrupt(_))
    ));
}

#[tokio::test]
async fn open_accepts_sqlite_urls_and_refuses_others() {
    let (_d, p) = fresh();
    let abs = p.to_str().expect("utf-8 path");
    let l = crate::ledger::open(&format!("sqlite://{abs}"))
        .await
        .expect("sqlite://");
    l.put_agent_key("t", "a", "h").await.expect("put");
    drop(l);
    let l = crate::ledger::open(&format!("sqlite:{abs}"))
        .await
        .expect("sqlite:");
    assert_eq!(l.agent_keys().await.expect("list").len(), 1);
    let err = crate::ledger::open("postgres://user:hunter2@db/rail")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LedgerError::Unavailable(_)));
    assert!(!err.to_string().contains("hunter2"));
    assert!(crate::ledger::open("sqlite:").await.is_err());
    let missing = format!("sqlite:{}/no/such/dir/l.db", abs);
    assert!(matches!(
        crate::ledger::open(&missing).await.err(),
        Some(LedgerError::Unavailable(_))
    ));
}

/// Jobs queued while the writer is busy are committed as one batch; a job that fails or
/// panics is rolled back alone (its savepoint), the others commit, the writer lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_in_a_batch_does_not_sink_the_others() {
    let (_d, p) = fresh();
    let l = Arc::new(SqliteLedger::open(&p).await.expect("open"));
    let insert = |c: &Connection, agent: &str| {
        c.execute(
            "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
             VALUES ('batch', ?1, 'h', 0, 0)",
            params![agent],
        )
        .map_err(|e| db_err("test insert", e))
    };
    // Hold the writer so the next jobs queue up and are drained into one batch.
    let blocker = hold_writer(&l).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let l = Arc::clone(&l);
        tasks.push(tokio::spawn(async move {
            let agent = format!("a{i}");
            l.write(move |c| {
                insert(c, &agent)?;
                match i % 3 {
                    0 => Ok(()),
                    1 => Err(LedgerError::Internal("refused after writing".into())),
                    _ => panic!("job {i} panics after writing"),
                }
            })
            .await
        }));
    }
    blocker.await.expect("join").expect("blocker");
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("join");
        assert_eq!(r.is_ok(), i % 3 == 0, "job {i}: {r:?}");
    }
    let mut stored: Vec<String> = l
        .agent_keys()
        .await
        .expect("list")
        .into_iter()
        .filter(|r| r.tenant == "batch")
        .map(|r| r.agent)
        .collect();
    stored.sort();
    let mut expected: Vec<String> = (0..30).step_by(3).map(|i| format!("a{i}")).collect();
    expected.sort();
    assert_eq!(stored, expected);
    // Still serving, and what was committed is durable across a reopen.
    l.put_agent_key("batch", "after", "h").await.expect("put");
    drop(l);
    let l = open_at(&p).await;
    let n = l
        .agent_keys()
        .await
        .expect("list")
        .into_iter()
        .filter(|r| r.tenant == "batch")
        .count();
    assert_eq!(n, 11);
}

/// A key rotation inside one batch: each run of receipts under one key gets its own
/// signature by that key; the chain verifies with both keys published.
#[tokio::test]
async fn a_key_change_inside_a_batch_starts_a_new_signed_run() {
    use intentrail_core::verify_chain;
    let (_d, p) = fresh();
    let l = Arc::new(SqliteLedger::open(&p).await.expect("open"));
    let (k1, k2) = (
        suite::test_key(),
        Arc::new(SigningKey::from_bytes(&[42u8; 32])),
    );
    let blocker = hold_writer(&l).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (l, key) = (Arc::clone(&l), if i < 3 { &k1 } else { &k2 }.clone());
        let d = suite::draft("rot", &format!("rot{i}"));
        tasks.push(tokio::spawn(async move { l.append_receipt(d, key).await }));
        // Keep the queue order (and so the seq order) fixed.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    blocker.await.expect("join").expect("blocker");
    for t in tasks {
        t.await.expect("join").expect("append");
    }
    let all = l.receipts_after("rot", 0, 10).await.expect("list");
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["sig"], all[2]["sig"]);
    assert_eq!(all[3]["sig"], all[5]["sig"]);
    assert_ne!(all[2]["sig"], all[3]["sig"]);
    assert_eq!(all[0]["batch"]["size"], 3);
    let both = HashMap::from([
        (k1.kid().to_owned(), k1.verifying_key()),
        (k2.kid().to_owned(), k2.verifying_key()),
    ]);
    verify_chain(&all, &both, None).expect("verifies with both keys");
    let only_first = HashMap::from([(k1.kid().to_owned(), k1.verifying_key())]);
    let e = verify_chain(&all, &only_first, None).expect_err("k2 unknown");
    assert_eq!(e.seq, 4);
}

/// Receipts appended in one batch, with jobs that append and then fail or panic mixed in
/// (their receipts are rolled back): two tenants, one signature each for the batch, every
/// answered receipt and every stored one verifies on its own, and the chain has no gap.
#[tokio::test]
async fn one_signature_per_tenant_per_batch_and_rolled_back_receipts_are_not_signed() {
    use intentrail_core::verify_chain;
    let (_d, p) = fresh();
    let l = Arc::new(SqliteLedger::open(&p).await.expect("open"));
    let key = suite::test_key();
    let keys = HashMap::from([(key.kid().to_owned(), key.verifying_key())]);
    let blocker = hold_writer(&l).await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (l, key) = (Arc::clone(&l), Arc::clone(&key));
            let tenant = if i % 2 == 0 { "ta" } else { "tb" };
            let d = suite::draft(tenant, &format!("r{i}"));
            tokio::spawn(async move {
                l.write_signed(move |c| {
                    let r = receipts::append(c, d, &key)?;
                    match i % 4 {
                        1 => Err(LedgerError::Internal("refused after appending".into())),
                        3 if i == 7 => panic!("job {i} panics after appending"),
                        _ => Ok(r),
                    }
                })
                .await
            })
        })
        .collect();
    blocker.await.expect("join").expect("blocker");
    let mut answered = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("join");
        assert_eq!(r.is_ok(), i % 4 != 1 && i != 7, "job {i}: {r:?}");
        answered.extend(r.ok());
    }
    let batches = stored_batches(&l).await;
    // ta: jobs 0,2,4,…,22 all succeed (12); tb: 3,11,15,19,23 (7 panics, 1 mod 4 fails).
    assert_eq!(
        batches,
        vec![("ta".to_owned(), 1, 12), ("tb".to_owned(), 1, 5)]
    );
    for r in &answered {
        let v = serde_json::to_value(r).expect("json");
        assert_eq!(v["batch"]["size"], if r.tenant == "ta" { 12 } else { 5 });
        verify_chain(&[v], &keys, Some((r.seq - 1, r.prev.clone()))).expect("alone");
    }
    for (tenant, n) in [("ta", 12), ("tb", 5)] {
        let all = l.receipts_after(tenant, 0, 100).await.expect("list");
        assert_eq!(all.len(), n);
        verify_chain(&all, &keys, None).expect("chain");
        // One signature for the tenant's whole batch.
        assert!(all.iter().all(|r| r["sig"] == all[0]["sig"]));
        let one = l
            .receipt(tenant, all[n - 1]["id"].as_str().expect("id"))
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(one, all[n - 1]);
    }
    // A tampered batch signature is caught on read-back (never re-signed by a read).
    l.write(|c| {
        c.execute(
            "UPDATE receipt_batches SET sig = 'AAAA' WHERE tenant = 'tb'",
            [],
        )
        .map_err(|e| db_err("test", e))
    })
    .await
    .expect("tamper");
    let all = l.receipts_after("tb", 0, 100).await.expect("list");
    let e = verify_chain(&all, &keys, None).expect_err("tampered");
    assert_eq!(e.seq, 1);
}

#[test]
fn ledger_errors_map_to_the_error_vocabulary() {
    use intentrail_core::ErrorKind;
    let e: intentrail_core::Error = LedgerError::Unavailable("busy".into()).into();
    assert_eq!(e.kind(), ErrorKind::LedgerUnavailable);
    let e: intentrail_core::Error = LedgerError::Corrupt("x".into()).into();
    assert_eq!(e.kind(), ErrorKind::Internal);
    let e: intentrail_core::Error = LedgerError::Internal("x".into()).into();
    assert_eq!(e.kind(), ErrorKind::Internal);
}

/// The stored batch rows: (tenant, first seq, last seq), by tenant.
async fn stored_batches(l: &SqliteLedger) -> Vec<(String, i64, i64)> {
    l.read(|c| {
        rows(
            c,
            "test",
            "SELECT tenant, first_seq, last_seq FROM receipt_batches ORDER BY tenant",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    })
    .await
    .expect("batches")
}
