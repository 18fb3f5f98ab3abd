//! The read pool: idle read-only connections, opened lazily, at most [`READERS`](super::READERS) in use, so
//! reads run beside the writer instead of queueing behind it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{schema, LedgerError, SqliteLedger};

/// Idle read-only connections of one ledger file.
pub(super) struct ReadPool {
    pub(super) path: PathBuf,
    pub(super) slots: Semaphore,
    pub(super) idle: Mutex<Vec<Connection>>,
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
            None => schema::open_reader(&self.path),
        }
    }

    fn checkin(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(conn);
    }
}

impl SqliteLedger {
    /// Run `f` on a read-only connection (or on the writer for an in-memory database).
    pub(super) async fn read<R, F>(&self, f: F) -> Result<R, LedgerError>
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
