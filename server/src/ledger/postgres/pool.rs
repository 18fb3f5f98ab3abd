//! The connection pool: at most [`POOL_SIZE`](super::POOL_SIZE) connections, opened lazily,
//! dropped when broken; every call on it is bounded by [`CALL_TIMEOUT`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls};

use super::db::safe_msg;
use super::{LedgerError, CALL_TIMEOUT};

/// The future a pooled call runs on its connection.
pub(super) type BoxFut<'c, R> =
    std::pin::Pin<Box<dyn Future<Output = Result<R, LedgerError>> + Send + 'c>>;

/// Run `f` on a connection of `pool`, bounded by [`CALL_TIMEOUT`].
pub(super) async fn with_pool_conn<R, F>(
    pool: &Arc<Pool>,
    what: &str,
    f: F,
) -> Result<R, LedgerError>
where
    F: for<'c> FnOnce(&'c mut Client) -> BoxFut<'c, R>,
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
        Err(_) => Err(timed_out(what, &pool.target)),
    }
}

/// A call on the ledger at `target` that did not finish within [`CALL_TIMEOUT`].
pub(super) fn timed_out(what: &str, target: &str) -> LedgerError {
    LedgerError::Unavailable(format!(
        "{what}: the postgres ledger at {target} did not answer within {}s",
        CALL_TIMEOUT.as_secs()
    ))
}

/// The connections of one ledger.
pub(super) struct Pool {
    pub(super) config: tokio_postgres::Config,
    /// `host:port/db` for messages (never the password).
    pub(super) target: String,
    pub(super) slots: Arc<Semaphore>,
    pub(super) idle: Mutex<Vec<Client>>,
}

/// A connection checked out of the pool, returned to it on drop if `clean`.
pub(super) struct PooledConn {
    client: Option<Client>,
    /// Set when the call using it finished normally; otherwise the connection is dropped.
    pub(super) clean: bool,
    pool: Arc<Pool>,
    _slot: OwnedSemaphorePermit,
}

impl PooledConn {
    /// The connection.
    pub(super) fn client(&mut self) -> Result<&mut Client, LedgerError> {
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
    /// Check out an idle connection, or open one, waiting for a free slot.
    pub(super) async fn get(self: &Arc<Self>) -> Result<PooledConn, LedgerError> {
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

    /// Open a new connection (its driver runs as its own task).
    pub(super) async fn connect(&self) -> Result<Client, LedgerError> {
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

/// `host:port/db` of a connection config, for messages (never the password).
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
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
