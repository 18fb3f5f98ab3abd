//! Limits in PostgreSQL: the touched windows are created if missing and locked
//! (`SELECT … FOR UPDATE`) in one sorted order, so calls naming the same windows are serialized
//! across instances and never deadlock; the shared room check
//! (`ledger/limits.rs`) decides, and the new totals are written in the same
//! transaction.

use std::collections::HashMap;

use tokio_postgres::{Client, Transaction};

use super::db::{db_err, get};
use crate::ledger::limits::{self, Check, Totals, Window};
use crate::ledger::rows::{to_i64, to_u64};
use crate::ledger::LedgerError;
use crate::model::{LimitAdd, LimitOutcome};

/// Apply `adds` all-or-nothing in one transaction (none for no adds).
pub(super) async fn try_add(
    c: &mut Client,
    adds: &[LimitAdd],
) -> Result<LimitOutcome, LedgerError> {
    if adds.is_empty() {
        return Ok(LimitOutcome::Allowed);
    }
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_err("begin a limit transaction", &e))?;
    let mut stored = HashMap::new();
    for w in limits::windows(adds) {
        let totals = lock_window(&tx, &w).await?;
        stored.insert(w, totals);
    }
    let totals = match limits::check(adds, stored) {
        Check::Allowed(totals) => totals,
        Check::Exceeded { limit_id } => {
            // Rolls back the windows created above.
            tx.rollback()
                .await
                .map_err(|e| db_err("roll back a limit transaction", &e))?;
            return Ok(LimitOutcome::Exceeded { limit_id });
        }
    };
    for (w, (count, sum)) in &totals {
        tx.execute(
            "UPDATE limit_windows SET req_count = $5, amount_sum = $6
             WHERE tenant = $1 AND agent = $2 AND limit_id = $3 AND window_start_ms = $4",
            &[
                &w.tenant,
                &w.agent,
                &w.limit_id,
                &w.start_ms,
                &to_i64(*count, "limit count")?,
                sum,
            ],
        )
        .await
        .map_err(|e| db_err("update a limit window", &e))?;
        tx.execute(
            "DELETE FROM limit_windows
             WHERE tenant = $1 AND agent = $2 AND limit_id = $3 AND window_start_ms < $4",
            &[&w.tenant, &w.agent, &w.limit_id, &w.start_ms],
        )
        .await
        .map_err(|e| db_err("prune old limit windows", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_err("commit a limit transaction", &e))?;
    Ok(LimitOutcome::Allowed)
}

/// Create window `w` if missing, lock it and read its totals.
async fn lock_window(tx: &Transaction<'_>, w: &Window) -> Result<Totals, LedgerError> {
    tx.execute(
        "INSERT INTO limit_windows (tenant, agent, limit_id, window_start_ms,
                                    req_count, amount_sum)
         VALUES ($1, $2, $3, $4, 0, 0)
         ON CONFLICT (tenant, agent, limit_id, window_start_ms) DO NOTHING",
        &[&w.tenant, &w.agent, &w.limit_id, &w.start_ms],
    )
    .await
    .map_err(|e| db_err("create a limit window", &e))?;
    let row = tx
        .query_one(
            "SELECT req_count, amount_sum FROM limit_windows
             WHERE tenant = $1 AND agent = $2 AND limit_id = $3 AND window_start_ms = $4
             FOR UPDATE",
            &[&w.tenant, &w.agent, &w.limit_id, &w.start_ms],
        )
        .await
        .map_err(|e| db_err("lock a limit window", &e))?;
    let n: i64 = get(&row, 0, "limit window")?;
    let s: f64 = get(&row, 1, "limit window")?;
    Ok((to_u64(n, "limit count")?, s))
}
