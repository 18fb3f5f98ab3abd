//! The shared ledger: PostgreSQL, for several rail instances behind a load balancer. Every
//! acknowledged write was committed (`synchronous_commit` as the server has it, `on` by default).
//!
//! **How the guarantees hold across instances** (each method is one transaction, READ COMMITTED):
//!
//! - *Consume*: one `UPDATE permits SET state = 'consumed' … WHERE … AND state = 'issued'
//!   RETURNING …`. PostgreSQL re-checks the `WHERE` after waiting for a concurrent updater, so of
//!   any number of callers on any number of instances exactly one gets the row back.
//! - *Limits*: the window rows an add touches are created if missing (`INSERT … ON CONFLICT DO
//!   NOTHING`) and then locked with `SELECT … FOR UPDATE`, in one sorted order (no deadlock
//!   between two calls naming the same windows), checked and updated in the same transaction:
//!   all or nothing, serialized with every other add on those windows.
//! - *Receipts*: a `chain_heads` row per tenant holds the last `seq` and `hash`. An append locks
//!   it (`SELECT … FOR UPDATE`), seals the receipt on top of it, inserts it and moves the head,
//!   then commits: appends of one tenant are serialized across instances, tenants do not wait
//!   for each other. Within an instance, appends of one tenant queued while a commit is in
//!   flight go together in the next transaction (group commit, up to [`MAX_APPEND_BATCH`]), so
//!   the head lock is taken once per batch, not once per receipt, and the batch's receipts are
//!   signed together (one Ed25519 signature over their Merkle root, each receipt with its own
//!   proof, written into the stored bodies in one `UPDATE … FROM unnest(…)` before the
//!   commit; a lone receipt is signed alone before its insert). `PRIMARY KEY (tenant, seq)`
//!   and `UNIQUE (id)` stay as the backstop against forks.
//! - *Recovery with several instances*: each ledger holds a session advisory lock (its
//!   *instance key*) on a dedicated connection for as long as it lives, and stamps that key on
//!   the permits it consumes. [`Ledger::unfinished_permits`] only reports permits whose
//!   consumer's lock is gone (its process died: PostgreSQL ends a session when its socket
//!   closes), so an instance that restarts never "recovers" a forward another live instance
//!   has in flight. Should that ever happen anyway (a live instance lost its lock connection),
//!   the forward-only state machine still keeps a permit from running twice.
//!
//! Migrations run at open inside one transaction holding `pg_advisory_xact_lock`, so two
//! instances starting together do not race. Connection failures, timeouts and PostgreSQL's
//! "try again" states map to [`LedgerError::Unavailable`]; a commit whose answer was lost is the
//! one case where `Unavailable` cannot promise "nothing applied" (a consume that did commit then
//! shows up in `unfinished_permits`, so it is never forwarded twice). The connection string is
//! never logged or put in an error: messages name the host and database only.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row};

use super::rows::{outcome_str, parse_body, parse_state, to_i64, to_u64};
use super::{
    AgentKeyRow, IssueOutcome, Ledger, LedgerError, ProfileRow, Receipt, SigningKey, GENESIS_PREV,
};
use crate::model::{
    ConsumeOutcome, IdempotencyBegin, LimitAdd, LimitOutcome, Outcome, PermitRecord, PermitState,
};

/// Most connections one ledger opens for its queries (plus one for its instance lock).
pub const POOL_SIZE: usize = 16;
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one ledger call may take (waiting for a connection, locks and the commit).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// First key of every advisory lock this ledger takes (`"IRal"`), the second names its use.
const LOCK_NS: i32 = 0x4952_616c;
/// The advisory lock serializing migrations (second key; instance keys are above it).
const MIGRATION_LOCK: i32 = 1;

/// Schema migrations, applied in order at open; `schema_version` holds the applied ones.
/// Never edit a shipped migration: add the next number. Mirrors the SQLite schema, plus the
/// per-tenant chain head and the consuming instance of a permit.
const MIGRATIONS: &[(i32, &str)] = &[
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

/// The PostgreSQL ledger (see the module docs for how each guarantee holds across instances).
pub struct PostgresLedger {
    pool: Arc<Pool>,
    appends: Arc<AppendQueues>,
    instance: i32,
    liveness: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("target", &self.pool.target)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresLedger {
    /// Stop holding the instance lock (its connection closes, PostgreSQL releases the lock).
    fn drop(&mut self) {
        self.liveness.abort();
    }
}

impl PostgresLedger {
    /// Connect to the database named by `url` (`postgres://user:pass@host:port/db`, or any
    /// libpq-style string tokio-postgres accepts), apply pending migrations under an advisory
    /// lock and take this instance's lock. Fails with [`LedgerError::Unavailable`] when the
    /// server cannot be reached; the error never contains the password.
    pub async fn open(url: &str) -> Result<Self, LedgerError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|_| {
            LedgerError::Unavailable("the postgres ledger URL cannot be parsed".into())
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("intentrail");
        }
        let target = describe(&config);
        let pool = Arc::new(Pool {
            slots: Arc::new(Semaphore::new(POOL_SIZE)),
            idle: Mutex::new(Vec::new()),
            config,
            target,
        });
        migrate(&pool).await?;
        let (instance, holder) = take_instance_lock(&pool).await?;
        let liveness = tokio::spawn(hold_instance_lock(Arc::clone(&pool), instance, holder));
        Ok(PostgresLedger {
            pool,
            appends: Arc::default(),
            instance,
            liveness,
        })
    }

    /// This ledger's instance key: the second key of the advisory lock it holds while alive,
    /// stamped on the permits it consumes.
    pub fn instance_key(&self) -> i32 {
        self.instance
    }

    /// Run `f` on a pooled connection, bounded by [`CALL_TIMEOUT`].
    async fn with_conn<R, F>(&self, what: &str, f: F) -> Result<R, LedgerError>
    where
        F: for<'c> FnOnce(&'c mut Client) -> BoxFut<'c, R>,
    {
        with_pool_conn(&self.pool, what, f).await
    }
}

