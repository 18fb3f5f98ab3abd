//! The embedded ledger: one SQLite file in WAL mode with `synchronous = FULL`, so every
//! acknowledged write has been fsynced and survives a crash of the process or the machine.
//!
//! **Threading.** rusqlite is blocking, so no query runs on the async runtime:
//!
//! - All writes go to ONE dedicated writer thread owning the only read-write connection. A
//!   call sends a job over a channel and awaits a tokio oneshot. The writer drains up to
//!   [`MAX_BATCH`] queued jobs into one `BEGIN IMMEDIATE … COMMIT` transaction (group commit:
//!   one fsync for the batch), each job inside its own `SAVEPOINT`, so a job that fails is
//!   rolled back alone and the others commit. Answers are sent only AFTER the `COMMIT`
//!   succeeded; if the batch cannot commit, every job in it gets the error and nothing of it
//!   was applied. A single writer makes every read-modify-write (consume, limits, chain head)
//!   serialized in this process, and `BEGIN IMMEDIATE` (the write lock) serializes it with any
//!   other process on the same file (e.g. the CLI while `serve` runs).
//! - Reads (`receipt`, `receipts_after`, `unfinished_permits`, `agent_keys`) run on the
//!   blocking pool over a small pool of read-only connections ([`READERS`]), so exports never
//!   queue behind writes. WAL gives each read statement a committed snapshot, and since writes
//!   are answered after commit, a caller always reads its own acknowledged writes. The
//!   in-memory database (tests) has no read pool: reads run on the writer.
//!
//! A caller that gives up waiting (its future dropped) does not cancel its job: a consume
//! still commits, and the permit then shows up in `unfinished_permits` (never run twice).
//!
//! **Chain append**: inside the writer transaction, read the tenant's head
//! (`ORDER BY seq DESC LIMIT 1` on the `(tenant, seq)` key), hash `seq = last + 1`,
//! `prev = last hash`, insert. `PRIMARY KEY (tenant, seq)` and `UNIQUE (id)` are the backstop.
//! The receipts of a batch are signed together just before `COMMIT`, one signature per tenant
//! per batch, stored in `receipt_batches` in the same transaction (see `ledger/batch_sign.rs`).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use tokio::sync::{oneshot, Semaphore};

use super::batch_sign::{self, Seals};
use super::rows::{outcome_str, parse_body, parse_state, to_i64, to_u64};
use super::{
    AgentKeyRow, IssueOutcome, Ledger, LedgerError, ProfileRow, Receipt, SigningKey, GENESIS_PREV,
};
use crate::model::{
    ConsumeOutcome, IdempotencyBegin, LimitAdd, LimitOutcome, Outcome, PermitRecord, PermitState,
};

/// Most jobs the writer commits in one transaction.
pub const MAX_BATCH: usize = 64;
/// Compiled statements kept per connection (the write path uses about 25 distinct ones).
const STATEMENT_CACHE: usize = 64;
/// Read-only connections used concurrently for reads.
pub const READERS: usize = 2;
/// How long a statement waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations, applied in order at open; `schema_version` holds the applied ones.
/// Never edit a shipped migration: add the next number. Types and syntax stay portable
/// (TEXT / INTEGER / REAL, `ON CONFLICT`, partial indexes) so PostgreSQL can mirror them.
const MIGRATIONS: &[(i64, &str)] = &[
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

/// The SQLite ledger (see the module docs for threading and durability).
pub struct SqliteLedger {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    readers: Option<Arc<ReadPool>>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("file", &self.readers.as_ref().map(|r| &r.path))
            .finish_non_exhaustive()
    }
}

impl SqliteLedger {
    /// Open (creating if needed) the ledger file at `path`, enable WAL and `synchronous=FULL`,
    /// apply pending migrations and start the writer thread. The parent directory must exist.
    pub async fn open(path: &Path) -> Result<Self, LedgerError> {
        let p = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || open_writer(Some(&p)))
            .await
            .map_err(|e| LedgerError::Internal(format!("ledger open task failed: {e}")))??;
        let pool = ReadPool {
            path: path.to_path_buf(),
            slots: Semaphore::new(READERS),
            idle: Mutex::new(Vec::new()),
        };
        Self::start(conn, Some(Arc::new(pool)))
    }

    /// A private in-memory ledger (nothing is durable; for tests and throwaway demos).
    pub async fn open_in_memory() -> Result<Self, LedgerError> {
        let conn = tokio::task::spawn_blocking(|| open_writer(None))
            .await
            .map_err(|e| LedgerError::Internal(format!("ledger open task failed: {e}")))??;
        Self::start(conn, None)
    }

    fn start(conn: Connection, readers: Option<Arc<ReadPool>>) -> Result<Self, LedgerError> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer = std::thread::Builder::new()
            .name("intentrail-ledger-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| LedgerError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(SqliteLedger {
            jobs: Some(tx),
            writer: Some(writer),
            readers,
        })
    }

    /// Run `f` on the writer thread inside the current batch transaction (its own savepoint);
    /// answer after the batch committed.
    async fn write<R, F>(&self, f: F) -> Result<R, LedgerError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, LedgerError> + Send + 'static,
    {
        Ok(self.write_with_seals(f).await?.0)
    }

    /// [`SqliteLedger::write`] for a job that appends a receipt: the answer's receipt (if any)
    /// gets the signature its batch was given at commit.
    async fn write_signed<R, F>(&self, f: F) -> Result<R, LedgerError>
    where
        R: WithReceipt + Send + 'static,
        F: FnOnce(&Connection) -> Result<R, LedgerError> + Send + 'static,
    {
        let (mut out, seals) = self.write_with_seals(f).await?;
        if let Some(r) = out.receipt_mut() {
            seals.fill(r)?;
        }
        Ok(out)
    }

    async fn write_with_seals<R, F>(&self, f: F) -> Answer<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, LedgerError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            tx,
        });
        let jobs = self.jobs.as_ref().ok_or_else(writer_gone)?;
        jobs.send(job).map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// Run `f` on a read-only connection (or on the writer for an in-memory database).
    async fn read<R, F>(&self, f: F) -> Result<R, LedgerError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, LedgerError> + Send + 'static,
    {
        let Some(pool) = &self.readers else {
            return self.write(f).await;
        };
        let _slot = pool
            .slots
            .acquire()
            .await
            .map_err(|_| LedgerError::Unavailable("the read pool is closed".into()))?;
        let pool = Arc::clone(pool);
        tokio::task::spawn_blocking(move || {
            let conn = pool.checkout()?;
            let out = f(&conn);
            pool.checkin(conn);
            out
        })
        .await
        .map_err(|e| LedgerError::Internal(format!("ledger read task failed: {e}")))?
    }
}

