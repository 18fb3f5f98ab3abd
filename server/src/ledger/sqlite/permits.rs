//! Permits in SQLite: record, consume, the later steps of the state machine and the list of
//! unfinished ones. Each step is ONE conditional update checked by its changed-row count, run
//! inside the writer's transaction (composable: one job may run several).

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{db_err, exec, row, rows};
use crate::ledger::clock::now_ms;
use crate::ledger::permits::{already_recorded, cannot_move, parse_state, ConsumeTo};
use crate::ledger::LedgerError;
use crate::model::{ConsumeOutcome, Outcome, PermitRecord, PermitState};

/// Store an issued permit; a second record of (tenant, jti) is refused.
pub(super) fn record(c: &Connection, p: &PermitRecord) -> Result<(), LedgerError> {
    exec(
        c,
        "INSERT INTO permits (tenant, jti, agent, action, payload_hash, expires_at_ms,
                              idempotency_key, state, issued_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'issued', ?8)",
        params![
            p.tenant,
            p.jti,
            p.agent,
            p.action,
            p.payload_hash,
            p.expires_at_ms,
            p.idempotency_key,
            now_ms()
        ],
    )
    .map_err(|e| {
        if super::db::is_constraint(&e) {
            already_recorded(p)
        } else {
            db_err("record a permit", e)
        }
    })?;
    Ok(())
}

/// `issued → to` in ONE conditional update; exactly one concurrent caller wins.
pub(super) fn consume(
    c: &Connection,
    tenant: &str,
    jti: &str,
    to: ConsumeTo,
) -> Result<ConsumeOutcome, LedgerError> {
    let won = row(
        c,
        "UPDATE permits SET state = ?4, consumed_at_ms = ?3,
                            forwarding_at_ms = CASE WHEN ?4 = 'forwarding' THEN ?3 END
         WHERE tenant = ?1 AND jti = ?2 AND state = 'issued'
         RETURNING agent, action, payload_hash, expires_at_ms, idempotency_key",
        params![tenant, jti, now_ms(), to.as_str()],
        |r| {
            Ok(PermitRecord {
                jti: jti.to_owned(),
                tenant: tenant.to_owned(),
                agent: r.get(0)?,
                action: r.get(1)?,
                payload_hash: r.get(2)?,
                expires_at_ms: r.get(3)?,
                idempotency_key: r.get(4)?,
            })
        },
    )
    .optional()
    .map_err(|e| db_err("consume a permit", e))?;
    Ok(match won {
        Some(rec) => ConsumeOutcome::Consumed(rec),
        None if state(c, tenant, jti)?.is_some() => ConsumeOutcome::AlreadyUsed,
        None => ConsumeOutcome::NotFound,
    })
}

/// `consumed → forwarding`.
#[cfg(test)]
pub(super) fn mark_forwarding(c: &Connection, tenant: &str, jti: &str) -> Result<(), LedgerError> {
    let n = exec(
        c,
        "UPDATE permits SET state = 'forwarding', forwarding_at_ms = ?3
         WHERE tenant = ?1 AND jti = ?2 AND state = 'consumed'",
        params![tenant, jti, now_ms()],
    )
    .map_err(|e| db_err("mark a permit forwarding", e))?;
    moved(c, n, tenant, jti, "forwarding")
}

/// `consumed | forwarding → done`, recording the outcome.
pub(super) fn finish(
    c: &Connection,
    tenant: &str,
    jti: &str,
    outcome: Outcome,
) -> Result<(), LedgerError> {
    let n = exec(
        c,
        "UPDATE permits SET state = 'done', outcome = ?3, done_at_ms = ?4
         WHERE tenant = ?1 AND jti = ?2 AND state IN ('consumed', 'forwarding')",
        params![tenant, jti, outcome.as_str(), now_ms()],
    )
    .map_err(|e| db_err("finish a permit", e))?;
    moved(c, n, tenant, jti, "done")
}

/// `Ok` when the step changed the one row, else the refusal naming the permit's state.
fn moved(c: &Connection, n: usize, tenant: &str, jti: &str, to: &str) -> Result<(), LedgerError> {
    if n == 1 {
        return Ok(());
    }
    Err(cannot_move(
        tenant,
        jti,
        state(c, tenant, jti)?.as_deref(),
        to,
    ))
}

/// The stored state of a permit, `None` when there is none.
fn state(c: &Connection, tenant: &str, jti: &str) -> Result<Option<String>, LedgerError> {
    row(
        c,
        "SELECT state FROM permits WHERE tenant = ?1 AND jti = ?2",
        params![tenant, jti],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| db_err("read a permit", e))
}

/// Permits left `consumed` or `forwarding`, oldest consume first.
pub(super) fn unfinished(c: &Connection) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError> {
    let found = rows(
        c,
        "list unfinished permits",
        "SELECT tenant, jti, agent, action, payload_hash, expires_at_ms, idempotency_key, state
         FROM permits WHERE state IN ('consumed', 'forwarding')
         ORDER BY consumed_at_ms, tenant, jti",
        [],
        |r| {
            Ok((
                PermitRecord {
                    tenant: r.get(0)?,
                    jti: r.get(1)?,
                    agent: r.get(2)?,
                    action: r.get(3)?,
                    payload_hash: r.get(4)?,
                    expires_at_ms: r.get(5)?,
                    idempotency_key: r.get(6)?,
                },
                r.get::<_, String>(7)?,
            ))
        },
    )?;
    found
        .into_iter()
        .map(|(rec, s)| Ok((rec, parse_state(&s)?)))
        .collect()
}
