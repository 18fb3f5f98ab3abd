//! Limits in SQLite: read the touched windows, apply the shared room check
//! (`ledger/limits.rs`), write the new totals and prune older windows, all
//! inside the writer's transaction (the single writer serializes every add).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{db_err, exec, row};
use crate::ledger::limits::{self, Check};
use crate::ledger::rows::{to_i64, to_u64};
use crate::ledger::LedgerError;
use crate::model::{LimitAdd, LimitOutcome};

/// Apply `adds` all-or-nothing.
pub(super) fn try_add(c: &Connection, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError> {
    let mut stored = HashMap::new();
    for w in limits::windows(adds) {
        let totals: Option<(i64, f64)> = row(
            c,
            "SELECT req_count, amount_sum FROM limit_windows
             WHERE tenant = ?1 AND agent = ?2 AND limit_id = ?3 AND window_start_ms = ?4",
            params![w.tenant, w.agent, w.limit_id, w.start_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| db_err("read a limit window", e))?;
        if let Some((n, s)) = totals {
            stored.insert(w, (to_u64(n, "limit count")?, s));
        }
    }
    let totals = match limits::check(adds, stored) {
        Check::Allowed(totals) => totals,
        Check::Exceeded { limit_id } => return Ok(LimitOutcome::Exceeded { limit_id }),
    };
    for (w, (count, sum)) in &totals {
        exec(
            c,
            "INSERT INTO limit_windows (tenant, agent, limit_id, window_start_ms,
                                        req_count, amount_sum)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant, agent, limit_id, window_start_ms)
             DO UPDATE SET req_count = excluded.req_count, amount_sum = excluded.amount_sum",
            params![
                w.tenant,
                w.agent,
                w.limit_id,
                w.start_ms,
                to_i64(*count, "limit count")?,
                sum
            ],
        )
        .map_err(|e| db_err("update a limit window", e))?;
        exec(
            c,
            "DELETE FROM limit_windows
             WHERE tenant = ?1 AND agent = ?2 AND limit_id = ?3 AND window_start_ms < ?4",
            params![w.tenant, w.agent, w.limit_id, w.start_ms],
        )
        .map_err(|e| db_err("prune old limit windows", e))?;
    }
    Ok(LimitOutcome::Allowed)
}
