//! The shared ledger: PostgreSQL, for several rail instances behind a load balancer. Every
//! acknowledged write was committed (`synchronous_commit` as the server has it, `on` by default).
//!
//! **How the guarantees hold across instances** (each method is one transaction, READ COMMITTED):
//!
//! - *Consume*: one `UPDATE permits SET state = 'forwarding' … WHERE … AND state = 'issued'
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
//!   flight go together in the next transaction (`append.rs`: group commit), so
//!   the head lock is taken once per batch, not once per receipt, and the batch's receipts are
//!   signed together (one Ed25519 signature per run over their Merkle root, each receipt with
//!   its own proof, written into the stored bodies in one `UPDATE … FROM unnest(…)` before the
//!   commit; a lone receipt is signed alone before its insert). `PRIMARY KEY (tenant, seq)`
//!   and `UNIQUE (id)` stay as the backstop against forks.
//! - *Recovery with several instances*: each ledger holds a session advisory lock (its
//!   *instance key*, `instance.rs`) on a dedicated connection for as long as it
//!   lives, and stamps that key on the permits it consumes. [`Ledger::unfinished_permits`](crate::ledger::Ledger::unfinished_permits) only
//!   reports permits whose consumer's lock is gone (its process died: PostgreSQL ends a session
//!   when its socket closes), so an instance that restarts never "recovers" a forward another
//!   live instance has in flight. Should that ever happen anyway (a live instance lost its lock
//!   connection), the forward-only state machine still keeps a permit from running twice.
//!
//! Migrations run at open inside one transaction holding `pg_advisory_xact_lock`, so two
//! instances starting together do not race. Connection failures, timeouts and PostgreSQL's
//! "try again" states map to [`LedgerError::Unavailable`]; a commit whose answer was lost is the
//! one case where `Unavailable` cannot promise "nothing applied" (a consume that did commit then
//! shows up in `unfinished_permits`, so it is never forwarded twice). The connection string is
//! never logged or put in an error: messages name the host and database only.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::LedgerError;
use crate::model::PermitRecord;

mod agents;
mod append;
mod batch;
mod db;
mod idempotency;
mod import;
mod instance;
mod ledger;
mod limits;
mod permits;
mod pool;
mod profiles;
mod receipts;
mod schema;
#[cfg(test)]
mod tests;

use append::AppendQueues;
use pool::{BoxFut, Pool};
pub use schema::migrate_url;

/// Most connections one ledger opens for its queries (plus one for its instance lock).
pub const POOL_SIZE: usize = 16;
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one ledger call may take (waiting for a connection, locks and the commit).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

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
        let target = pool::describe(&config);
        let pool = Arc::new(Pool {
            slots: Arc::new(Semaphore::new(POOL_SIZE)),
            idle: Mutex::new(Vec::new()),
            config,
            target,
        });
        schema::migrate(&pool).await?;
        let (instance, holder) = instance::take_lock(&pool).await?;
        let liveness = tokio::spawn(instance::hold_lock(Arc::clone(&pool), instance, holder));
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

    /// Store an issued permit alone, a plain single-row insert (a second record of the same
    /// (tenant, jti) is refused with [`LedgerError::Internal`]). The rail records a permit
    /// together with its decision receipt ([`Ledger::issue_permit`](crate::ledger::Ledger::issue_permit)); this is the baseline the
    /// chain-append measurement compares against, and the suite's single step.
    pub async fn record_permit(&self, p: &PermitRecord) -> Result<(), LedgerError> {
        let p = p.clone();
        self.with_conn("record a permit", move |c| {
            Box::pin(async move { permits::record_once(c, &p).await })
        })
        .await
    }

    /// Run `f` on a pooled connection, bounded by [`CALL_TIMEOUT`].
    async fn with_conn<R, F>(&self, what: &str, f: F) -> Result<R, LedgerError>
    where
        F: for<'c> FnOnce(&'c mut tokio_postgres::Client) -> BoxFut<'c, R>,
    {
        pool::with_pool_conn(&self.pool, what, f).await
    }
}
