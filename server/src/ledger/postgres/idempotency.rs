//! Idempotency records in PostgreSQL: begin (insert or read back), complete, abort; the answer
//! for a key already recorded is the shared rule (`ledger/idempotency.rs`).

use tokio_postgres::Client;

use super::db::{db_err, get};
use crate::ledger::clock::now_ms;
use crate::ledger::idempotency::{decide, never_begun, Stored};
use crate::ledger::LedgerError;
use crate::model::IdempotencyBegin;

/// Record (tenant, agent, key) in progress, or answer from its stored row. A row seen by the
/// insert can be aborted before the read: then try again (three times at most).
pub(super) async fn begin(
    c: &Client,
    tenant: &str,
    agent: &str,
    key: &str,
    payload_hash: &str,
) -> Result<IdempotencyBegin, LedgerError> {
    for _ in 0..3 {
        let inserted = c
            .execute(
                "INSERT INTO idempotency (tenant, agent, idem_key, payload_hash, state,
                                          created_at_ms)
                 VALUES ($1, $2, $3, $4, 'in_progress', $5)
                 ON CONFLICT (tenant, agent, idem_key) DO NOTHING",
                &[&tenant, &agent, &key, &payload_hash, &now_ms()],
            )
            .await
            .map_err(|e| db_err("begin an idempotent request", &e))?;
        if inserted == 1 {
            return Ok(IdempotencyBegin::New);
        }
        let Some(row) = c
            .query_opt(
                "SELECT payload_hash, state, response FROM idempotency
                 WHERE tenant = $1 AND agent = $2 AND idem_key = $3",
                &[&tenant, &agent, &key],
            )
            .await
            .map_err(|e| db_err("read an idempotency record", &e))?
        else {
            continue;
        };
        let stored = Stored {
            payload_hash: get(&row, 0, "idempotency")?,
            state: get(&row, 1, "idempotency")?,
            response: get(&row, 2, "idempotency")?,
        };
        return decide(key, payload_hash, stored);
    }
    Err(LedgerError::Unavailable(format!(
        "idempotency key {key:?} kept changing under this request"
    )))
}

/// Store the response of an in-progress key; a completed key keeps its first response.
pub(super) async fn complete(
    c: &Client,
    tenant: &str,
    agent: &str,
    key: &str,
    response: &str,
) -> Result<(), LedgerError> {
    let n = c
        .execute(
            "UPDATE idempotency SET state = 'done', response = $4, completed_at_ms = $5
             WHERE tenant = $1 AND agent = $2 AND idem_key = $3 AND state = 'in_progress'",
            &[&tenant, &agent, &key, &response, &now_ms()],
        )
        .await
        .map_err(|e| db_err("complete an idempotent request", &e))?;
    if n == 1 {
        return Ok(());
    }
    let exists = c
        .query_opt(
            "SELECT 1 FROM idempotency WHERE tenant = $1 AND agent = $2 AND idem_key = $3",
            &[&tenant, &agent, &key],
        )
        .await
        .map_err(|e| db_err("read an idempotency record", &e))?;
    match exists {
        Some(_) => Ok(()), // already done: the first response stays
        None => Err(never_begun(agent, key)),
    }
}

/// Forget an in-progress key; a completed or unknown key is left alone.
pub(super) async fn abort(
    c: &Client,
    tenant: &str,
    agent: &str,
    key: &str,
) -> Result<(), LedgerError> {
    c.execute(
        "DELETE FROM idempotency
         WHERE tenant = $1 AND agent = $2 AND idem_key = $3 AND state = 'in_progress'",
        &[&tenant, &agent, &key],
    )
    .await
    .map_err(|e| db_err("abort an idempotent request", &e))?;
    Ok(())
}
