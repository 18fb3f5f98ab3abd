//! The SQLite schema: its migrations, and opening the writer (WAL, `synchronous = FULL`,
//! migrations applied) and reader connections of a ledger file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use super::db::db_err;
use super::LedgerError;

/// Compiled statements kept per connection (the write path uses about 25 distinct ones).
const STATEMENT_CACHE: usize = 64;
/// How long a statement waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations, applied in order at open; `schema_version` holds the applied ones.
/// Never edit a shipped migration: add the next number. Types and syntax stay portable
/// (TEXT / INTEGER / REAL, `ON CONFLICT`, partial indexes) so PostgreSQL can mirror them.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE permits (
        tenant           TEXT    NOT NULL,
        jti              TEXT    NOT NULL,
        agent            TEXT    NOT NULL,
        action           TEXT    NOT NULL,
        payload_hash     TEXT    NOT NULL,
        expires_at_ms    INTEGER NOT NULL,
        idempotency_key  TEXT,
        state            TEXT    NOT NULL
            CHECK (state IN ('issued', 'consumed', 'forwarding', 'done')),
        outcome          TEXT,
        issued_at_ms     INTEGER NOT NULL,
        consumed_at_ms   INTEGER,
        forwarding_at_ms INTEGER,
        done_at_ms       INTEGER,
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
        created_at_ms   INTEGER NOT NULL,
        completed_at_ms INTEGER,
        PRIMARY KEY (tenant, agent, idem_key)
    );
    CREATE TABLE limit_windows (
        tenant          TEXT    NOT NULL,
        agent           TEXT    NOT NULL,
        limit_id        TEXT    NOT NULL,
        window_start_ms INTEGER NOT NULL,
        req_count       INTEGER NOT NULL,
        amount_sum      REAL    NOT NULL,
        PRIMARY KEY (tenant, agent, limit_id, window_start_ms)
    );
    CREATE TABLE receipts (
        tenant        TEXT    NOT NULL,
        seq           INTEGER NOT NULL CHECK (seq >= 1),
        id            TEXT    NOT NULL,
        hash          TEXT    NOT NULL,
        body          TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, seq),
        UNIQUE (id)
    );
    CREATE TABLE agent_keys (
        tenant        TEXT    NOT NULL,
        agent         TEXT    NOT NULL,
        key_hash      TEXT,
        revoked       INTEGER NOT NULL CHECK (revoked IN (0, 1)),
        updated_at_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, agent)
    );",
    ),
    (
        2,
        "CREATE TABLE profiles (
        tenant        TEXT    NOT NULL,
        name          TEXT    NOT NULL,
        version       INTEGER NOT NULL CHECK (version >= 1),
        hash          TEXT    NOT NULL,
        document      BLOB    NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, name, version)
    );",
    ),
    (
        3,
        "CREATE TABLE receipt_batches (
        tenant    TEXT    NOT NULL,
        first_seq INTEGER NOT NULL CHECK (first_seq >= 1),
        last_seq  INTEGER NOT NULL CHECK (last_seq >= first_seq),
        sig       TEXT    NOT NULL,
        PRIMARY KEY (tenant, last_seq)
    );",
    ),
];

/// Open the read-write connection of the ledger file at `path` (or a private in-memory
/// database), enable WAL and `synchronous = FULL`, and apply pending migrations.
pub(super) fn open_writer(path: Option<&Path>) -> Result<Connection, LedgerError> {
    let conn = match path {
        Some(p) => Connection::open_with_flags(
            p,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
        None => Connection::open_in_memory(),
    }
    .map_err(|e| db_err("open the ledger file", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_err("set busy_timeout", e))?;
    // Every statement of the write path stays compiled (see `exec`).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if path.is_some() {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| db_err("enable WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Unavailable(format!(
                "the ledger file refused WAL mode (journal_mode={mode})"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| db_err("set synchronous=FULL", e))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| db_err("enable foreign keys", e))?;
    migrate(&conn)?;
    Ok(conn)
}

/// Open a read-only connection of the ledger file at `path`.
pub(super) fn open_reader(path: &Path) -> Result<Connection, LedgerError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_err("open a read connection", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_err("set busy_timeout", e))?;
    Ok(conn)
}

/// Apply every migration newer than the stored version, each in its own write transaction
/// (`BEGIN IMMEDIATE`, so two processes opening the same file do not both migrate).
fn migrate(conn: &Connection) -> Result<(), LedgerError> {
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(|e| db_err("create schema_version", e))?;
    for (version, sql) in MIGRATIONS {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db_err("begin a migration", e))?;
        let applied = (|| {
            let current: i64 = conn
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| db_err("read the schema version", e))?;
            if current > latest {
                return Err(LedgerError::Corrupt(format!(
                    "the ledger schema is version {current}, newer than this binary's {latest}"
                )));
            }
            if current >= *version {
                return Ok(());
            }
            conn.execute_batch(sql)
                .map_err(|e| db_err(&format!("apply migration {version}"), e))?;
            conn.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                params![version],
            )
            .map_err(|e| db_err("record the schema version", e))?;
            Ok(())
        })();
        match applied {
            Ok(()) => conn
                .execute_batch("COMMIT")
                .map_err(|e| db_err("commit a migration", e))?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}