impl Drop for SqliteLedger {
    /// Stop the writer after it has answered every queued job, and wait for it, so the file is
    /// closed when the ledger is gone (a reopen sees everything acknowledged).
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

fn writer_gone() -> LedgerError {
    LedgerError::Unavailable("the ledger writer has stopped".into())
}

/// Idle read-only connections, opened lazily, at most [`READERS`] in use.
struct ReadPool {
    path: PathBuf,
    slots: Semaphore,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn checkout(&self) -> Result<Connection, LedgerError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(c) => Ok(c),
            None => open_reader(&self.path),
        }
    }

    fn checkin(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(conn);
    }
}

// ---------------------------------------------------------------------------------------------
// Connections and migrations

fn open_writer(path: Option<&Path>) -> Result<Connection, LedgerError> {
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

fn open_reader(path: &Path) -> Result<Connection, LedgerError> {
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

/// Map a SQLite error to the ledger's vocabulary. `what` names the operation; SQLite messages
/// name tables and constraints, never bound values, so no payload or key leaks through here.
pub(super) fn db_err(what: &str, e: rusqlite::Error) -> LedgerError {
    let msg = format!("{what}: {e}");
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::NoLargeFileSupport
            | ErrorCode::OutOfMemory
            | ErrorCode::OperationInterrupted,
        ) => LedgerError::Unavailable(msg),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => LedgerError::Corrupt(msg),
        _ => LedgerError::Internal(msg),
    }
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The writer: jobs, batches, group commit

/// A unit of work for the writer, type-erased so one channel carries every operation.
trait Job: Send {
    /// Run inside the batch transaction; keep the result. `true` if it succeeded (its
    /// savepoint is released), `false` if it must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Send the answer once the batch's fate is known (`commit` is the batch's result: the
    /// signatures of the receipts it appended).
    fn answer(self: Box<Self>, commit: Result<Arc<Seals>, LedgerError>);
}

type Answer<R> = Result<(R, Arc<Seals>), LedgerError>;

struct TypedJob<R, F> {
    f: Option<F>,
    result: Option<Result<R, LedgerError>>,
    tx: oneshot::Sender<Answer<R>>,
}

impl<R, F> Job for TypedJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R, LedgerError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let out = catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| {
            Err(LedgerError::Internal(
                "a ledger operation panicked; it was rolled back".into(),
            ))
        });
        let ok = out.is_ok();
        self.result = Some(out);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<Arc<Seals>, LedgerError>) {
        let out = match (self.result, commit) {
            // The job's own failure is the most precise answer (it was rolled back anyway).
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(seals)) => Ok((v, seals)),
            (_, Err(e)) => Err(e),
            (None, Ok(_)) => Err(LedgerError::Internal("a ledger job never ran".into())),
        };
        // The caller may have gone away; its job is applied (or not) all the same.
        let _ = self.tx.send(out);
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = run_batch(&conn, &mut batch);
        for job in batch {
            job.answer(commit.clone());
        }
    }
    // The channel closed: every sender is gone; dropping `conn` closes the file.
}

/// Run a batch in one transaction, each job in its own savepoint, then sign the receipts it
/// appended; `Ok` (with the signatures) iff it committed.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<Arc<Seals>, LedgerError> {
    batch_sign::clear();
    let outcome = (|| {
        exec(conn, "BEGIN IMMEDIATE", []).map_err(|e| db_err("begin a write transaction", e))?;
        for job in batch.iter_mut() {
            exec(conn, "SAVEPOINT job", []).map_err(|e| db_err("open a savepoint", e))?;
            let mark = batch_sign::mark();
            let ok = job.run(conn);
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (e.g. disk full, I/O error).
                return Err(LedgerError::Unavailable(
                    "the write transaction was aborted by SQLite".into(),
                ));
            }
            if !ok {
                batch_sign::rollback_to(mark);
                exec(conn, "ROLLBACK TO job", [])
                    .map_err(|e| db_err("roll back a savepoint", e))?;
            }
            exec(conn, "RELEASE job", []).map_err(|e| db_err("close a savepoint", e))?;
        }
        let seals = batch_sign::sign_queued(conn)?;
        exec(conn, "COMMIT", []).map_err(|e| db_err("commit", e))?;
        Ok(Arc::new(seals))
    })();
    if outcome.is_err() {
        batch_sign::clear();
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    outcome
}

// ---------------------------------------------------------------------------------------------
// Row helpers

/// Run a statement through the connection's statement cache: each SQL text is compiled once
/// per connection and reused (parsing and planning cost more than running these statements).
fn exec<P: rusqlite::Params>(c: &Connection, sql: &str, p: P) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// [`exec`] for a statement answering one row.
fn row<T, P, F>(c: &Connection, sql: &str, p: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(p, f)
}

/// The current state of a permit, for "wrong transition" messages.
fn permit_state(conn: &Connection, tenant: &str, jti: &str) -> Result<Option<String>, LedgerError> {
    row(
        conn,
        "SELECT state FROM permits WHERE tenant = ?1 AND jti = ?2",
        params![tenant, jti],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| db_err("read a permit", e))
}

