//! Chain appends in PostgreSQL: per-tenant group commit. Appends of one tenant queued while a
//! commit is in flight go together in the next transaction (at most [`MAX_APPEND_BATCH`]),
//! which locks the tenant's `chain_heads` row once, places each receipt on top of the last,
//! applies the permit change that goes with it, signs the batch and moves the head.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_postgres::{Client, Transaction};

use super::db::{db_err, get};
use super::pool::{timed_out, with_pool_conn, Pool};
use super::{batch, permits, PostgresLedger, CALL_TIMEOUT};
use crate::ledger::chain::{self, body, duplicate_id, seal_failed};
use crate::ledger::clock::now_ms;
use crate::ledger::rows::{to_i64, to_u64};
use crate::ledger::{LedgerError, Receipt, SigningKey, GENESIS_PREV};
use crate::model::{Outcome, PermitRecord};

/// Most receipts one append transaction seals and commits.
const MAX_APPEND_BATCH: usize = 64;

/// Receipts waiting to be appended, per tenant. A tenant present in the map has exactly one
/// drainer task running; the drainer removes the tenant when it finds its queue empty.
pub(super) type AppendQueues = Mutex<HashMap<String, Vec<PendingAppend>>>;

/// One queued append and where its answer goes.
pub(super) struct PendingAppend {
    draft: Receipt,
    key: Arc<SigningKey>,
    with: WithReceipt,
    tx: tokio::sync::oneshot::Sender<Result<Receipt, LedgerError>>,
}

/// A permit change committed in the same transaction as its receipt.
pub(super) enum WithReceipt {
    /// Just the receipt.
    Nothing,
    /// Record this permit as issued (the decision receipt of `issue_permit`).
    Record(Box<PermitRecord>),
    /// Finish this permit with this outcome (the execution receipt).
    Finish {
        /// The permit.
        jti: String,
        /// Its outcome.
        outcome: Outcome,
    },
}

/// One receipt to append: the draft, its key and its permit change.
type Item = (Receipt, Arc<SigningKey>, WithReceipt);

impl PostgresLedger {
    /// Queue `draft` (with a permit change applied in the same transaction) on the tenant's
    /// append batch and wait for the batch to commit.
    pub(super) async fn append_with(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
        with: WithReceipt,
    ) -> Result<Receipt, LedgerError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tenant = draft.tenant.clone();
        let pending = PendingAppend {
            draft,
            key,
            with,
            tx,
        };
        let start_drainer = {
            let mut queues = self.appends.lock().unwrap_or_else(|p| p.into_inner());
            match queues.entry(tenant.clone()) {
                std::collections::hash_map::Entry::Occupied(mut q) => {
                    q.get_mut().push(pending);
                    false
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(vec![pending]);
                    true
                }
            }
        };
        if start_drainer {
            tokio::spawn(drain_appends(
                Arc::clone(&self.pool),
                Arc::clone(&self.appends),
                tenant,
            ));
        }
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(out)) => out,
            Ok(Err(_)) => Err(LedgerError::Unavailable(
                "the receipt append task stopped".into(),
            )),
            Err(_) => Err(timed_out("append a receipt", &self.pool.target)),
        }
    }
}

