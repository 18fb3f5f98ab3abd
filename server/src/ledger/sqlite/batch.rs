//! SQLite's storage of batch signatures (the runs are formed and signed by
//! `ledger/batch_sign.rs`).
//!
//! Inside a batch transaction each appended receipt is hashed and stored without a signature
//! (`"sig": ""` in its body) and queued here. Just before `COMMIT` the writer signs the queued
//! receipts run by run and stores one `receipt_batches` row (tenant, first seq, last seq,
//! signature) per run in the same transaction: a receipt and its signature are durable
//! together or not at all, so a crash loses nothing acknowledged.
//!
//! The answers carry the full receipts (signature and proof filled in from [`Seals`]); reads
//! rebuild the proof of a stored receipt from its batch row and the batch's stored hashes
//! ([`attach`]), so every receipt served or exported verifies on its own.
//!
//! The queue is a thread-local of the writer thread: jobs only see the connection, and the
//! writer is the one thread that runs them, one batch at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use intentrail_core::batch::{self, BatchProof};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::db::{db_err, exec, row, rows};
use crate::ledger::batch_sign::{self, Unsigned};
use crate::ledger::rows::{to_i64, to_u64};
use crate::ledger::{LedgerError, Receipt, SigningKey};

/// One receipt stored in the current batch, waiting for its signature.
struct Queued {
    tenant: String,
    seq: u64,
    hash: String,
    key: Arc<SigningKey>,
}

thread_local! {
    static QUEUE: RefCell<Vec<Queued>> = const { RefCell::new(Vec::new()) };
}

/// Queue a receipt just stored (sealed unsigned) for this batch's signature.
pub(super) fn queue(r: &Receipt, key: &Arc<SigningKey>) {
    QUEUE.with(|q| {
        q.borrow_mut().push(Queued {
            tenant: r.tenant.clone(),
            seq: r.seq,
            hash: r.hash.clone(),
            key: Arc::clone(key),
        })
    });
}

/// How many receipts are queued (a mark to [`rollback_to`] when a job's savepoint rolls back).
pub(super) fn mark() -> usize {
    QUEUE.with(|q| q.borrow().len())
}

/// Forget the receipts queued after `mark` (their rows were rolled back).
pub(super) fn rollback_to(mark: usize) {
    QUEUE.with(|q| q.borrow_mut().truncate(mark));
}

/// Forget every queued receipt (a new batch starts, or the batch failed).
pub(super) fn clear() {
    QUEUE.with(|q| q.borrow_mut().clear());
}

/// The signatures of one committed batch, by receipt `hash` (unique: it covers tenant, seq
/// and id).
#[derive(Debug, Default)]
pub(super) struct Seals(HashMap<String, (Arc<str>, Option<BatchProof>)>);

impl Seals {
    /// Put the signature (and proof) of `r` in place. A receipt of this batch without one is an
    /// internal error (never answered unsigned).
    pub(super) fn fill(&self, r: &mut Receipt) -> Result<(), LedgerError> {
        let Some((sig, proof)) = self.0.get(r.hash.as_str()) else {
            return Err(LedgerError::Internal(format!(
                "receipt seq {} of tenant {:?} was not signed",
                r.seq, r.tenant
            )));
        };
        r.sig = sig.to_string();
        r.batch.clone_from(proof);
        Ok(())
    }
}