fn transition_err(
    conn: &Connection,
    tenant: &str,
    jti: &str,
    to: &str,
) -> Result<LedgerError, LedgerError> {
    let from = permit_state(conn, tenant, jti)?;
    Ok(LedgerError::Internal(match from {
        Some(s) => format!("permit {jti:?} of tenant {tenant:?} cannot move from {s} to {to}"),
        None => format!("permit {jti:?} of tenant {tenant:?} does not exist"),
    }))
}

// ---------------------------------------------------------------------------------------------
// The trait

// ---------------------------------------------------------------------------------------------
// Operations inside the writer's transaction (composable: one job may run several)

fn record_permit_tx(c: &Connection, p: &PermitRecord) -> Result<(), LedgerError> {
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
        if is_constraint(&e) {
            LedgerError::Internal(format!(
                "permit {:?} of tenant {:?} is already recorded",
                p.jti, p.tenant
            ))
        } else {
            db_err("record a permit", e)
        }
    })?;
    Ok(())
}

/// `issued → to` (`consumed`, or `forwarding` for a caller ready to send) in ONE conditional
/// update; exactly one concurrent caller wins.
fn consume_tx(
    c: &Connection,
    tenant: &str,
    jti: &str,
    to: &str,
) -> Result<ConsumeOutcome, LedgerError> {
    let won = row(
        c,
        "UPDATE permits SET state = ?4, consumed_at_ms = ?3,
                            forwarding_at_ms = CASE WHEN ?4 = 'forwarding' THEN ?3 END
                     WHERE tenant = ?1 AND jti = ?2 AND state = 'issued'
                     RETURNING agent, action, payload_hash, expires_at_ms, idempotency_key",
        params![tenant, jti, now_ms(), to],
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
        None if permit_state(c, tenant, jti)?.is_some() => ConsumeOutcome::AlreadyUsed,
        None => ConsumeOutcome::NotFound,
    })
}

fn finish_tx(c: &Connection, tenant: &str, jti: &str, outcome: Outcome) -> Result<(), LedgerError> {
    let n = exec(
        c,
        "UPDATE permits SET state = 'done', outcome = ?3, done_at_ms = ?4
                     WHERE tenant = ?1 AND jti = ?2 AND state IN ('consumed', 'forwarding')",
        params![tenant, jti, outcome_str(outcome), now_ms()],
    )
    .map_err(|e| db_err("finish a permit", e))?;
    if n == 1 {
        Ok(())
    } else {
        Err(transition_err(c, tenant, jti, "done")?)
    }
}

fn limit_try_add_tx(c: &Connection, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError> {
    type WindowKey = (String, String, String, i64);
    // Running totals per window, so two adds of one call on one window both count.
    let mut totals: HashMap<WindowKey, (u64, f64)> = HashMap::new();
    let mut order: Vec<WindowKey> = Vec::new();
    for add in adds {
        let key = (
            add.tenant.clone(),
            add.agent.clone(),
            add.limit_id.clone(),
            add.window_start_ms,
        );
        let (count, sum) = match totals.get(&key) {
            Some(v) => *v,
            None => {
                let stored: Option<(i64, f64)> = row(
                    c,
                    "SELECT req_count, amount_sum FROM limit_windows
                                 WHERE tenant = ?1 AND agent = ?2 AND limit_id = ?3
                                   AND window_start_ms = ?4",
                    params![key.0, key.1, key.2, key.3],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| db_err("read a limit window", e))?;
                order.push(key.clone());
                match stored {
                    Some((n, s)) => (to_u64(n, "limit count")?, s),
                    None => (0, 0.0),
                }
            }
        };
        let new_count = count.saturating_add(1);
        let new_sum = sum + add.amount;
        let count_ok = add.max_count.is_none_or(|m| new_count <= m);
        // Written so that a NaN amount or sum has no room.
        let sum_ok = add.max_sum.is_none_or(|m| new_sum <= m);
        if !(count_ok && sum_ok) {
            return Ok(LimitOutcome::Exceeded {
                limit_id: add.limit_id.clone(),
            });
        }
        totals.insert(key, (new_count, new_sum));
    }
    for key in &order {
        let Some((count, sum)) = totals.get(key) else {
            continue;
        };
        exec(
            c,
            "INSERT INTO limit_windows (tenant, agent, limit_id, window_start_ms,
                                                req_count, amount_sum)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant, agent, limit_id, window_start_ms)
                     DO UPDATE SET req_count = excluded.req_count,
                                   amount_sum = excluded.amount_sum",
            params![
                key.0,
                key.1,
                key.2,
                key.3,
                to_i64(*count, "limit count")?,
                sum
            ],
        )
        .map_err(|e| db_err("update a limit window", e))?;
        exec(
            c,
            "DELETE FROM limit_windows
                     WHERE tenant = ?1 AND agent = ?2 AND limit_id = ?3 AND window_start_ms < ?4",
            params![key.0, key.1, key.2, key.3],
        )
        .map_err(|e| db_err("prune old limit windows", e))?;
    }
    Ok(LimitOutcome::Allowed)
}

/// An answer that may hold a receipt appended in its batch (to be signed at commit).
trait WithReceipt {
    fn receipt_mut(&mut self) -> Option<&mut Receipt>;
}

impl WithReceipt for Receipt {
    fn receipt_mut(&mut self) -> Option<&mut Receipt> {
        Some(self)
    }
}

impl WithReceipt for IssueOutcome {
    fn receipt_mut(&mut self) -> Option<&mut Receipt> {
        match self {
            IssueOutcome::Issued(r) => Some(r),
            IssueOutcome::LimitExceeded { .. } => None,
        }
    }
}

