//! Permits in PostgreSQL: record, consume (stamped with the consuming instance), the later
//! steps of the state machine, and the unfinished permits of instances that are gone. Each step
//! is ONE conditional statement checked by its changed-row count; the functions run on a
//! connection or inside a transaction. A step that does not apply answers `false` (the caller
//! names it with [`refusal`]); an error is the database's, and fails the caller's transaction.

use tokio_postgres::{GenericClient, Row};

use super::db::{db_err, get};
use super::instance::LOCK_NS;
use crate::ledger::clock::now_ms;
use crate::ledger::permits::{already_recorded, cannot_move, parse_state, ConsumeTo};
use crate::ledger::LedgerError;
use crate::model::{ConsumeOutcome, Outcome, PermitRecord, PermitState};

/// Store an issued permit at `now`; `false` when (tenant, jti) is already recorded.
pub(super) async fn record(
    c: &impl GenericClient,
    p: &PermitRecord,
    now: i64,
) -> Result<bool, LedgerError> {
    let n = c
        .execute(
            "INSERT INTO permits (tenant, jti, agent, action, payload_hash, expires_at_ms,
                                  idempotency_key, state, issued_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'issued', $8)
             ON CONFLICT DO NOTHING",
            &[
                &p.tenant,
                &p.jti,
                &p.agent,
                &p.action,
                &p.payload_hash,
                &p.expires_at_ms,
                &p.idempotency_key,
                &now,
            ],
        )
        .await
        .map_err(|e| db_err("record a permit", &e))?;
    Ok(n == 1)
}

/// [`record`] alone: a permit already recorded is refused.
pub(super) async fn record_once(
    c: &impl GenericClient,
    p: &PermitRecord,
) -> Result<(), LedgerError> {
    if record(c, p, now_ms()).await? {
        Ok(())
    } else {
        Err(already_recorded(p))
    }
}

/// `issued → to` in ONE conditional update, stamped with `instance`; exactly one concurrent
/// caller on any instance wins.
pub(super) async fn consume(
    c: &impl GenericClient,
    tenant: &str,
    jti: &str,
    to: ConsumeTo,
    instance: i32,
) -> Result<ConsumeOutcome, LedgerError> {
    let now = now_ms();
    let forwarding_at: Option<i64> = (to == ConsumeTo::Forwarding).then_some(now);
    let won = c
        .query_opt(
            "UPDATE permits SET state = $5, consumed_at_ms = $3, consumed_by = $4,
                                forwarding_at_ms = $6
             WHERE tenant = $1 AND jti = $2 AND state = 'issued'
             RETURNING agent, action, payload_hash, expires_at_ms, idempotency_key",
            &[&tenant, &jti, &now, &instance, &to.as_str(), &forwarding_at],
        )
        .await
        .map_err(|e| db_err("consume a permit", &e))?;
    if let Some(r) = won {
        return Ok(ConsumeOutcome::Consumed(PermitRecord {
            agent: get(&r, 0, "permit")?,
            action: get(&r, 1, "permit")?,
            payload_hash: get(&r, 2, "permit")?,
            expires_at_ms: get(&r, 3, "permit")?,
            idempotency_key: get(&r, 4, "permit")?,
            jti: jti.to_owned(),
            tenant: tenant.to_owned(),
        }));
    }
    Ok(match state(c, tenant, jti).await? {
        Some(_) => ConsumeOutcome::AlreadyUsed,
        None => ConsumeOutcome::NotFound,
    })
}

/// `consumed → forwarding`; `false` when the permit is not `consumed`.
#[cfg(test)]
pub(super) async fn mark_forwarding(
    c: &impl GenericClient,
    tenant: &str,
    jti: &str,
) -> Result<bool, LedgerError> {
    let n = c
        .execute(
            "UPDATE permits SET state = 'forwarding', forwarding_at_ms = $3
             WHERE tenant = $1 AND jti = $2 AND state = 'consumed'",
            &[&tenant, &jti, &now_ms()],
        )
        .await
        .map_err(|e| db_err("mark a permit forwarding", &e))?;
    Ok(n == 1)
}

/// `consumed | forwarding → done` at `now`, recording the outcome; `false` when the permit is
/// in neither state.
pub(super) async fn finish(
    c: &impl GenericClient,
    tenant: &str,
    jti: &str,
    outcome: Outcome,
    now: i64,
) -> Result<bool, LedgerError> {
    let n = c
        .execute(
            "UPDATE permits SET state = 'done', outcome = $3, done_at_ms = $4
             WHERE tenant = $1 AND jti = $2 AND state IN ('consumed', 'forwarding')",
            &[&tenant, &jti, &outcome.as_str(), &now],
        )
        .await
        .map_err(|e| db_err("finish a permit", &e))?;
    Ok(n == 1)
}

/// The refusal of a step to `to` that did not apply, naming the permit's state.
pub(super) async fn refusal(
    c: &impl GenericClient,
    tenant: &str,
    jti: &str,
    to: &str,
) -> Result<LedgerError, LedgerError> {
    let from = state(c, tenant, jti).await?;
    Ok(cannot_move(tenant, jti, from.as_deref(), to))
}

/// The stored state of a permit, `None` when there is none.
async fn state(
    c: &impl GenericClient,
    tenant: &str,
    jti: &str,
) -> Result<Option<String>, LedgerError> {
    c.query_opt(
        "SELECT state FROM permits WHERE tenant = $1 AND jti = $2",
        &[&tenant, &jti],
    )
    .await
    .map_err(|e| db_err("read a permit", &e))?
    .map(|r| get(&r, 0, "permit state"))
    .transpose()
}

/// Permits left `consumed` or `forwarding` whose consuming instance does not hold its lock (its
/// process is gone), oldest consume first. A live instance finishes its own.
pub(super) async fn unfinished(
    c: &impl GenericClient,
) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError> {
    let rows = c
        .query(
            "SELECT p.tenant, p.jti, p.agent, p.action, p.payload_hash,
                    p.expires_at_ms, p.idempotency_key, p.state
             FROM permits p
             WHERE p.state IN ('consumed', 'forwarding')
               AND (p.consumed_by IS NULL OR NOT EXISTS (
                    SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.granted
                      AND l.database = (SELECT oid FROM pg_database
                                        WHERE datname = current_database())
                      AND l.classid = $1::integer::oid
                      AND l.objid = p.consumed_by::oid
                      AND l.objsubid = 2))
             ORDER BY p.consumed_at_ms, p.tenant, p.jti",
            &[&LOCK_NS],
        )
        .await
        .map_err(|e| db_err("list unfinished permits", &e))?;
    rows.iter().map(unfinished_row).collect()
}

fn unfinished_row(r: &Row) -> Result<(PermitRecord, PermitState), LedgerError> {
    let state: String = get(r, 7, "permit")?;
    Ok((
        PermitRecord {
            tenant: get(r, 0, "permit")?,
            jti: get(r, 1, "permit")?,
            agent: get(r, 2, "permit")?,
            action: get(r, 3, "permit")?,
            payload_hash: get(r, 4, "permit")?,
            expires_at_ms: get(r, 5, "permit")?,
            idempotency_key: get(r, 6, "permit")?,
        },
        parse_state(&state)?,
    ))
}
