//! Run-time agent keys and revocations in PostgreSQL (one row per agent).

use tokio_postgres::Client;

use super::db::{db_err, get};
use crate::ledger::clock::now_ms;
use crate::ledger::{AgentKeyRow, LedgerError};

/// Give the agent this key hash and un-revoke it.
pub(super) async fn put_key(
    c: &Client,
    tenant: &str,
    agent: &str,
    key_hash: &str,
) -> Result<(), LedgerError> {
    c.execute(
        "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
         VALUES ($1, $2, $3, FALSE, $4)
         ON CONFLICT (tenant, agent)
         DO UPDATE SET key_hash = excluded.key_hash, revoked = FALSE,
                       updated_at_ms = excluded.updated_at_ms",
        &[&tenant, &agent, &key_hash, &now_ms()],
    )
    .await
    .map_err(|e| db_err("store an agent key", &e))?;
    Ok(())
}

/// Revoke the agent; `true` when this call revoked it.
pub(super) async fn revoke(c: &Client, tenant: &str, agent: &str) -> Result<bool, LedgerError> {
    let now = now_ms();
    let n = c
        .execute(
            "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
             VALUES ($1, $2, NULL, TRUE, $3)
             ON CONFLICT (tenant, agent) DO NOTHING",
            &[&tenant, &agent, &now],
        )
        .await
        .map_err(|e| db_err("revoke an agent", &e))?;
    if n == 1 {
        return Ok(true);
    }
    let n = c
        .execute(
            "UPDATE agent_keys SET revoked = TRUE, updated_at_ms = $3
             WHERE tenant = $1 AND agent = $2 AND NOT revoked",
            &[&tenant, &agent, &now],
        )
        .await
        .map_err(|e| db_err("revoke an agent", &e))?;
    Ok(n == 1)
}

/// Every agent key / revocation row.
pub(super) async fn all(c: &Client) -> Result<Vec<AgentKeyRow>, LedgerError> {
    let rows = c
        .query(
            "SELECT tenant, agent, key_hash, revoked FROM agent_keys ORDER BY tenant, agent",
            &[],
        )
        .await
        .map_err(|e| db_err("list agent keys", &e))?;
    rows.iter()
        .map(|r| {
            Ok(AgentKeyRow {
                tenant: get(r, 0, "agent key")?,
                agent: get(r, 1, "agent key")?,
                key_hash: get(r, 2, "agent key")?,
                revoked: get(r, 3, "agent key")?,
            })
        })
        .collect()
}