/// Append `draft` to its tenant's chain, stored unsigned and queued for the batch signature.
fn append_receipt_tx(
    c: &Connection,
    mut draft: Receipt,
    key: &Arc<SigningKey>,
) -> Result<Receipt, LedgerError> {
    let head: Option<(i64, String)> = row(
        c,
        "SELECT seq, hash FROM receipts WHERE tenant = ?1
                     ORDER BY seq DESC LIMIT 1",
        params![draft.tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(|e| db_err("read the chain head", e))?;
    let (last, prev) = head.unwrap_or_else(|| (0, GENESIS_PREV.to_owned()));
    let seq = to_u64(last, "receipt seq")?
        .checked_add(1)
        .ok_or_else(|| LedgerError::Internal("receipt seq overflow".into()))?;
    draft.seq = seq;
    draft.prev = prev;
    draft
        .seal_unsigned(key.kid())
        .map_err(|e| LedgerError::Internal(format!("cannot seal a receipt: {e}")))?;
    let body = serde_json::to_string(&draft)
        .map_err(|e| LedgerError::Internal(format!("cannot serialize a receipt: {e}")))?;
    exec(
        c,
        "INSERT INTO receipts (tenant, seq, id, hash, body, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            draft.tenant,
            to_i64(seq, "receipt seq")?,
            draft.id,
            draft.hash,
            body,
            now_ms()
        ],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            LedgerError::Internal(format!("receipt id {:?} is already stored", draft.id))
        } else {
            db_err("store a receipt", e)
        }
    })?;
    batch_sign::queue(&draft, key);
    Ok(draft)
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn record_permit(&self, p: &PermitRecord) -> Result<(), LedgerError> {
        let p = p.clone();
        self.write(move |c| record_permit_tx(c, &p)).await
    }

    async fn consume_permit(&self, tenant: &str, jti: &str) -> Result<ConsumeOutcome, LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| consume_tx(c, &tenant, &jti, "consumed"))
            .await
    }

    async fn mark_forwarding(&self, tenant: &str, jti: &str) -> Result<(), LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| {
            let n = exec(
                c,
                "UPDATE permits SET state = 'forwarding', forwarding_at_ms = ?3
                     WHERE tenant = ?1 AND jti = ?2 AND state = 'consumed'",
                params![tenant, jti, now_ms()],
            )
            .map_err(|e| db_err("mark a permit forwarding", e))?;
            if n == 1 {
                Ok(())
            } else {
                Err(transition_err(c, &tenant, &jti, "forwarding")?)
            }
        })
        .await
    }

    async fn finish_permit(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
    ) -> Result<(), LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| finish_tx(c, &tenant, &jti, outcome))
            .await
    }

    async fn unfinished_permits(&self) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError> {
        self.read(|c| {
            let mut st = c
                .prepare(
                    "SELECT tenant, jti, agent, action, payload_hash, expires_at_ms,
                            idempotency_key, state
                     FROM permits WHERE state IN ('consumed', 'forwarding')
                     ORDER BY consumed_at_ms, tenant, jti",
                )
                .map_err(|e| db_err("list unfinished permits", e))?;
            let rows = st
                .query_map([], |r| {
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
                })
                .map_err(|e| db_err("list unfinished permits", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (rec, state) = row.map_err(|e| db_err("read an unfinished permit", e))?;
                out.push((rec, parse_state(&state)?));
            }
            Ok(out)
        })
        .await
    }

    async fn idempotency_begin(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        payload_hash: &str,
    ) -> Result<IdempotencyBegin, LedgerError> {
        let (t, a, k, h) = (
            tenant.to_owned(),
            agent.to_owned(),
            key.to_owned(),
            payload_hash.to_owned(),
        );
        self.write(move |c| {
            let inserted = exec(
                c,
                "INSERT INTO idempotency (tenant, agent, idem_key, payload_hash, state,
                                              created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, 'in_progress', ?5)
                     ON CONFLICT (tenant, agent, idem_key) DO NOTHING",
                params![t, a, k, h, now_ms()],
            )
            .map_err(|e| db_err("begin an idempotent request", e))?;
            if inserted == 1 {
                return Ok(IdempotencyBegin::New);
            }
            let (stored_hash, state, response): (String, String, Option<String>) = row(
                c,
                "SELECT payload_hash, state, response FROM idempotency
                     WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3",
                params![t, a, k],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| db_err("read an idempotency record", e))?;
            if stored_hash != h {
                return Ok(IdempotencyBegin::Conflict);
            }
            match (state.as_str(), response) {
                ("in_progress", _) => Ok(IdempotencyBegin::InProgress),
                ("done", Some(body)) => serde_json::from_str(&body)
                    .map(IdempotencyBegin::Done)
                    .map_err(|_| {
                        LedgerError::Corrupt(format!(
                            "the stored response of idempotency key {k:?} is not JSON"
                        ))
                    }),
                _ => Err(LedgerError::Corrupt(format!(
                    "idempotency key {k:?} has state {state:?} without a response"
                ))),
            }
        })
        .await
    }

    async fn idempotency_complete(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        response: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        let (t, a, k) = (tenant.to_owned(), agent.to_owned(), key.to_owned());
        let body = serde_json::to_string(response)
            .map_err(|e| LedgerError::Internal(format!("cannot serialize a response: {e}")))?;
        self.write(move |c| {
            let n = exec(
                c,
                "UPDATE idempotency SET state = 'done', response = ?4, completed_at_ms = ?5
                     WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3
                       AND state = 'in_progress'",
                params![t, a, k, body, now_ms()],
            )
            .map_err(|e| db_err("complete an idempotent request", e))?;
            if n == 1 {
                return Ok(());
            }
            let exists = row(
                c,
                "SELECT 1 FROM idempotency WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3",
                params![t, a, k],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| db_err("read an idempotency record", e))?;
            match exists {
                Some(()) => Ok(()), // already done: the first response stays
                None => Err(LedgerError::Internal(format!(
                    "idempotency key {k:?} of agent {a:?} was never begun"
                ))),
            }
        })
        .await
    }

    async fn idempotency_abort(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
    ) -> Result<(), LedgerError> {
        let (t, a, k) = (tenant.to_owned(), agent.to_owned(), key.to_owned());
        self.write(move |c| {
            exec(
                c,
                "DELETE FROM idempotency
                 WHERE tenant = ?1 AND agent = ?2 AND idem_key = ?3 AND state = 'in_progress'",
                params![t, a, k],
            )
            .map_err(|e| db_err("abort an idempotent request", e))?;
            Ok(())
        })
        .await
    }

    async fn limit_try_add(&self, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError> {
        if adds.is_empty() {
            return Ok(LimitOutcome::Allowed);
        }
        let adds = adds.to_vec();
        self.write(move |c| limit_try_add_tx(c, &adds)).await
    }

    async fn append_receipt(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        self.write_signed(move |c| append_receipt_tx(c, draft, &key))
            .await
    }

    async fn receipt(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, LedgerError> {
        let (t, id) = (tenant.to_owned(), id.to_owned());
        self.read(move |c| {
            let row: Option<(i64, String)> = row(
                c,
                "SELECT seq, body FROM receipts WHERE tenant = ?1 AND id = ?2",
                params![t, id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| db_err("read a receipt", e))?;
            let Some((seq, body)) = row else {
                return Ok(None);
            };
            let mut rows = [(to_u64(seq, "receipt seq")?, parse_body(&t, seq, &body)?)];
            batch_sign::attach(c, &t, &mut rows)?;
            let [(_, v)] = rows;
            Ok(Some(v))
        })
        .await
    }

    async fn chain_head(&self, tenant: &str) -> Result<Option<(u64, String)>, LedgerError> {
        let t = tenant.to_owned();
        self.read(move |c| {
            let head: Option<(i64, String)> = row(
                c,
                "SELECT seq, hash FROM receipts WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
                params![t],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| db_err("read the chain head", e))?;
            head.map(|(seq, hash)| Ok((to_u64(seq, "receipt seq")?, hash)))
                .transpose()
        })
        .await
    }

    async fn receipts_after(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        let Ok(after) = i64::try_from(after_seq) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let t = tenant.to_owned();
        self.read(move |c| {
            let mut st = c
                .prepare(
                    "SELECT seq, body FROM receipts WHERE tenant = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3",
                )
                .map_err(|e| db_err("list receipts", e))?;
            let rows = st
                .query_map(params![t, after, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| db_err("list receipts", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, body) = row.map_err(|e| db_err("read a receipt", e))?;
                out.push((to_u64(seq, "receipt seq")?, parse_body(&t, seq, &body)?));
            }
            drop(st);
            batch_sign::attach(c, &t, &mut out)?;
            Ok(out.into_iter().map(|(_, v)| v).collect())
        })
        .await
    }

    async fn put_agent_key(
        &self,
        tenant: &str,
        agent: &str,
        key_hash: &str,
    ) -> Result<(), LedgerError> {
        let (t, a, h) = (tenant.to_owned(), agent.to_owned(), key_hash.to_owned());
        self.write(move |c| {
            exec(
                c,
                "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
                 VALUES (?1, ?2, ?3, 0, ?4)
                 ON CONFLICT (tenant, agent)
                 DO UPDATE SET key_hash = excluded.key_hash, revoked = 0,
                               updated_at_ms = excluded.updated_at_ms",
                params![t, a, h, now_ms()],
            )
            .map_err(|e| db_err("store an agent key", e))?;
            Ok(())
        })
        .await
    }

    async fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<bool, LedgerError> {
        let (t, a) = (tenant.to_owned(), agent.to_owned());
        self.write(move |c| {
            let now = now_ms();
            let n = exec(
                c,
                "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
                     VALUES (?1, ?2, NULL, 1, ?3)
                     ON CONFLICT (tenant, agent) DO NOTHING",
                params![t, a, now],
            )
            .map_err(|e| db_err("revoke an agent", e))?;
            if n == 1 {
                return Ok(true);
            }
            let n = exec(
                c,
                "UPDATE agent_keys SET revoked = 1, updated_at_ms = ?3
                     WHERE tenant = ?1 AND agent = ?2 AND revoked = 0",
                params![t, a, now],
            )
            .map_err(|e| db_err("revoke an agent", e))?;
            Ok(n == 1)
        })
        .await
    }

    async fn put_profile(
        &self,
        tenant: &str,
        name: &str,
        hash: &str,
        document: &[u8],
    ) -> Result<(ProfileRow, bool), LedgerError> {
        let (t, n, h, d) = (
            tenant.to_owned(),
            name.to_owned(),
            hash.to_owned(),
            document.to_vec(),
        );
        self.write(move |c| {
            let head: Option<(i64, String, i64)> = c
                .query_row(
                    "SELECT version, hash, created_at_ms FROM profiles
                     WHERE tenant = ?1 AND name = ?2 ORDER BY version DESC LIMIT 1",
                    params![t, n],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| db_err("read the newest profile version", e))?;
            let row = |version, hash, created_at_ms| ProfileRow {
                tenant: t.clone(),
                name: n.clone(),
                version,
                hash,
                created_at_ms,
            };
            if let Some((v, old, at)) = &head {
                if *old == h {
                    return Ok((row(*v, old.clone(), *at), false));
                }
            }
            let version = head.map_or(1, |x| x.0 + 1);
            let now = now_ms();
            exec(
                c,
                "INSERT INTO profiles (tenant, name, version, hash, document, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![t, n, version, h, d, now],
            )
            .map_err(|e| db_err("store a profile version", e))?;
            Ok((row(version, h.clone(), now), true))
        })
        .await
    }

    async fn profile_heads(&self) -> Result<Vec<ProfileRow>, LedgerError> {
        self.read(|c| {
            let mut st = c
                .prepare(
                    "SELECT p.tenant, p.name, p.version, p.hash, p.created_at_ms FROM profiles p
                     WHERE p.version = (SELECT MAX(q.version) FROM profiles q
                                        WHERE q.tenant = p.tenant AND q.name = p.name)
                     ORDER BY p.tenant, p.name",
                )
                .map_err(|e| db_err("list profiles", e))?;
            let rows = st
                .query_map([], |r| {
                    Ok(ProfileRow {
                        tenant: r.get(0)?,
                        name: r.get(1)?,
                        version: r.get(2)?,
                        hash: r.get(3)?,
                        created_at_ms: r.get(4)?,
                    })
                })
                .map_err(|e| db_err("list profiles", e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| db_err("read a profile row", e))
        })
        .await
    }

    async fn profile_document(
        &self,
        tenant: &str,
        name: &str,
        version: i64,
    ) -> Result<Option<(ProfileRow, Vec<u8>)>, LedgerError> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.read(move |c| {
            c.query_row(
                "SELECT hash, created_at_ms, document FROM profiles
                 WHERE tenant = ?1 AND name = ?2 AND version = ?3",
                params![t, n, version],
                |r| {
                    Ok((
                        ProfileRow {
                            tenant: t.clone(),
                            name: n.clone(),
                            version,
                            hash: r.get(0)?,
                            created_at_ms: r.get(1)?,
                        },
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| db_err("read a profile document", e))
        })
        .await
    }

    async fn agent_keys(&self) -> Result<Vec<AgentKeyRow>, LedgerError> {
        self.read(|c| {
            let mut st = c
                .prepare(
                    "SELECT tenant, agent, key_hash, revoked FROM agent_keys
                     ORDER BY tenant, agent",
                )
                .map_err(|e| db_err("list agent keys", e))?;
            let rows = st
                .query_map([], |r| {
                    Ok(AgentKeyRow {
                        tenant: r.get(0)?,
                        agent: r.get(1)?,
                        key_hash: r.get(2)?,
                        revoked: r.get::<_, i64>(3)? != 0,
                    })
                })
                .map_err(|e| db_err("list agent keys", e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| db_err("read an agent key", e))
        })
        .await
    }

    async fn issue_permit(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError> {
        let (adds, permit) = (adds.to_vec(), permit.clone());
        self.write_signed(move |c| {
            if let LimitOutcome::Exceeded { limit_id } = limit_try_add_tx(c, &adds)? {
                return Ok(IssueOutcome::LimitExceeded { limit_id });
            }
            record_permit_tx(c, &permit)?;
            Ok(IssueOutcome::Issued(Box::new(append_receipt_tx(
                c, draft, &key,
            )?)))
        })
        .await
    }

    async fn issue_and_consume(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError> {
        let (adds, permit) = (adds.to_vec(), permit.clone());
        self.write_signed(move |c| {
            if let LimitOutcome::Exceeded { limit_id } = limit_try_add_tx(c, &adds)? {
                return Ok(IssueOutcome::LimitExceeded { limit_id });
            }
            record_permit_tx(c, &permit)?;
            let receipt = append_receipt_tx(c, draft, &key)?;
            match consume_tx(c, &permit.tenant, &permit.jti, "forwarding")? {
                ConsumeOutcome::Consumed(_) => Ok(IssueOutcome::Issued(Box::new(receipt))),
                other => Err(LedgerError::Internal(format!(
                    "permit {:?} just issued could not be consumed: {other:?}",
                    permit.jti
                ))),
            }
        })
        .await
    }

    async fn consume_for_forward(
        &self,
        tenant: &str,
        jti: &str,
    ) -> Result<ConsumeOutcome, LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| consume_tx(c, &tenant, &jti, "forwarding"))
            .await
    }

    async fn finish_with_receipt(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        self.write_signed(move |c| {
            finish_tx(c, &tenant, &jti, outcome)?;
            append_receipt_tx(c, draft, &key)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::suite;
    use super::*;

    fn fresh() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.db");
        (dir, path)
    }

    /// Keep the writer busy for half a second (once it has started on it), so the jobs sent
    /// meanwhile queue up and are drained into one batch. Await the handle to release.
    async fn hold_writer(
        l: &Arc<SqliteLedger>,
    ) -> tokio::task::JoinHandle<Result<(), LedgerError>> {
        let l = Arc::clone(l);
        let blocker = tokio::spawn(async move {
            l.write(|_| {
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        blocker
    }

    async fn open_at(path: &Path) -> Arc<dyn Ledger> {
        Arc::new(SqliteLedger::open(path).await.expect("open"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consume_is_single_use_under_concurrency() {
        let (_d, p) = fresh();
        suite::consume_is_single_use_under_concurrency(open_at(&p).await).await;
    }

    #[tokio::test]
    async fn consume_unknown_or_foreign_is_not_found() {
        let (_d, p) = fresh();
        suite::consume_unknown_or_foreign_is_not_found(open_at(&p).await).await;
    }

    #[tokio::test]
    async fn permit_transitions_only_move_forward() {
        let (_d, p) = fresh();
        suite::permit_transitions_only_move_forward(open_at(&p).await).await;
    }

    #[tokio::test]
    async fn unfinished_permits_survive_restart() {
        let (_d, p) = fresh();
        suite::unfinished_permits_survive_restart(|| open_at(&p)).await;
    }

    #[tokio::test]
    async fn idempotency_lifecycle() {
        let (_d, p) = fresh();
        suite::idempotency_lifecycle(open_at(&p).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limits_are_exact_under_concurrency() {
        let (_d, p) = fresh();
        suite::limits_are_exact_under_concurrency(open_at(&p).await).await;
    }

    #[tokio::test]
    async fn limits_are_all_or_nothing() {
        let (_d, p) = fresh();
        suite::limits_are_all_or_nothing(open_at(&p).await).await;
    }

    #[tokio::test]
    async fn limit_window_rolls_over() {
        let (_d, p) = fresh();
        suite::limit_window_rolls_over(open_at(&p).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipt_chain_has_no_gaps_or_forks() {
        let (_d, p) = fresh();
        suite::receipt_chain_has_no_gaps_or_forks(|| open_at(&p)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn composite_operations_keep_the_semantics() {
        let (_d, path) = fresh();
        suite::composite_operations_keep_the_semantics(open_at(&path).await).await;
    }

    #[tokio::test]
    async fn profiles_are_versioned() {
        let (_d, p) = fresh();
        suite::profiles_are_versioned(open_at(&p).await).await;
    }

    #[tokio::test]
    async fn agent_keys_put_and_revoke() {
        let (_d, p) = fresh();
        suite::agent_keys_put_and_revoke(open_at(&p).await).await;
    }

    /// The in-memory variant runs the non-restart behaviours too (reads go to the writer).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_memory_ledger_keeps_the_same_semantics() {
        let l = crate::ledger::open("sqlite::memory:").await.expect("open");
        suite::consume_is_single_use_under_concurrency(Arc::clone(&l)).await;
        suite::limits_are_exact_under_concurrency(Arc::clone(&l)).await;
        suite::idempotency_lifecycle(Arc::clone(&l)).await;
        suite::agent_keys_put_and_revoke(l).await;
    }

    #[tokio::test]
    async fn the_file_is_in_wal_mode_with_full_sync_and_current_schema() {
        let (_d, p) = fresh();
        let l = open_at(&p).await;
        drop(l);
        let raw = Connection::open(&p).expect("raw");
        let mode: String = raw
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let version: i64 = raw
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(Some(version), MIGRATIONS.last().map(|m| m.0));
        // `synchronous` is per connection: check the writer's setting through a fresh one.
        let c = open_writer(Some(&p)).expect("writer");
        let sync: i64 = c
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("sync");
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let (_d, p) = fresh();
        drop(open_at(&p).await);
        let raw = Connection::open(&p).expect("raw");
        raw.execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .expect("bump");
        drop(raw);
        assert!(matches!(
            SqliteLedger::open(&p).await,
            Err(LedgerError::Corrupt(_))
        ));
    }

    /// An edited receipt row comes back exactly as edited (the chain verifier's job to catch);
    /// a row that is not JSON at all is reported as corrupt.
    #[tokio::test]
    async fn an_edited_receipt_is_returned_as_stored() {
        let (_d, p) = fresh();
        let l = open_at(&p).await;
        let t = suite::tenant();
        let key = suite::test_key();
        let r1 = l
            .append_receipt(suite::draft(&t, "r1"), Arc::clone(&key))
            .await
            .expect("append");
        l.append_receipt(suite::draft(&t, "r2"), key)
            .await
            .expect("append");

        let raw = Connection::open(&p).expect("raw");
        let body: String = raw
            .query_row("SELECT body FROM receipts WHERE id = 'r1'", [], |r| {
                r.get(0)
            })
            .expect("body");
        let edited = body.replace("money.refund", "money.payment");
        assert_ne!(edited, body);
        raw.execute(
            "UPDATE receipts SET body = ?1 WHERE id = 'r1'",
            params![edited],
        )
        .expect("edit");

        let got = l.receipt(&t, "r1").await.expect("get").expect("some");
        assert_eq!(got["action"], "money.payment");
        assert_eq!(got["hash"].as_str(), Some(r1.hash.as_str()));
        assert_ne!(
            suite::recompute_hash(&got),
            r1.hash,
            "the edit is detectable"
        );
        let listed = l.receipts_after(&t, 0, 10).await.expect("list");
        assert_eq!(listed[0], got);

        raw.execute(
            "UPDATE receipts SET body = '{\"a\":1,\"a\":2}' WHERE id = 'r2'",
            [],
        )
        .expect("edit");
        assert!(matches!(
            l.receipt(&t, "r2").await,
            Err(LedgerError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn open_accepts_sqlite_urls_and_refuses_others() {
        let (_d, p) = fresh();
        let abs = p.to_str().expect("utf-8 path");
        let l = crate::ledger::open(&format!("sqlite://{abs}"))
            .await
            .expect("sqlite://");
        l.put_agent_key("t", "a", "h").await.expect("put");
        drop(l);
        let l = crate::ledger::open(&format!("sqlite:{abs}"))
            .await
            .expect("sqlite:");
        assert_eq!(l.agent_keys().await.expect("list").len(), 1);
        let err = crate::ledger::open("postgres://user:hunter2@db/rail")
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, LedgerError::Unavailable(_)));
        assert!(!err.to_string().contains("hunter2"));
        assert!(crate::ledger::open("sqlite:").await.is_err());
        let missing = format!("sqlite:{}/no/such/dir/l.db", abs);
        assert!(matches!(
            crate::ledger::open(&missing).await.err(),
            Some(LedgerError::Unavailable(_))
        ));
    }

    /// Jobs queued while the writer is busy are committed as one batch; a job that fails or
    /// panics is rolled back alone (its savepoint), the others commit, the writer lives on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_in_a_batch_does_not_sink_the_others() {
        let (_d, p) = fresh();
        let l = Arc::new(SqliteLedger::open(&p).await.expect("open"));
        let insert = |c: &Connection, agent: &str| {
            c.execute(
                "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
                 VALUES ('batch', ?1, 'h', 0, 0)",
                params![agent],
            )
            .map_err(|e| db_err("test insert", e))
        };
        // Hold the writer so the next jobs queue up and are drained into one batch.
        let blocker = hold_writer(&l).await;
        let mut tasks = Vec::new();
        for i in 0..30 {
            let l = Arc::clone(&l);
            tasks.push(tokio::spawn(async move {
                let agent = format!("a{i}");
                l.write(move |c| {
                    insert(c, &agent)?;
                    match i % 3 {
                        0 => Ok(()),
                        1 => Err(LedgerError::Internal("refused after writing".into())),
                        _ => panic!("job {i} panics after writing"),
                    }
                })
                .await
            }));
        }
        blocker.await.expect("join").expect("blocker");
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.expect("join");
            assert_eq!(r.is_ok(), i % 3 == 0, "job {i}: {r:?}");
        }
        let mut stored: Vec<String> = l
            .agent_keys()
            .await
            .expect("list")
            .into_iter()
            .filter(|r| r.tenant == "batch")
            .map(|r| r.agent)
            .collect();
        stored.sort();
        let mut expected: Vec<String> = (0..30).step_by(3).map(|i| format!("a{i}")).collect();
        expected.sort();
        assert_eq!(stored, expected);
        // Still serving, and what was committed is durable across a reopen.
        l.put_agent_key("batch", "after", "h").await.expect("put");
        drop(l);
        let l = open_at(&p).await;
        let n = l
            .agent_keys()
            .await
            .expect("list")
            .into_iter()
            .filter(|r| r.tenant == "batch")
            .count();
        assert_eq!(n, 11);
    }

    /// A key rotation inside one batch: each run of receipts under one key gets its own
    /// signature by that key; the chain verifies with both keys published.
    #[tokio::test]
    async fn a_key_change_inside_a_batch_starts_a_new_signed_run() {
        use intentrail_core::verify_chain;
        let (_d, p) = fresh();
        let l = Arc::new(SqliteLedger::open(&p).await.expect("open"));
        let (k1, k2) = (
            suite::test_key(),
            Arc::new(SigningKey::from_bytes(&[42u8; 32])),
        );
        let blocker = hold_writer(&l).await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (l, key) = (Arc::clone(&l), if i < 3 { &k1 } else { &k2 }.clone());
            let d = suite::draft("rot", &format!("rot{i}"));
            tasks.push(tokio::spawn(async move { l.append_receipt(d, key).await }));
            // Keep the queue order (and so the seq order) fixed.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        blocker.await.expect("join").expect("blocker");
        for t in tasks {
            t.await.expect("join").expect("append");
        }
        let all = l.receipts_after("rot", 0, 10).await.expect("list");
        assert_eq!(all.len(), 6);
        assert_eq!(all[0]["sig"], all[2]["sig"]);
        assert_eq!(all[3]["sig"], all[5]["sig"]);
        assert_ne!(all[2]["sig"], all[3]["sig"]);
        assert_eq!(all[0]["batch"]["size"], 3);
        let both = HashMap::from([
            (k1.kid().to_owned(), k1.verifying_key()),
            (k2.kid().to_owned(), k2.verifying_key()),
        ]);
        verify_chain(&all, &both, None).expect("verifies with both keys");
        let only_first = HashMap::from([(k1.kid().to_owned(), k1.verifying_key())]);
        let e = verify_chain(&all, &only_first, None).expect_err("k2 unknown");
        assert_eq!(e.seq, 4);
    }

    /// Receipts appended in one batch, with jobs that append and then fail or panic mixed in
    /// (their receipts are rolled back): two tenants, one signature each for the batch, every
    /// answered receipt and every stored one verifies on its own, and the chain has no gap.
    #[tokio::test]
    async fn one_signature_per_tenant_per_batch_and_rolled_back_receipts_are_not_signed() {
        use intentrail_core::verify_chain;
        let (_d, p) = fresh();
        let l = Arc::new(SqliteLedger::open(&p).await.expect("open"));
        let key = suite::test_key();
        let keys = HashMap::from([(key.kid().to_owned(), key.verifying_key())]);
        let blocker = hold_writer(&l).await;
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let (l, key) = (Arc::clone(&l), Arc::clone(&key));
                let tenant = if i % 2 == 0 { "ta" } else { "tb" };
                let d = suite::draft(tenant, &format!("r{i}"));
                tokio::spawn(async move {
                    l.write_signed(move |c| {
                        let r = append_receipt_tx(c, d, &key)?;
                        match i % 4 {
                            1 => Err(LedgerError::Internal("refused after appending".into())),
                            3 if i == 7 => panic!("job {i} panics after appending"),
                            _ => Ok(r),
                        }
                    })
                    .await
                })
            })
            .collect();
        blocker.await.expect("join").expect("blocker");
        let mut answered = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.expect("join");
            assert_eq!(r.is_ok(), i % 4 != 1 && i != 7, "job {i}: {r:?}");
            answered.extend(r.ok());
        }
        let batches: Vec<(String, i64, i64)> = l
            .read(|c| {
                let mut st = c
                    .prepare(
                        "SELECT tenant, first_seq, last_seq FROM receipt_batches ORDER BY tenant",
                    )
                    .map_err(|e| db_err("test", e))?;
                let rows = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(|e| db_err("test", e))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(|e| db_err("test", e))
            })
            .await
            .expect("batches");
        // ta: jobs 0,2,4,…,22 all succeed (12); tb: 3,11,15,19,23 (7 panics, 1 mod 4 fails).
        assert_eq!(
            batches,
            vec![("ta".to_owned(), 1, 12), ("tb".to_owned(), 1, 5)]
        );
        for r in &answered {
            let v = serde_json::to_value(r).expect("json");
            assert_eq!(v["batch"]["size"], if r.tenant == "ta" { 12 } else { 5 });
            verify_chain(&[v], &keys, Some((r.seq - 1, r.prev.clone()))).expect("alone");
        }
        for (tenant, n) in [("ta", 12), ("tb", 5)] {
            let all = l.receipts_after(tenant, 0, 100).await.expect("list");
            assert_eq!(all.len(), n);
            verify_chain(&all, &keys, None).expect("chain");
            // One signature for the tenant's whole batch.
            assert!(all.iter().all(|r| r["sig"] == all[0]["sig"]));
            let one = l
                .receipt(tenant, all[n - 1]["id"].as_str().expect("id"))
                .await
                .expect("get")
                .expect("stored");
            assert_eq!(one, all[n - 1]);
        }
        // A tampered batch signature is caught on read-back (never re-signed by a read).
        l.write(|c| {
            c.execute(
                "UPDATE receipt_batches SET sig = 'AAAA' WHERE tenant = 'tb'",
                [],
            )
            .map_err(|e| db_err("test", e))
        })
        .await
        .expect("tamper");
        let all = l.receipts_after("tb", 0, 100).await.expect("list");
        let e = verify_chain(&all, &keys, None).expect_err("tampered");
        assert_eq!(e.seq, 1);
    }

    #[test]
    fn ledger_errors_map_to_the_error_vocabulary() {
        use intentrail_core::ErrorKind;
        let e: intentrail_core::Error = LedgerError::Unavailable("busy".into()).into();
        assert_eq!(e.kind(), ErrorKind::LedgerUnavailable);
        let e: intentrail_core::Error = LedgerError::Corrupt("x".into()).into();
        assert_eq!(e.kind(), ErrorKind::Internal);
        let e: intentrail_core::Error = LedgerError::Internal("x".into()).into();
        assert_eq!(e.kind(), ErrorKind::Internal);
    }
}
