//! Idempotency records in SQLite: begin (insert or read back), complete, abort; the answer
//! for a key already recorded is the shared rule (`ledger/idempotency.rs`).

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{db_err, exec, row};
use crate::ledger::clock::now_ms;
use crate::ledger::idempotency::{decide, never_begun, Stored};
use crate::ledger::LedgerError;
use crate::model::IdempotencyBegin;

/// Record (tenant, agent, key) in progress, or answer from its stored row.
pub(super) fn begin(
    c: &Connection,
    tenant: &str,
    agent: &str,
    key: &str,
    payload_hash: &str,
) -> Result<IdempotencyBegin, LedgerError> {
    let inserted = exec(
        c,
        "INSERT INTO idempotency (tenant, agent, idem_key, payload_hash, state, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, 'in_progress', ?5)
         ON CONFLICT (tenant, agent, idem_key) DO NOTHING",
        params![tenant, agent, key, payload_hash, now_ms()],
    )
    .map_err(|e| db_err("begin an idempotent request", e))?;
    if inserted == 1 {
        return Ok(IdempotencyBegin::New);
    }
    let stored = row(
        c,
        "SELECT payload_hash, state, response FROM idempotency
         WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3",
        params![tenant, agent, key],
        |r| {
            Ok(Stored {
                payload_hash: r.get(0)?,
                state: r.get(1)?,
                response: r.get(2)?,
            })
        },
    )
    .map_err(|e| db_err("read an idempotency record", e))?;
    decide(key, payload_hash, stored)
}

/// Store the response of an in-progress key; a completed key keeps its first response.
pub(super) fn complete(
    c: &Connection,
    tenant: &str,
    agent: &str,
    key: &str,
    response: &str,
) -> Result<(), LedgerError> {
    let n = exec(
        c,
        "UPDATE idempotency SET state = 'done', response = ?4, completed_at_ms = ?5
         WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3 AND state = 'in_progress'",
        params![tenant, agent, key, response, now_ms()],
    )
    .map_err(|e| db_err("complete an idempotent request", e))?;
    if n == 1 {
        return Ok(());
    }
    let exists = row(
        c,
        "SELECT 1 FROM idempotency WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3",
        params![tenant, agent, key],
        |_| Ok(()),
    )
    .optional()
    .map_err(|e| db_err("read an idempotency record", e))?;
    match exists {
        Some(()) => Ok(()), // already done: the first response stays
        None => Err(never_begun(agent, key)),
    }
}

/// Forget an in-progress key; a completed or unknown key is left alone.
pub(super) fn abort(
    c: &Connection,
    tenant: &str,
    agent: &str,
    key: &str,
) -> Result<(), LedgerError> {
    exec(
        c,
        "DELETE FROM idempotency
         WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3 AND state = 'in_progress'",
        params![tenant, agent, key],
    )
    .map_err(|e| db_err("abort an idempotent request", e))?;
    Ok(())
}