/// Append everything queued for `tenant`, up to [`MAX_APPEND_BATCH`] receipts per transaction
/// (one head lock, one commit for the batch), answering each caller after its batch committed.
/// Runs as its own task so a caller that goes away never abandons the others' batch.
async fn drain_appends(pool: Arc<Pool>, queues: Arc<AppendQueues>, tenant: String) {
    loop {
        let batch: Vec<PendingAppend> = {
            let mut q = queues.lock().unwrap_or_else(|p| p.into_inner());
            let Some(pending) = q.get_mut(&tenant) else {
                return;
            };
            if pending.is_empty() {
                q.remove(&tenant);
                return;
            }
            let n = pending.len().min(MAX_APPEND_BATCH);
            pending.drain(..n).collect()
        };
        let (items, senders): (Vec<Item>, Vec<_>) = batch
            .into_iter()
            .map(|p| ((p.draft, p.key, p.with), p.tx))
            .unzip();
        let t = tenant.clone();
        let outcome = with_pool_conn(&pool, "append receipts", move |c| {
            Box::pin(append_batch(c, t, items))
        })
        .await;
        match outcome {
            Ok(results) => {
                for (tx, r) in senders.into_iter().zip(results) {
                    let _ = tx.send(r);
                }
            }
            Err(e) => {
                for tx in senders {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One transaction: lock the tenant's head, apply each item's permit change and store its
/// receipt on top of the last, sign the batch, move the head, commit. An item that does not
/// apply (a receipt id already stored, a permit in the wrong state…) is answered with
/// [`LedgerError::Internal`] and takes no seq; any database failure fails the whole batch
/// (nothing of it was applied).
async fn append_batch(
    c: &mut Client,
    tenant: String,
    items: Vec<Item>,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_err("begin a receipt append", &e))?;
    let (mut last, mut prev) = lock_head(&tx, &tenant).await?;
    let start = last;
    let batch = Batch {
        tx: &tx,
        tenant: &tenant,
        // A lone receipt is signed before its insert; several are signed together once stored.
        alone: items.len() == 1,
        now: now_ms(),
    };
    let mut unsigned: Vec<(usize, Arc<SigningKey>)> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (draft, key, with) in items {
        let appended = batch.append(draft, &key, with, (last, &prev)).await?;
        if let Ok(r) = &appended {
            last = r.seq;
            prev.clone_from(&r.hash);
            if !batch.alone {
                unsigned.push((out.len(), key));
            }
        }
        out.push(appended);
    }
    batch::sign_stored(&tx, &tenant, &mut out, &unsigned).await?;
    if last != start {
        tx.execute(
            "UPDATE chain_heads SET seq = $2, hash = $3 WHERE tenant = $1",
            &[&tenant, &to_i64(last, "receipt seq")?, &prev],
        )
        .await
        .map_err(|e| db_err("move the chain head", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_err("commit receipts", &e))?;
    Ok(out)
}

/// Lock `tenant`'s chain head (created at genesis if missing) and read it: (last seq, hash).
async fn lock_head(tx: &Transaction<'_>, tenant: &str) -> Result<(u64, String), LedgerError> {
    tx.execute(
        "INSERT INTO chain_heads (tenant, seq, hash) VALUES ($1, 0, $2)
         ON CONFLICT (tenant) DO NOTHING",
        &[&tenant, &GENESIS_PREV],
    )
    .await
    .map_err(|e| db_err("create the chain head", &e))?;
    let head = tx
        .query_one(
            "SELECT seq, hash FROM chain_heads WHERE tenant = $1 FOR UPDATE",
            &[&tenant],
        )
        .await
        .map_err(|e| db_err("lock the chain head", &e))?;
    Ok((
        to_u64(get(&head, 0, "chain head")?, "receipt seq")?,
        get(&head, 1, "chain head")?,
    ))
}

/// The transaction of one append batch, and what holds for every item of it.
struct Batch<'a> {
    tx: &'a Transaction<'a>,
    tenant: &'a str,
    /// One receipt: signed before its insert (else signed with the others once stored).
    alone: bool,
    now: i64,
}

impl Batch<'_> {
    /// Apply one item's permit change and store its receipt on top of `head`: `Ok(Err(_))` when
    /// the item does not apply (it takes no seq), `Err(_)` when the database failed (the batch
    /// fails).
    async fn append(
        &self,
        mut draft: Receipt,
        key: &SigningKey,
        with: WithReceipt,
        head: (u64, &str),
    ) -> Result<Result<Receipt, LedgerError>, LedgerError> {
        let (tx, tenant) = (self.tx, self.tenant);
        if draft.tenant != tenant {
            return Ok(Err(LedgerError::Internal(
                "a receipt was queued under another tenant".into(),
            )));
        }
        // The permit change first: if it does not apply, the receipt is not appended either.
        if let Some(refused) = apply_change(tx, tenant, with, self.now).await? {
            return Ok(Err(refused));
        }
        let seq = chain::place(&mut draft, head.0, head.1)?;
        let sealed = if self.alone {
            draft.seal(key)
        } else {
            draft.seal_unsigned(key.kid())
        };
        if let Err(e) = sealed {
            return Ok(Err(seal_failed(e)));
        }
        let text = match body(&draft) {
            Ok(text) => text,
            Err(e) => return Ok(Err(e)),
        };
        let n = tx
            .execute(
                "INSERT INTO receipts (tenant, seq, id, hash, body, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO NOTHING",
                &[
                    &tenant,
                    &to_i64(seq, "receipt seq")?,
                    &draft.id,
                    &draft.hash,
                    &text,
                    &self.now,
                ],
            )
            .await
            .map_err(|e| db_err("store a receipt", &e))?;
        if n == 0 {
            return Ok(Err(duplicate_id(&draft.id)));
        }
        Ok(Ok(draft))
    }
}

/// Apply the permit change that goes with a receipt: `Some(refusal)` when it does not apply.
async fn apply_change(
    tx: &Transaction<'_>,
    tenant: &str,
    with: WithReceipt,
    now: i64,
) -> Result<Option<LedgerError>, LedgerError> {
    match with {
        WithReceipt::Nothing => Ok(None),
        WithReceipt::Record(p) if p.tenant != tenant => Ok(Some(LedgerError::Internal(
            "a permit was recorded under another tenant's receipt".into(),
        ))),
        WithReceipt::Record(p) => Ok((!permits::record(tx, &p, now).await?)
            .then(|| crate::ledger::permits::already_recorded(&p))),
        WithReceipt::Finish { jti, outcome } => {
            if permits::finish(tx, tenant, &jti, outcome, now).await? {
                Ok(None)
            } else {
                Ok(Some(permits::refusal(tx, tenant, &jti, "done").await?))
            }
        }
    }
}
