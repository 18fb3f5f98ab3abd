//! The PostgreSQL schema: its migrations, applied at open in ONE transaction under an advisory
//! lock, so instances starting together never race.

use std::sync::Arc;

use tokio_postgres::Client;

use super::db::db_err;
use super::instance::{LOCK_NS, MIGRATION_LOCK};
use super::pool::Pool;
use super::{LedgerError, PostgresLedger};

/// Schema migrations, applied in order at open; `schema_version` holds the applied ones.
/// Never edit a shipped migration: add the next number. Mirrors the SQLite schema, plus the
/// per-tenant chain head and the consuming instance of a permit.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE permits (
        tenant           TEXT    NOT NULL,
        jti              TEXT    NOT NULL,
        agent            TEXT    NOT NULL,
        action           TEXT    NOT NULL,
        payload_hash     TEXT    NOT NULL,
        expires_at_ms    BIGINT  NOT NULL,
        idempotency_key  TEXT,
        state            TEXT    NOT NULL
            CHECK (state IN ('issued', 'consumed', 'forwarding', 'done')),
        outcome          TEXT,
        issued_at_ms     BIGINT  NOT NULL,
        consumed_at_ms   BIGINT,
        consumed_by      INTEGER,
        forwarding_at_ms BIGINT,
        done_at_ms       BIGINT,
        PRIMARY KEY (tenant, jti)
    );
    CREATE INDEX permits_unfinished ON permits (state)
        WHERE state IN ('consumed', 'forwarding');
    CREATE TABLE idempotency (
        tenant          TEXT    NOT NULL,
        agent           TEXT    NOT NULL,
        idem_key        TEXT    NOT NULL,
        payload_hash    TEXT    NOT NULL,
        state           TEXT    NOT NULL CHECK (state IN ('in_progress', 'done')),
        response        TEXT,
        created_at_ms   BIGINT  NOT NULL,
        completed_at_ms BIGINT,
        PRIMARY KEY (tenant, agent, idem_key)
    );
    CREATE TABLE limit_windows (
        tenant          TEXT             NOT NULL,
        agent           TEXT             NOT NULL,
        limit_id        TEXT             NOT NULL,
        window_start_ms BIGINT           NOT NULL,
        req_count       BIGINT           NOT NULL,
        amount_sum      DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant, agent, limit_id, window_start_ms)
    );
    CREATE TABLE receipts (
        tenant        TEXT    NOT NULL,
        seq           BIGINT  NOT NULL CHECK (seq >= 1),
        id            TEXT    NOT NULL,
        hash          TEXT    NOT NULL,
        body          TEXT    NOT NULL,
        created_at_ms BIGINT  NOT NULL,
        PRIMARY KEY (tenant, seq),
        UNIQUE (id)
    );
    CREATE TABLE chain_heads (
        tenant TEXT   PRIMARY KEY,
        seq    BIGINT NOT NULL CHECK (seq >= 0),
        hash   TEXT   NOT NULL
    );
    CREATE TABLE agent_keys (
        tenant        TEXT    NOT NULL,
        agent         TEXT    NOT NULL,
        key_hash      TEXT,
        revoked       BOOLEAN NOT NULL,
        updated_at_ms BIGINT  NOT NULL,
        PRIMARY KEY (tenant, agent)
    );",
    ),
    (
        2,
        "CREATE TABLE profiles (
        tenant        TEXT    NOT NULL,
        name          TEXT    NOT NULL,
        version       BIGINT  NOT NULL CHECK (version >= 1),
        hash          TEXT    NOT NULL,
        document      BYTEA   NOT NULL,
        created_at_ms BIGINT  NOT NULL,
        PRIMARY KEY (tenant, name, version)
    );",
    ),
];

/// Apply pending migrations on a connection of `pool`.
pub(super) async fn migrate(pool: &Arc<Pool>) -> Result<(), LedgerError> {
    let mut conn = pool.get().await?;
    let c = conn.client()?;
    migrate_on(c).await?;
    conn.clean = true;
    Ok(())
}

async fn migrate_on(c: &mut Client) -> Result<(), LedgerError> {
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_err("begin the migrations", &e))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_NS, &MIGRATION_LOCK],
    )
    .await
    .map_err(|e| db_err("take the migration lock", &e))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(|e| db_err("create schema_version", &e))?;
    let current: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| db_err("read the schema version", &e))?;
    if current > latest {
        return Err(LedgerError::Corrupt(format!(
            "the ledger schema is version {current}, newer than this binary's {latest}"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| db_err(&format!("apply migration {version}"), &e))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(|e| db_err("record the schema version", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_err("commit the migrations", &e))
}

/// The schema version stored in the database at `url` and this binary's latest, after
/// applying what is pending (what `intentrail ledger migrate` reports).
pub async fn migrate_url(url: &str) -> Result<(i32, i32), LedgerError> {
    let l = PostgresLedger::open(url).await?;
    let v = l
        .with_conn("read the schema version", |c| {
            Box::pin(async move {
                c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
                    .await
                    .and_then(|r| r.try_get::<_, i32>(0))
                    .map_err(|e| db_err("read the schema version", &e))
            })
        })
        .await?;
    Ok((v, MIGRATIONS.last().map(|m| m.0).unwrap_or(0)))
}
