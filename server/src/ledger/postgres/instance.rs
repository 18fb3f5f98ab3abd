//! The instance lock: each ledger holds a session advisory lock (its instance key) on a
//! dedicated connection for as long as it lives, so others can tell its permits in flight from
//! those of a dead instance.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use super::db::db_err;
use super::pool::Pool;
use super::LedgerError;

/// First key of every advisory lock this ledger takes (`"IRal"`), the second names its use.
pub(super) const LOCK_NS: i32 = 0x4952_616c;
/// The advisory lock serializing migrations (second key; instance keys are above it).
pub(super) const MIGRATION_LOCK: i32 = 1;

/// Pick a random instance key nobody holds and lock it on a dedicated connection.
pub(super) async fn take_lock(pool: &Pool) -> Result<(i32, Client), LedgerError> {
    let client = pool.connect().await?;
    for _ in 0..16 {
        let key = random_instance_key()?;
        if try_lock(&client, key).await? {
            return Ok((key, client));
        }
    }
    Err(LedgerError::Internal(
        "no free instance key after 16 tries".into(),
    ))
}

async fn try_lock(client: &Client, key: i32) -> Result<bool, LedgerError> {
    client
        .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_NS, &key])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| db_err("take the instance lock", &e))
}

fn random_instance_key() -> Result<i32, LedgerError> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b)
        .map_err(|e| LedgerError::Internal(format!("no randomness for the instance key: {e}")))?;
    // Positive and above the fixed lock ids.
    Ok(i32::from_le_bytes(b).rem_euclid(i32::MAX - 16) + 16)
}

/// Keep the instance lock while the ledger lives: if its connection drops (PostgreSQL
/// restarted), reconnect and lock the same key again, once a second.
pub(super) async fn hold_lock(pool: Arc<Pool>, key: i32, client: Client) {
    let mut client = Some(client);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if client.as_ref().is_some_and(|c| !c.is_closed()) {
            continue;
        }
        client = None;
        let Ok(c) = pool.connect().await else {
            continue;
        };
        match try_lock(&c, key).await {
            Ok(true) => {
                tracing::info!(instance = key, "instance lock taken again");
                client = Some(c);
            }
            Ok(false) => tracing::warn!(instance = key, "instance lock held by another session"),
            Err(e) => tracing::warn!(error = %e, "cannot take the instance lock again"),
        }
    }
}