/// Run `f` on a connection of `pool`, bounded by [`CALL_TIMEOUT`].
async fn with_pool_conn<R, F>(pool: &Arc<Pool>, what: &str, f: F) -> Result<R, LedgerError>
where
    F: for<'c> FnOnce(&'c mut Client) -> BoxFut<'c, R>,
{
    {
        let work = async {
            let mut conn = pool.get().await?;
            let out = f(conn.client()?).await;
            // Only a connection whose call ran to its end (not cut by the timeout) and did not
            // fail for connection reasons goes back to the pool.
            conn.clean = !matches!(out, Err(LedgerError::Unavailable(_)));
            out
        };
        match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(LedgerError::Unavailable(format!(
                "{what}: the postgres ledger at {} did not answer within {}s",
                pool.target,
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }
}

type BoxFut<'c, R> = std::pin::Pin<Box<dyn Future<Output = Result<R, LedgerError>> + Send + 'c>>;

// ---------------------------------------------------------------------------------------------
// A small connection pool: at most POOL_SIZE connections, opened lazily, dropped when broken.

struct Pool {
    config: tokio_postgres::Config,
    /// `host:port/db` for messages (never the password).
    target: String,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Client>>,
}

struct PooledConn {
    client: Option<Client>,
    /// Set when the call using it finished normally; otherwise the connection is dropped.
    clean: bool,
    pool: Arc<Pool>,
    _slot: OwnedSemaphorePermit,
}

impl PooledConn {
    fn client(&mut self) -> Result<&mut Client, LedgerError> {
        self.client
            .as_mut()
            .ok_or_else(|| LedgerError::Internal("a pooled connection was used after drop".into()))
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if self.clean && !c.is_closed() {
                self.pool
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(c);
            }
        }
    }
}

impl Pool {
    async fn get(self: &Arc<Self>) -> Result<PooledConn, LedgerError> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| LedgerError::Unavailable("the postgres pool is closed".into()))?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(c) if c.is_closed() => continue,
                Some(c) => {
                    return Ok(PooledConn {
                        client: Some(c),
                        clean: false,
                        pool: Arc::clone(self),
                        _slot: slot,
                    })
                }
                None => break,
            }
        }
        let client = self.connect().await?;
        Ok(PooledConn {
            client: Some(client),
            clean: false,
            pool: Arc::clone(self),
            _slot: slot,
        })
    }

    async fn connect(&self) -> Result<Client, LedgerError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            LedgerError::Unavailable(format!(
                "cannot connect to the postgres ledger at {}: {}",
                self.target,
                safe_msg(&e)
            ))
        })?;
        let target = self.target.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(target_db = %target, error = %safe_msg(&e), "postgres connection closed");
            }
        });
        Ok(client)
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

// ---------------------------------------------------------------------------------------------
// Migrations and the instance lock

