//! Run-time agent keys and revocations in SQLite (one row per agent).

use rusqlite::{params, Connection};

use super::db::{db_err, exec, rows};
use crate::ledger::clock::now_ms;
use crate::ledger::{AgentKeyRow, LedgerError};

/// Give the agent this key hash and un-revoke it.
pub(super) fn put_key(
    c: &Connection,
    tenant: &str,
    agent: &str,
    key_hash: &str,
) -> Result<(), LedgerError> {
    exec(
        c,
        "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
         VALUES (?1, ?2, ?3, 0, ?4)
         ON CONFLICT (tenant, agent)
         DO UPDATE SET key_hash = excluded.key_hash, revoked = 0,
                       updated_at_ms = excluded.updated_at_ms",
        params![tenant, agent, key_hash, now_ms()],
    )
    .map_err(|e| db_err("store an agent key", e))?;
    Ok(())
}

/// Revoke the agent; `true` when this call revoked it.
pub(super) fn revoke(c: &Connection, tenant: &str, agent: &str) -> Result<bool, LedgerError> {
    let now = now_ms();
    let n = exec(
        c,
        "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
         VALUES (?1, ?2, NULL, 1, ?3)
         ON CONFLICT (tenant, agent) DO NOTHING",
        params![tenant, agent, now],
    )
    .map_err(|e| db_err("revoke an agent", e))?;
    if n == 1 {
        return Ok(true);
    }
    let n = exec(
        c,
        "UPDATE agent_keys SET revoked = 1, updated_at_ms = ?3
         WHERE tenant = ?1 AND agent = ?2 AND revoked = 0",
        params![tenant, agent, now],
    )
    .map_err(|e| db_err("revoke an agent", e))?;
    Ok(n == 1)
}

/// Every agent key / revocation row.
pub(super) fn all(c: &Connection) -> Result<Vec<AgentKeyRow>, LedgerError> {
    rows(
        c,
        "list agent keys",
        "SELECT tenant, agent, key_hash, revoked FROM agent_keys ORDER BY tenant, agent",
        [],
        |r| {
            Ok(AgentKeyRow {
                tenant: r.get(0)?,
                agent: r.get(1)?,
                key_hash: r.get(2)?,
                revoked: r.get::<_, i64>(3)? != 0,
            })
        },
    )
}
