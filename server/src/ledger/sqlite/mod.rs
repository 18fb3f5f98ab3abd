//! The embedded ledger: one SQLite file in WAL mode with `synchronous = FULL`, so every
//! acknowledged write has been fsynced and survives a crash of the process or the machine.
//!
//! **Threading.** rusqlite is blocking, so no query runs on the async runtime:
//!
//! - All writes go to ONE dedicated writer thread owning the only read-write connection
//!   (`writer.rs`). A call sends a job over a channel and awaits a tokio oneshot.
//!   The writer drains up to [`MAX_BATCH`] queued jobs into one `BEGIN IMMEDIATE … COMMIT`
//!   transaction (group commit: one fsync for the batch), each job inside its own `SAVEPOINT`,
//!   so a job that fails is rolled back alone and the others commit. Answers are sent only
//!   AFTER the `COMMIT` succeeded; if the batch cannot commit, every job in it gets the error
//!   and nothing of it was applied. A single writer makes every read-modify-write (consume,
//!   limits, chain head) serialized in this process, and `BEGIN IMMEDIATE` (the write lock)
//!   serializes it with any other process on the same file (e.g. the CLI while `serve` runs).
//! - Reads (`receipt`, `receipts_after`, `unfinished_permits`, `agent_keys`, profiles) run on
//!   the blocking pool over a small pool of read-only connections ([`READERS`]), so exports
//!   never queue behind writes. WAL gives each read statement a committed snapshot, and since
//!   writes are answered after commit, a caller always reads its own acknowledged writes. The
//!   in-memory database (tests) has no read pool: reads run on the writer.
//!
//! A caller that gives up waiting (its future dropped) does not cancel its job: a consume
//! still commits, and the permit then shows up in `unfinished_permits` (never run twice).
//!
//! **Chain append**: inside the writer transaction, read the tenant's head
//! (`ORDER BY seq DESC LIMIT 1` on the `(tenant, seq)` key), place the receipt on it, insert.
//! `PRIMARY KEY (tenant, seq)` and `UNIQUE (id)` are the backstop. The receipts of a batch are
//! signed together just before `COMMIT` and their signatures stored in `receipt_batches` in the
//! same transaction (`batch.rs`).

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::LedgerError;

mod agents;
mod batch;
mod db;
mod idempotency;
mod ledger;
mod limits;
mod permits;
mod pool;
mod profiles;
mod receipts;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

use pool::ReadPool;
use writer::Job;

/// Most jobs the writer commits in one transaction.
pub const MAX_BATCH: usize = 64;
/// Read-only connections used concurrently for reads.
pub const READERS: usize = 2;

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
        let conn = tokio::task::spawn_blocking(move || schema::open_writer(Some(&p)))
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
        let conn = tokio::task::spawn_blocking(|| schema::open_writer(None))
            .await
            .map_err(|e| LedgerError::Internal(format!("ledger open task failed: {e}")))??;
        Self::start(conn, None)
    }

    fn start(conn: Connection, readers: Option<Arc<ReadPool>>) -> Result<Self, LedgerError> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer = std::thread::Builder::new()
            .name("intentrail-ledger-writer".into())
            .spawn(move || writer::writer_loop(conn, rx))
            .map_err(|e| LedgerError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(SqliteLedger {
            jobs: Some(tx),
            writer: Some(writer),
            readers,
        })
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