async fn migrate(pool: &Arc<Pool>) -> Result<(), LedgerError> {
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

/// Pick a random instance key nobody holds and lock it on a dedicated connection.
async fn take_instance_lock(pool: &Pool) -> Result<(i32, Client), LedgerError> {
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
async fn hold_instance_lock(pool: Arc<Pool>, key: i32, client: Client) {
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

// ---------------------------------------------------------------------------------------------
// Chain appends: per-tenant group commit

/// Most receipts one append transaction seals and commits.
const MAX_APPEND_BATCH: usize = 64;

/// Receipts waiting to be appended, per tenant. A tenant present in the map has exactly one
/// drainer task running; the drainer removes the tenant when it finds its queue empty.
type AppendQueues = Mutex<HashMap<String, Vec<PendingAppend>>>;

struct PendingAppend {
    draft: Receipt,
    key: Arc<SigningKey>,
    with: WithReceipt,
    tx: tokio::sync::oneshot::Sender<Result<Receipt, LedgerError>>,
}

/// A permit change committed in the same transaction as its receipt.
enum WithReceipt {
    /// Just the receipt.
    Nothing,
    /// Record this permit as issued (the decision receipt of `issue_permit`).
    Record(Box<PermitRecord>),
    /// Finish this permit with this outcome (the execution receipt).
    Finish { jti: String, outcome: Outcome },
}

/// Append everything queued for `tenant`, up to [`MAX_APPEND_BATCH`] receipts per transaction
/// (one head lock, one commit for the batch), answering each caller after its batch committed.
/// Runs as its own task so a caller that goes away never abandons the others' batch.
async fn drain_appends(pool: Arc<Pool>, queues: Arc<AppendQueues>, tenant: String) {
    loop {
        let batch: Vec<PendingAppend> = {
            let mut q = queues.lock().unwrap_or_else(|p| p.into_inner());
            let Some(pending) = q.get_mut(&tenant) else {
                return;
            };
            if pending.is_empty() {
                q.remove(&tenant);
                return;
            }
            let n = pending.len().min(MAX_APPEND_BATCH);
            pending.drain(..n).collect()
        };
        let (items, senders): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|p| ((p.draft, p.key, p.with), p.tx))
            .unzip();
        let t = tenant.clone();
        let outcome = with_pool_conn(&pool, "append receipts", move |c| {
            Box::pin(append_batch(c, t, items))
        })
        .await;
        match outcome {
            Ok(results) => {
                for (tx, r) in senders.into_iter().zip(results) {
                    let _ = tx.send(r);
                }
            }
            Err(e) => {
                for tx in senders {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Sign the receipts `out[i]` for each `(i, key)` of `unsigned` (stored unsigned, consecutive
/// seqs in order): one signature per run under one key, then their stored bodies are replaced
/// by the signed ones in ONE statement, inside the append's transaction.
async fn sign_stored(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    out: &mut [Result<Receipt, LedgerError>],
    unsigned: &[(usize, Arc<SigningKey>)],
) -> Result<(), LedgerError> {
    let mut seqs: Vec<i64> = Vec::with_capacity(unsigned.len());
    let mut bodies: Vec<String> = Vec::with_capacity(unsigned.len());
    let mut start = 0;
    while start < unsigned.len() {
        let kid = unsigned[start].1.kid();
        let end = start
            + unsigned[start..]
                .iter()
                .take_while(|(_, k)| k.kid() == kid)
                .count();
        let run: Vec<&Receipt> = unsigned[start..end]
            .iter()
            .filter_map(|(i, _)| out.get(*i).and_then(|r| r.as_ref().ok()))
            .collect();
        let hashes: Vec<&str> = run.iter().map(|r| r.hash.as_str()).collect();
        let Some((sig, proofs)) = intentrail_core::batch::sign(&unsigned[start].1, &hashes) else {
            break;
        };
        for ((i, _), proof) in unsigned[start..end].iter().zip(proofs) {
            let Some(Ok(r)) = out.get_mut(*i) else {
                continue;
            };
            r.sig.clone_from(&sig);
            r.batch = proof;
            seqs.push(to_i64(r.seq, "receipt seq")?);
            bodies.push(
                serde_json::to_string(r).map_err(|e| {
                    LedgerError::Internal(format!("cannot serialize a receipt: {e}"))
                })?,
            );
        }
        start = end;
    }
    if seqs.is_empty() {
        return Ok(());
    }
    let n = tx
        .execute(
            "UPDATE receipts AS r SET body = u.body
             FROM unnest($2::bigint[], $3::text[]) AS u(seq, body)
             WHERE r.tenant = $1 AND r.seq = u.seq",
            &[&tenant, &seqs, &bodies],
        )
        .await
        .map_err(|e| db_err("store receipt signatures", &e))?;
    if n != seqs.len() as u64 {
        return Err(LedgerError::Internal(format!(
            "{} receipt signatures stored for {} receipts",
            n,
            seqs.len()
        )));
    }
    Ok(())
}

/// One transaction: lock the tenant's head, seal and insert each receipt on top of the last,
/// move the head, commit. A receipt whose id is already stored is answered with
/// [`LedgerError::Internal`] and takes no seq; any other failure fails the whole batch (nothing
/// of it was applied).
async fn append_batch(
    c: &mut Client,
    tenant: String,
    items: Vec<(Receipt, Arc<SigningKey>, WithReceipt)>,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_err("begin a receipt append", &e))?;
    tx.execute(
        "INSERT INTO chain_heads (tenant, seq, hash) VALUES ($1, 0, $2)
         ON CONFLICT (tenant) DO NOTHING",
        &[&tenant, &GENESIS_PREV],
    )
    .await
    .map_err(|e| db_err("create the chain head", &e))?;
    let head = tx
        .query_one(
            "SELECT seq, hash FROM chain_heads WHERE tenant = $1 FOR UPDATE",
            &[&tenant],
        )
        .await
        .map_err(|e| db_err("lock the chain head", &e))?;
    let mut last = to_u64(get(&head, 0, "chain head")?, "receipt seq")?;
    let mut prev: String = get(&head, 1, "chain head")?;
    let start = last;
    let now = now_ms();
    // A lone receipt is signed before its insert; several are signed together once stored
    // (one signature per run under one key, see `intentrail_core::batch`).
    let alone = items.len() == 1;
    let mut unsigned: Vec<(usize, Arc<SigningKey>)> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (mut draft, key, with) in items {
        if draft.tenant != tenant {
            out.push(Err(LedgerError::Internal(
                "a receipt was queued under another tenant".into(),
            )));
            continue;
        }
        // The permit change first: if it does not apply, the receipt is not appended either.
        match with {
            WithReceipt::Nothing => {}
            WithReceipt::Record(p) => {
                let n = tx
                    .execute(
                        "INSERT INTO permits (tenant, jti, agent, action, payload_hash,
                                              expires_at_ms, idempotency_key, state, issued_at_ms)
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
                if n == 0 || p.tenant != tenant {
                    out.push(Err(LedgerError::Internal(format!(
                        "permit {:?} of tenant {:?} is already recorded",
                        p.jti, p.tenant
                    ))));
                    continue;
                }
            }
            WithReceipt::Finish { jti, outcome } => {
                let n = tx
                    .execute(
                        "UPDATE permits SET state = 'done', outcome = $3, done_at_ms = $4
                         WHERE tenant = $1 AND jti = $2 AND state IN ('consumed', 'forwarding')",
                        &[&tenant, &jti, &outcome_str(outcome), &now],
                    )
                    .await
                    .map_err(|e| db_err("finish a permit", &e))?;
                if n == 0 {
                    out.push(Err(LedgerError::Internal(format!(
                        "permit {jti:?} of tenant {tenant:?} cannot move to done"
                    ))));
                    continue;
                }
            }
        }
        let seq = last
            .checked_add(1)
            .ok_or_else(|| LedgerError::Internal("receipt seq overflow".into()))?;
        draft.seq = seq;
        draft.prev.clone_from(&prev);
        let sealed = if alone {
            draft.seal(&key)
        } else {
            draft.seal_unsigned(key.kid())
        };
        if let Err(e) = sealed {
            out.push(Err(LedgerError::Internal(format!(
                "cannot seal a receipt: {e}"
            ))));
            continue;
        }
        let body = match serde_json::to_string(&draft) {
            Ok(b) => b,
            Err(e) => {
                out.push(Err(LedgerError::Internal(format!(
                    "cannot serialize a receipt: {e}"
                ))));
                continue;
            }
        };
        let n = tx
            .execute(
                "INSERT INTO receipts (tenant, seq, id, hash, body, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &tenant,
                    &to_i64(seq, "receipt seq")?,
                    &draft.id,
                    &draft.hash,
                    &body,
                    &now,
                ],
            )
            .await
            .map_err(|e| db_err("store a receipt", &e))?;
        if n == 0 {
            out.push(Err(LedgerError::Internal(format!(
                "receipt id {:?} is already stored",
                draft.id
            ))));
            continue;
        }
        last = seq;
        prev.clone_from(&draft.hash);
        if !alone {
            unsigned.push((out.len(), key));
        }
        out.push(Ok(draft));
    }
    sign_stored(&tx, &tenant, &mut out, &unsigned).await?;
    if last != start {
        tx.execute(
            "UPDATE chain_heads SET seq = $2, hash = $3 WHERE tenant = $1",
            &[&tenant, &to_i64(last, "receipt seq")?, &prev],
        )
        .await
        .map_err(|e| db_err("move the chain head", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_err("commit receipts", &e))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Moving from another ledger (`intentrail ledger copy`)

/// What [`copy_into`] carried over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Receipts copied per tenant, in the order the tenants were given.
    pub receipts: Vec<(String, u64)>,
    /// Agent key / revocation rows copied.
    pub agent_keys: usize,
    /// Profile versions copied (same numbers and hashes, so receipts still name them).
    pub profile_versions: usize,
}

/// Copy what must outlive a move from `src` (e.g. the SQLite default) into the PostgreSQL
/// ledger at `dst_url`: each listed tenant's receipt chain as the same JSON values (same seq, id,
/// hash and fields, so exported chains and their signatures still verify), and every agent key and
/// revocation, and every version of the tenants' mirrored profiles. Refuses when `src` still has unfinished permits (start the old rail once so it
/// recovers them, then stop it) or when a tenant already has receipts in the target.
/// Each tenant's chain is checked link by link while copying and written in one transaction.
/// Not copied, by design: issued permits (they live at most a few minutes; agents ask again),
/// idempotency records and limit windows (they restart from zero).
pub async fn copy_into(
    src: &dyn Ledger,
    tenants: &[String],
    dst_url: &str,
) -> Result<CopyReport, LedgerError> {
    let unfinished = src.unfinished_permits().await?;
    if !unfinished.is_empty() {
        return Err(LedgerError::Internal(format!(
            "the source ledger has {} unfinished permit(s): run the old rail once so it \
             recovers them, stop it, then copy",
            unfinished.len()
        )));
    }
    let dst = PostgresLedger::open(dst_url).await?;
    let mut report = CopyReport::default();
    for tenant in tenants {
        let mut rows = Vec::new();
        let mut after = 0u64;
        loop {
            let page = src.receipts_after(tenant, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last["seq"].as_u64().ok_or_else(|| {
                LedgerError::Corrupt(format!("a receipt of {tenant:?} has no seq"))
            })?;
            rows.extend(page);
        }
        let n = dst.import_chain(tenant, rows).await?;
        report.receipts.push((tenant.clone(), n));
    }
    for row in src.agent_keys().await? {
        if let Some(h) = &row.key_hash {
            dst.put_agent_key(&row.tenant, &row.agent, h).await?;
        }
        if row.revoked {
            dst.revoke_agent(&row.tenant, &row.agent).await?;
        }
        report.agent_keys += 1;
    }
    for head in src.profile_heads().await? {
        if !tenants.contains(&head.tenant) {
            continue;
        }
        for v in 1..=head.version {
            let Some((row, doc)) = src.profile_document(&head.tenant, &head.name, v).await? else {
                continue;
            };
            let (stored, _) = dst
                .put_profile(&row.tenant, &row.name, &row.hash, &doc)
                .await?;
            if stored.version != v {
                return Err(LedgerError::Internal(format!(
                    "profile {:?} of {:?} already has other versions in the target",
                    row.name, row.tenant
                )));
            }
            report.profile_versions += 1;
        }
    }
    Ok(report)
}

impl PostgresLedger {
    /// Store a whole chain as it is (checking seq and prev links), then set the tenant's head.
    async fn import_chain(
        &self,
        tenant: &str,
        rows: Vec<serde_json::Value>,
    ) -> Result<u64, LedgerError> {
        let tenant = tenant.to_owned();
        let mut checked = Vec::with_capacity(rows.len());
        let mut prev = GENESIS_PREV.to_owned();
        for (i, r) in rows.iter().enumerate() {
            let field = |name: &str| {
                r[name].as_str().map(str::to_owned).ok_or_else(|| {
                    LedgerError::Corrupt(format!("receipt #{} of {tenant:?} has no {name}", i + 1))
                })
            };
            let seq = r["seq"].as_u64().unwrap_or(0);
            if seq != i as u64 + 1 || field("prev")? != prev || field("tenant")? != tenant {
                return Err(LedgerError::Corrupt(format!(
                    "the source chain of {tenant:?} breaks at seq {}: run `intentrail receipts \
                     verify` on an export of it",
                    i + 1
                )));
            }
            let (id, hash) = (field("id")?, field("hash")?);
            let body = serde_json::to_string(r)
                .map_err(|e| LedgerError::Internal(format!("cannot serialize a receipt: {e}")))?;
            prev.clone_from(&hash);
            checked.push((to_i64(seq, "receipt seq")?, id, hash, body));
        }
        let n = checked.len() as u64;
        self.with_conn("import a receipt chain", move |c| {
            Box::pin(async move {
                let tx = c
                    .transaction()
                    .await
                    .map_err(|e| db_err("begin an import", &e))?;
                let existing: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM receipts WHERE tenant = $1",
                        &[&tenant],
                    )
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(|e| db_err("count receipts", &e))?;
                if existing > 0 {
                    return Err(LedgerError::Internal(format!(
                        "tenant {tenant:?} already has {existing} receipt(s) in the target"
                    )));
                }
                let now = now_ms();
                for (seq, id, hash, body) in &checked {
                    tx.execute(
                        "INSERT INTO receipts (tenant, seq, id, hash, body, created_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[&tenant, seq, id, hash, body, &now],
                    )
                    .await
                    .map_err(|e| db_err("import a receipt", &e))?;
                }
                if let Some((seq, _, hash, _)) = checked.last() {
                    tx.execute(
                        "INSERT INTO chain_heads (tenant, seq, hash) VALUES ($1, $2, $3)
                         ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq,
                                                            hash = excluded.hash",
                        &[&tenant, seq, hash],
                    )
                    .await
                    .map_err(|e| db_err("set the chain head", &e))?;
                }
                tx.commit()
                    .await
                    .map_err(|e| db_err("commit an import", &e))?;
                Ok(n)
            })
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and row helpers

/// A message for a tokio-postgres error that never includes row values (the DETAIL of a
/// constraint error can hold them) nor the connection string (tokio-postgres never prints it).
fn safe_msg(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Map a PostgreSQL error to the ledger's vocabulary; `what` names the operation.
fn db_err(what: &str, e: &tokio_postgres::Error) -> LedgerError {
    let msg = format!("{what}: {}", safe_msg(e));
    let Some(code) = e.code() else {
        // No SQLSTATE: I/O, a closed connection, a protocol or conversion error.
        return if e.is_closed() || e.as_db_error().is_none() && is_io(e) {
            LedgerError::Unavailable(msg)
        } else {
            LedgerError::Internal(msg)
        };
    };
    let class = &code.code()[..2.min(code.code().len())];
    if matches!(class, "08" | "53" | "57" | "58" | "40")
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        LedgerError::Unavailable(msg)
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        LedgerError::Corrupt(msg)
    } else {
        LedgerError::Internal(msg)
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<std::io::Error>() {
            return true;
        }
        src = s.source();
    }
    false
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
    what: &str,
) -> Result<T, LedgerError> {
    row.try_get(idx)
        .map_err(|e| LedgerError::Corrupt(format!("{what}: unexpected column {idx}: {e}")))
}

async fn transition_err(
    c: &Client,
    tenant: &str,
    jti: &str,
    to: &str,
) -> Result<LedgerError, LedgerError> {
    let from: Option<String> = c
        .query_opt(
            "SELECT state FROM permits WHERE tenant = $1 AND jti = $2",
            &[&tenant, &jti],
        )
        .await
        .map_err(|e| db_err("read a permit", &e))?
        .map(|r| get(&r, 0, "permit state"))
        .transpose()?;
    Ok(LedgerError::Internal(match from {
        Some(s) => format!("permit {jti:?} of tenant {tenant:?} cannot move from {s} to {to}"),
        None => format!("permit {jti:?} of tenant {tenant:?} does not exist"),
    }))
}

fn permit_from_row(r: &Row) -> Result<(PermitRecord, String), LedgerError> {
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
        get(r, 7, "permit")?,
    ))
}

impl PostgresLedger {
    /// ONE conditional update `issued → to` (`consumed`, or `forwarding` for a caller ready to
    /// send), stamped with this instance; exactly one concurrent caller on any instance wins.
    async fn consume_to(
        &self,
        tenant: &str,
        jti: &str,
        to: &'static str,
    ) -> Result<ConsumeOutcome, LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        let instance = self.instance;
        self.with_conn("consume a permit", move |c| {
            Box::pin(async move {
                let now = now_ms();
                let forwarding_at: Option<i64> = (to == "forwarding").then_some(now);
                let won = c
                    .query_opt(
                        "UPDATE permits SET state = $5, consumed_at_ms = $3, consumed_by = $4,
                                            forwarding_at_ms = $6
                         WHERE tenant = $1 AND jti = $2 AND state = 'issued'
                         RETURNING agent, action, payload_hash, expires_at_ms, idempotency_key",
                        &[&tenant, &jti, &now, &instance, &to, &forwarding_at],
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
                        jti,
                        tenant,
                    }));
                }
                let exists = c
                    .query_opt(
                        "SELECT 1 FROM permits WHERE tenant = $1 AND jti = $2",
                        &[&tenant, &jti],
                    )
                    .await
                    .map_err(|e| db_err("read a permit", &e))?;
                Ok(if exists.is_some() {
                    ConsumeOutcome::AlreadyUsed
                } else {
                    ConsumeOutcome::NotFound
                })
            })
        })
        .await
    }

    /// Queue `draft` (with a permit change applied in the same transaction) on the tenant's
    /// append batch and wait for the batch to commit.
    async fn append_with(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
        with: WithReceipt,
    ) -> Result<Receipt, LedgerError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tenant = draft.tenant.clone();
        let start_drainer = {
            let mut queues = self.appends.lock().unwrap_or_else(|p| p.into_inner());
            let pending = PendingAppend {
                draft,
                key,
                with,
                tx,
            };
            match queues.entry(tenant.clone()) {
                std::collections::hash_map::Entry::Occupied(mut q) => {
                    q.get_mut().push(pending);
                    false
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(vec![pending]);
                    true
                }
            }
        };
        if start_drainer {
            tokio::spawn(drain_appends(
                Arc::clone(&self.pool),
                Arc::clone(&self.appends),
                tenant,
            ));
        }
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(out)) => out,
            Ok(Err(_)) => Err(LedgerError::Unavailable(
                "the receipt append task stopped".into(),
            )),
            Err(_) => Err(LedgerError::Unavailable(format!(
                "append a receipt: the postgres ledger at {} did not answer within {}s",
                self.pool.target,
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The trait

#[async_trait]
impl Ledger for PostgresLedger {
    async fn record_permit(&self, p: &PermitRecord) -> Result<(), LedgerError> {
        let p = p.clone();
        self.with_conn("record a permit", move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO permits (tenant, jti, agent, action, payload_hash, expires_at_ms,
                                          idempotency_key, state, issued_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'issued', $8)",
                    &[
                        &p.tenant,
                        &p.jti,
                        &p.agent,
                        &p.action,
                        &p.payload_hash,
                        &p.expires_at_ms,
                        &p.idempotency_key,
                        &now_ms(),
                    ],
                )
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        LedgerError::Internal(format!(
                            "permit {:?} of tenant {:?} is already recorded",
                            p.jti, p.tenant
                        ))
                    } else {
                        db_err("record a permit", &e)
                    }
                })?;
                Ok(())
            })
        })
        .await
    }

    async fn consume_permit(&self, tenant: &str, jti: &str) -> Result<ConsumeOutcome, LedgerError> {
        self.consume_to(tenant, jti, "consumed").await
    }

    async fn mark_forwarding(&self, tenant: &str, jti: &str) -> Result<(), LedgerError> {
        let (tenant, jti) = (tenant.to_owned(), jti.to_owned());
        self.with_conn("mark a permit forwarding", move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE permits SET state = 'forwarding', forwarding_at_ms = $3
                         WHERE tenant = $1 AND jti = $2 AND state = 'consumed'",
                        &[&tenant, &jti, &now_ms()],
                    )
                    .await
                    .map_err(|e| db_err("mark a permit forwarding", &e))?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(transition_err(c, &tenant, &jti, "forwarding").await?)
                }
            })
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
        self.with_conn("finish a permit", move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE permits SET state = 'done', outcome = $3, done_at_ms = $4
                         WHERE tenant = $1 AND jti = $2 AND state IN ('consumed', 'forwarding')",
                        &[&tenant, &jti, &outcome_str(outcome), &now_ms()],
                    )
                    .await
                    .map_err(|e| db_err("finish a permit", &e))?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(transition_err(c, &tenant, &jti, "done").await?)
                }
            })
        })
        .await
    }

    async fn unfinished_permits(&self) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError> {
        self.with_conn("list unfinished permits", |c| {
            Box::pin(async move {
                // Skip permits whose consuming instance still holds its lock: it is alive and
                // will finish them itself.
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
                rows.iter()
                    .map(|r| {
                        let (rec, state) = permit_from_row(r)?;
                        Ok((rec, parse_state(&state)?))
                    })
                    .collect()
            })
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
        self.with_conn("begin an idempotent request", move |c| {
            Box::pin(async move {
                // A row seen by the INSERT can be aborted before the SELECT reads it: retry.
                for _ in 0..3 {
                    let inserted = c
                        .execute(
                            "INSERT INTO idempotency (tenant, agent, idem_key, payload_hash,
                                                      state, created_at_ms)
                             VALUES ($1, $2, $3, $4, 'in_progress', $5)
                             ON CONFLICT (tenant, agent, idem_key) DO NOTHING",
                            &[&t, &a, &k, &h, &now_ms()],
                        )
                        .await
                        .map_err(|e| db_err("begin an idempotent request", &e))?;
                    if inserted == 1 {
                        return Ok(IdempotencyBegin::New);
                    }
                    let Some(row) = c
                        .query_opt(
                            "SELECT payload_hash, state, response FROM idempotency
                             WHERE tenant = $1 AND agent = $2 AND idem_key = $3",
                            &[&t, &a, &k],
                        )
                        .await
                        .map_err(|e| db_err("read an idempotency record", &e))?
                    else {
                        continue;
                    };
                    let stored_hash: String = get(&row, 0, "idempotency")?;
                    let state: String = get(&row, 1, "idempotency")?;
                    let response: Option<String> = get(&row, 2, "idempotency")?;
                    if stored_hash != h {
                        return Ok(IdempotencyBegin::Conflict);
                    }
                    return match (state.as_str(), response) {
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
                    };
                }
                Err(LedgerError::Unavailable(format!(
                    "idempotency key {k:?} kept changing under this request"
                )))
            })
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
        self.with_conn("complete an idempotent request", move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE idempotency SET state = 'done', response = $4,
                                                completed_at_ms = $5
                         WHERE tenant = $1 AND agent = $2 AND idem_key = $3
                           AND state = 'in_progress'",
                        &[&t, &a, &k, &body, &now_ms()],
                    )
                    .await
                    .map_err(|e| db_err("complete an idempotent request", &e))?;
                if n == 1 {
                    return Ok(());
                }
                let exists = c
                    .query_opt(
                        "SELECT 1 FROM idempotency
                         WHERE tenant = $1 AND agent = $2 AND idem_key = $3",
                        &[&t, &a, &k],
                    )
                    .await
                    .map_err(|e| db_err("read an idempotency record", &e))?;
                match exists {
                    Some(_) => Ok(()), // already done: the first response stays
                    None => Err(LedgerError::Internal(format!(
                        "idempotency key {k:?} of agent {a:?} was never begun"
                    ))),
                }
            })
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
        self.with_conn("abort an idempotent request", move |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM idempotency
                     WHERE tenant = $1 AND agent = $2 AND idem_key = $3
                       AND state = 'in_progress'",
                    &[&t, &a, &k],
                )
                .await
                .map_err(|e| db_err("abort an idempotent request", &e))?;
                Ok(())
            })
        })
        .await
    }

    async fn limit_try_add(&self, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError> {
        if adds.is_empty() {
            return Ok(LimitOutcome::Allowed);
        }
        let adds = adds.to_vec();
        self.with_conn("apply limits", move |c| {
            Box::pin(async move {
                type WindowKey = (String, String, String, i64);
                let key_of = |a: &LimitAdd| -> WindowKey {
                    (
                        a.tenant.clone(),
                        a.agent.clone(),
                        a.limit_id.clone(),
                        a.window_start_ms,
                    )
                };
                // Lock every window this call touches, in one global order (no deadlocks).
                let mut keys: Vec<WindowKey> = adds.iter().map(key_of).collect();
                keys.sort();
                keys.dedup();
                let tx = c
                    .transaction()
                    .await
                    .map_err(|e| db_err("begin a limit transaction", &e))?;
                let mut totals: HashMap<WindowKey, (u64, f64)> = HashMap::new();
                for k in &keys {
                    tx.execute(
                        "INSERT INTO limit_windows (tenant, agent, limit_id, window_start_ms,
                                                    req_count, amount_sum)
                         VALUES ($1, $2, $3, $4, 0, 0)
                         ON CONFLICT (tenant, agent, limit_id, window_start_ms) DO NOTHING",
                        &[&k.0, &k.1, &k.2, &k.3],
                    )
                    .await
                    .map_err(|e| db_err("create a limit window", &e))?;
                    let row = tx
                        .query_one(
                            "SELECT req_count, amount_sum FROM limit_windows
                             WHERE tenant = $1 AND agent = $2 AND limit_id = $3
                               AND window_start_ms = $4
                             FOR UPDATE",
                            &[&k.0, &k.1, &k.2, &k.3],
                        )
                        .await
                        .map_err(|e| db_err("lock a limit window", &e))?;
                    let n: i64 = get(&row, 0, "limit window")?;
                    let s: f64 = get(&row, 1, "limit window")?;
                    totals.insert(k.clone(), (to_u64(n, "limit count")?, s));
                }
                // Check in call order, counting earlier adds of this call.
                for add in &adds {
                    let k = key_of(add);
                    let (count, sum) = totals.get(&k).copied().unwrap_or((0, 0.0));
                    let new_count = count.saturating_add(1);
                    let new_sum = sum + add.amount;
                    let count_ok = add.max_count.is_none_or(|m| new_count <= m);
                    // Written so that a NaN amount or sum has no room.
                    let sum_ok = add.max_sum.is_none_or(|m| new_sum <= m);
                    if !(count_ok && sum_ok) {
                        // Dropping `tx` rolls back the windows created above.
                        tx.rollback()
                            .await
                            .map_err(|e| db_err("roll back a limit transaction", &e))?;
                        return Ok(LimitOutcome::Exceeded {
                            limit_id: add.limit_id.clone(),
                        });
                    }
                    totals.insert(k, (new_count, new_sum));
                }
                for k in &keys {
                    let Some((count, sum)) = totals.get(k) else {
                        continue;
                    };
                    tx.execute(
                        "UPDATE limit_windows SET req_count = $5, amount_sum = $6
                         WHERE tenant = $1 AND agent = $2 AND limit_id = $3
                           AND window_start_ms = $4",
                        &[&k.0, &k.1, &k.2, &k.3, &to_i64(*count, "limit count")?, sum],
                    )
                    .await
                    .map_err(|e| db_err("update a limit window", &e))?;
                    tx.execute(
                        "DELETE FROM limit_windows
                         WHERE tenant = $1 AND agent = $2 AND limit_id = $3
                           AND window_start_ms < $4",
                        &[&k.0, &k.1, &k.2, &k.3],
                    )
                    .await
                    .map_err(|e| db_err("prune old limit windows", &e))?;
                }
                tx.commit()
                    .await
                    .map_err(|e| db_err("commit a limit transaction", &e))?;
                Ok(LimitOutcome::Allowed)
            })
        })
        .await
    }

    async fn append_receipt(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        self.append_with(draft, key, WithReceipt::Nothing).await
    }

    async fn receipt(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, LedgerError> {
        let (t, id) = (tenant.to_owned(), id.to_owned());
        self.with_conn("read a receipt", move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT seq, body FROM receipts WHERE tenant = $1 AND id = $2",
                        &[&t, &id],
                    )
                    .await
                    .map_err(|e| db_err("read a receipt", &e))?;
                row.map(|r| {
                    let seq: i64 = get(&r, 0, "receipt")?;
                    let body: String = get(&r, 1, "receipt")?;
                    parse_body(&t, seq, &body)
                })
                .transpose()
            })
        })
        .await
    }

    async fn chain_head(&self, tenant: &str) -> Result<Option<(u64, String)>, LedgerError> {
        let t = tenant.to_owned();
        self.with_conn("read the chain head", move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT seq, hash FROM receipts WHERE tenant = $1 ORDER BY seq DESC LIMIT 1",
                        &[&t],
                    )
                    .await
                    .map_err(|e| db_err("read the chain head", &e))?;
                row.map(|r| {
                    let seq: i64 = get(&r, 0, "chain head")?;
                    let hash: String = get(&r, 1, "chain head")?;
                    let seq = u64::try_from(seq)
                        .map_err(|_| LedgerError::Corrupt(format!("receipt seq {seq}")))?;
                    Ok((seq, hash))
                })
                .transpose()
            })
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
        self.with_conn("list receipts", move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT seq, body FROM receipts WHERE tenant = $1 AND seq > $2
                         ORDER BY seq LIMIT $3",
                        &[&t, &after, &limit],
                    )
                    .await
                    .map_err(|e| db_err("list receipts", &e))?;
                rows.iter()
                    .map(|r| {
                        let seq: i64 = get(r, 0, "receipt")?;
                        let body: String = get(r, 1, "receipt")?;
                        parse_body(&t, seq, &body)
                    })
                    .collect()
            })
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
        self.with_conn("store an agent key", move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
                     VALUES ($1, $2, $3, FALSE, $4)
                     ON CONFLICT (tenant, agent)
                     DO UPDATE SET key_hash = excluded.key_hash, revoked = FALSE,
                                   updated_at_ms = excluded.updated_at_ms",
                    &[&t, &a, &h, &now_ms()],
                )
                .await
                .map_err(|e| db_err("store an agent key", &e))?;
                Ok(())
            })
        })
        .await
    }

    async fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<bool, LedgerError> {
        let (t, a) = (tenant.to_owned(), agent.to_owned());
        self.with_conn("revoke an agent", move |c| {
            Box::pin(async move {
                let now = now_ms();
                let n = c
                    .execute(
                        "INSERT INTO agent_keys (tenant, agent, key_hash, revoked, updated_at_ms)
                         VALUES ($1, $2, NULL, TRUE, $3)
                         ON CONFLICT (tenant, agent) DO NOTHING",
                        &[&t, &a, &now],
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
                        &[&t, &a, &now],
                    )
                    .await
                    .map_err(|e| db_err("revoke an agent", &e))?;
                Ok(n == 1)
            })
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
        self.with_conn("store a profile version", move |c| {
            Box::pin(async move {
                let tx = c
                    .transaction()
                    .await
                    .map_err(|e| db_err("begin a profile upload", &e))?;
                // Uploads of one profile are serialized (other instances included).
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                    &[&t, &n],
                )
                .await
                .map_err(|e| db_err("lock a profile", &e))?;
                let head = tx
                    .query_opt(
                        "SELECT version, hash, created_at_ms FROM profiles
                         WHERE tenant = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
                        &[&t, &n],
                    )
                    .await
                    .map_err(|e| db_err("read the newest profile version", &e))?;
                let head: Option<(i64, String, i64)> = match head {
                    Some(r) => Some((
                        get(&r, 0, "profile")?,
                        get(&r, 1, "profile")?,
                        get(&r, 2, "profile")?,
                    )),
                    None => None,
                };
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
                tx.execute(
                    "INSERT INTO profiles (tenant, name, version, hash, document, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&t, &n, &version, &h, &d, &now],
                )
                .await
                .map_err(|e| db_err("store a profile version", &e))?;
                tx.commit()
                    .await
                    .map_err(|e| db_err("commit a profile version", &e))?;
                Ok((row(version, h.clone(), now), true))
            })
        })
        .await
    }

    async fn profile_heads(&self) -> Result<Vec<ProfileRow>, LedgerError> {
        self.with_conn("list profiles", |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT DISTINCT ON (tenant, name) tenant, name, version, hash,
                                created_at_ms
                         FROM profiles ORDER BY tenant, name, version DESC",
                        &[],
                    )
                    .await
                    .map_err(|e| db_err("list profiles", &e))?;
                rows.iter()
                    .map(|r| {
                        Ok(ProfileRow {
                            tenant: get(r, 0, "profile")?,
                            name: get(r, 1, "profile")?,
                            version: get(r, 2, "profile")?,
                            hash: get(r, 3, "profile")?,
                            created_at_ms: get(r, 4, "profile")?,
                        })
                    })
                    .collect()
            })
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
        self.with_conn("read a profile document", move |c| {
            Box::pin(async move {
                let r = c
                    .query_opt(
                        "SELECT hash, created_at_ms, document FROM profiles
                         WHERE tenant = $1 AND name = $2 AND version = $3",
                        &[&t, &n, &version],
                    )
                    .await
                    .map_err(|e| db_err("read a profile document", &e))?;
                match r {
                    None => Ok(None),
                    Some(r) => Ok(Some((
                        ProfileRow {
                            tenant: t.clone(),
                            name: n.clone(),
                            version,
                            hash: get(&r, 0, "profile")?,
                            created_at_ms: get(&r, 1, "profile")?,
                        },
                        get(&r, 2, "profile")?,
                    ))),
                }
            })
        })
        .await
    }

    async fn agent_keys(&self) -> Result<Vec<AgentKeyRow>, LedgerError> {
        self.with_conn("list agent keys", |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT tenant, agent, key_hash, revoked FROM agent_keys
                         ORDER BY tenant, agent",
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
            })
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
        // The limit transaction first (a crash after it only over-counts: conservative), then
        // the permit row and its receipt in the tenant's append transaction.
        if !adds.is_empty() {
            if let LimitOutcome::Exceeded { limit_id } = self.limit_try_add(adds).await? {
                return Ok(IssueOutcome::LimitExceeded { limit_id });
            }
        }
        let r = self
            .append_with(draft, key, WithReceipt::Record(Box::new(permit.clone())))
            .await?;
        Ok(IssueOutcome::Issued(Box::new(r)))
    }

    async fn consume_for_forward(
        &self,
        tenant: &str,
        jti: &str,
    ) -> Result<ConsumeOutcome, LedgerError> {
        self.consume_to(tenant, jti, "forwarding").await
    }

    async fn finish_with_receipt(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        if draft.tenant != tenant {
            return Err(LedgerError::Internal(
                "a receipt was finished under another tenant".into(),
            ));
        }
        self.append_with(
            draft,
            key,
            WithReceipt::Finish {
                jti: jti.to_owned(),
                outcome,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    //! The shared suite against a real PostgreSQL. `INTENTRAIL_TEST_POSTGRES_URL` names the
    //! database (`scripts/with-postgres.sh` starts one and sets it). Without it the tests are
    //! skipped with a message, except under `CI=true`, where a missing database is a failure.
    use super::super::suite;
    use super::*;

    /// The test database URL, or `None` (skip) outside CI.
    pub(crate) fn test_url() -> Option<String> {
        match std::env::var("INTENTRAIL_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but INTENTRAIL_TEST_POSTGRES_URL is not set: run the tests under \
                     scripts/with-postgres.sh"
                );
                eprintln!("skipped: INTENTRAIL_TEST_POSTGRES_URL is not set");
                None
            }
        }
    }

    async fn open_at(url: &str) -> Arc<dyn Ledger> {
        Arc::new(PostgresLedger::open(url).await.expect("open"))
    }

    /// Wait (bounded) until no session holds instance lock `key`, i.e. a dropped ledger's
    /// lock connection is really gone, as after a process exit.
    async fn wait_released(url: &str, key: i32) {
        let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        tokio::spawn(conn);
        for _ in 0..100 {
            let held: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                       AND classid = $1::integer::oid AND objid = $2::integer::oid
                       AND objsubid = 2",
                    &[&LOCK_NS, &key],
                )
                .await
                .expect("pg_locks")
                .get(0);
            if held == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("instance lock {key} still held after 5 s");
    }

    /// An `open` closure for the restart tests: each reopen first waits until the previous
    /// ledger's instance lock is released (a restarted process's old session is gone).
    fn reopener(url: String) -> impl Fn() -> BoxFut<'static, Arc<dyn Ledger>> {
        let last: Arc<Mutex<Option<i32>>> = Arc::new(Mutex::new(None));
        move || {
            let (url, last) = (url.clone(), Arc::clone(&last));
            Box::pin(async move {
                let prev = last.lock().expect("lock").take();
                if let Some(k) = prev {
                    wait_released(&url, k).await;
                }
                let l = PostgresLedger::open(&url).await.expect("open");
                *last.lock().expect("lock") = Some(l.instance_key());
                Ok(Arc::new(l) as Arc<dyn Ledger>)
            })
        }
    }

    async fn reopen(open: &impl Fn() -> BoxFut<'static, Arc<dyn Ledger>>) -> Arc<dyn Ledger> {
        open().await.expect("open")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn composite_operations_keep_the_semantics() {
        let Some(u) = test_url() else { return };
        suite::composite_operations_keep_the_semantics(open_at(&u).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consume_is_single_use_under_concurrency() {
        let Some(u) = test_url() else { return };
        suite::consume_is_single_use_under_concurrency(open_at(&u).await).await;
    }

    #[tokio::test]
    async fn consume_unknown_or_foreign_is_not_found() {
        let Some(u) = test_url() else { return };
        suite::consume_unknown_or_foreign_is_not_found(open_at(&u).await).await;
    }

    #[tokio::test]
    async fn permit_transitions_only_move_forward() {
        let Some(u) = test_url() else { return };
        suite::permit_transitions_only_move_forward(open_at(&u).await).await;
    }

    #[tokio::test]
    async fn unfinished_permits_survive_restart() {
        let Some(u) = test_url() else { return };
        let open = reopener(u);
        suite::unfinished_permits_survive_restart(|| reopen(&open)).await;
    }

    #[tokio::test]
    async fn idempotency_lifecycle() {
        let Some(u) = test_url() else { return };
        suite::idempotency_lifecycle(open_at(&u).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limits_are_exact_under_concurrency() {
        let Some(u) = test_url() else { return };
        suite::limits_are_exact_under_concurrency(open_at(&u).await).await;
    }

    #[tokio::test]
    async fn limits_are_all_or_nothing() {
        let Some(u) = test_url() else { return };
        suite::limits_are_all_or_nothing(open_at(&u).await).await;
    }

    #[tokio::test]
    async fn limit_window_rolls_over() {
        let Some(u) = test_url() else { return };
        suite::limit_window_rolls_over(open_at(&u).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipt_chain_has_no_gaps_or_forks() {
        let Some(u) = test_url() else { return };
        let open = reopener(u);
        suite::receipt_chain_has_no_gaps_or_forks(|| reopen(&open)).await;
    }

    #[tokio::test]
    async fn profiles_are_versioned() {
        let Some(u) = test_url() else { return };
        suite::profiles_are_versioned(open_at(&u).await).await;
    }

    #[tokio::test]
    async fn agent_keys_put_and_revoke() {
        let Some(u) = test_url() else { return };
        suite::agent_keys_put_and_revoke(open_at(&u).await).await;
    }

    /// Two ledgers on one database (two rail instances): consume, limits and the chain hold
    /// across them, not only within one pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_share_single_use_limits_and_the_chain() {
        let Some(u) = test_url() else { return };
        let (a, b) = (open_at(&u).await, open_at(&u).await);
        suite::two_ledgers_agree(a, b).await;
    }

    /// Migrations are idempotent and serialized: several ledgers opening at once all succeed
    /// and the schema is at the latest version once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_opens_migrate_once() {
        let Some(u) = test_url() else { return };
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let u = u.clone();
                tokio::spawn(async move { PostgresLedger::open(&u).await.map(|_| ()) })
            })
            .collect();
        for o in opens {
            o.await.expect("join").expect("open");
        }
        let (current, latest) = migrate_url(&u).await.expect("migrate");
        assert_eq!(current, latest);
        let (c, conn) = tokio_postgres::connect(&u, NoTls).await.expect("connect");
        tokio::spawn(conn);
        let n: i64 = c
            .query_one("SELECT count(*) FROM schema_version", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, i64::from(latest), "each migration recorded once");
    }

    /// A permit consumed by a live instance is not reported as unfinished to another one (it
    /// would "recover" a forward in flight); once that instance is gone, it is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfinished_permits_of_a_live_instance_are_left_to_it() {
        let Some(u) = test_url() else { return };
        let t = suite::tenant();
        let live = PostgresLedger::open(&u).await.expect("open");
        let key = live.instance_key();
        let p = suite::permit(&t, "in-flight");
        live.record_permit(&p).await.expect("record");
        live.consume_permit(&t, "in-flight").await.expect("consume");
        let other = open_at(&u).await;
        let mine = |v: Vec<(PermitRecord, PermitState)>| {
            v.into_iter().filter(|(r, _)| r.tenant == t).count()
        };
        assert_eq!(mine(other.unfinished_permits().await.expect("list")), 0);
        drop(live);
        wait_released(&u, key).await;
        assert_eq!(mine(other.unfinished_permits().await.expect("list")), 1);
    }

    /// An edited receipt row comes back exactly as edited; a row that is not JSON is corrupt.
    #[tokio::test]
    async fn an_edited_receipt_is_returned_as_stored() {
        let Some(u) = test_url() else { return };
        let l = open_at(&u).await;
        let t = suite::tenant();
        let key = suite::test_key();
        let id1 = format!("{t}-r1");
        let r1 = l
            .append_receipt(suite::draft(&t, &id1), Arc::clone(&key))
            .await
            .expect("append");
        l.append_receipt(suite::draft(&t, &format!("{t}-r2")), key)
            .await
            .expect("append");
        let (c, conn) = tokio_postgres::connect(&u, NoTls).await.expect("connect");
        tokio::spawn(conn);
        c.execute(
            "UPDATE receipts SET body = replace(body, 'money.refund', 'money.payment')
             WHERE id = $1",
            &[&id1],
        )
        .await
        .expect("edit");
        let got = l.receipt(&t, &id1).await.expect("get").expect("some");
        assert_eq!(got["action"], "money.payment");
        assert_ne!(
            suite::recompute_hash(&got),
            r1.hash,
            "the edit is detectable"
        );
        c.execute(
            "UPDATE receipts SET body = '{\"a\":1,\"a\":2}' WHERE id = $1",
            &[&format!("{t}-r2")],
        )
        .await
        .expect("edit");
        assert!(matches!(
            l.receipt(&t, &format!("{t}-r2")).await,
            Err(LedgerError::Corrupt(_))
        ));
    }

    /// A database that is not there is `Unavailable` (never a panic), and the message carries
    /// neither the password nor the full URL.
    #[tokio::test]
    async fn an_unreachable_database_is_unavailable_without_the_password() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let url = format!("postgres://rail:hunter2@127.0.0.1:{port}/rail");
        let err = crate::ledger::open(&url).await.err().expect("refused");
        assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = crate::ledger::open("postgres://rail:hunter2@[bad")
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, LedgerError::Unavailable(_)));
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // A wrong password is refused as unavailable too, without echoing it.
        let Some(u) = test_url() else { return };
        let mut cfg = tokio_postgres::Config::from_str(&u).expect("url");
        cfg.password("not-the-password-x9");
        let host = describe(&cfg);
        let wrong = format!(
            "postgres://{}:not-the-password-x9@{}",
            cfg.get_user().unwrap_or("postgres"),
            host
        );
        let err = crate::ledger::open(&wrong).await.err().expect("refused");
        assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains("not-the-password-x9"), "{err}");
    }
}