/// Sign every queued receipt and store one batch row per run (inside the open transaction).
pub(super) fn sign_queued(conn: &Connection) -> Result<Seals, LedgerError> {
    let mut queued = QUEUE.with(|q| std::mem::take(&mut *q.borrow_mut()));
    // Chain order per tenant (appends of one tenant are already in seq order; stable sort).
    queued.sort_by(|a, b| a.tenant.cmp(&b.tenant).then(a.seq.cmp(&b.seq)));
    let items: Vec<Unsigned<'_>> = queued
        .iter()
        .map(|q| Unsigned {
            tenant: &q.tenant,
            seq: q.seq,
            hash: &q.hash,
            key: &q.key,
        })
        .collect();
    let mut seals = Seals(HashMap::with_capacity(queued.len()));
    for run in batch_sign::sign_runs(&items) {
        let run_items = &queued[run.range];
        let (Some(first), Some(last)) = (run_items.first(), run_items.last()) else {
            continue;
        };
        exec(
            conn,
            "INSERT INTO receipt_batches (tenant, first_seq, last_seq, sig) VALUES (?1, ?2, ?3, ?4)",
            params![
                first.tenant,
                to_i64(first.seq, "receipt seq")?,
                to_i64(last.seq, "receipt seq")?,
                run.sig
            ],
        )
        .map_err(|e| db_err("store a receipt batch signature", e))?;
        let sig: Arc<str> = run.sig.into();
        for (q, proof) in run_items.iter().zip(run.proofs) {
            seals.0.insert(q.hash.clone(), (Arc::clone(&sig), proof));
        }
    }
    Ok(seals)
}

/// One stored batch, with the proofs of its receipts.
struct StoredBatch {
    first: u64,
    last: u64,
    sig: String,
    proofs: Vec<BatchProof>,
}

/// The stored batch holding receipt `seq` of `tenant`, if any.
fn load_batch(
    conn: &Connection,
    tenant: &str,
    seq: u64,
) -> Result<Option<StoredBatch>, LedgerError> {
    let seq_i = to_i64(seq, "receipt seq")?;
    let found: Option<(i64, i64, String)> = row(
        conn,
        "SELECT first_seq, last_seq, sig FROM receipt_batches
         WHERE tenant = ?1 AND last_seq >= ?2 ORDER BY last_seq LIMIT 1",
        params![tenant, seq_i],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
    .map_err(|e| db_err("read a receipt batch", e))?;
    let Some((first, last, sig)) = found else {
        return Ok(None);
    };
    if first > seq_i {
        return Ok(None);
    }
    let (first, last) = (to_u64(first, "batch seq")?, to_u64(last, "batch seq")?);
    let mut proofs = Vec::new();
    if last > first {
        let hashes: Vec<String> = rows(
            conn,
            "read a receipt batch",
            "SELECT hash FROM receipts WHERE tenant = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
            params![tenant, to_i64(first, "seq")?, to_i64(last, "seq")?],
            |r| r.get(0),
        )?;
        if hashes.len() as u64 == last - first + 1 {
            let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
            proofs = batch::proofs(&refs);
        }
    }
    Ok(Some(StoredBatch {
        first,
        last,
        sig,
        proofs,
    }))
}

/// Fill in `sig` (and `batch`) of stored receipts whose body holds no signature, from their
/// batch rows. `stored` are one tenant's (seq, body) in seq order. A receipt whose batch row is
/// missing or incomplete is left as stored: the chain verifier reports it.
pub(super) fn attach(
    conn: &Connection,
    tenant: &str,
    stored: &mut [(u64, Value)],
) -> Result<(), LedgerError> {
    let mut current: Option<StoredBatch> = None;
    for (seq, body) in stored.iter_mut() {
        if body.get("sig").and_then(Value::as_str) != Some("") {
            continue;
        }
        if !current
            .as_ref()
            .is_some_and(|b| b.first <= *seq && *seq <= b.last)
        {
            current = load_batch(conn, tenant, *seq)?;
        }
        let Some(b) = &current else { continue };
        let Value::Object(m) = body else { continue };
        if b.first == b.last {
            m.insert("sig".into(), Value::String(b.sig.clone()));
            continue;
        }
        let Some(proof) = usize::try_from(*seq - b.first)
            .ok()
            .and_then(|i| b.proofs.get(i))
        else {
            continue;
        };
        let proof = serde_json::to_value(proof)
            .map_err(|e| LedgerError::Internal(format!("cannot serialize a batch proof: {e}")))?;
        m.insert("sig".into(), Value::String(b.sig.clone()));
        m.insert("batch".into(), proof);
    }
    Ok(())
}
