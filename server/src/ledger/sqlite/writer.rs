//! The writer: the one thread owning the read-write connection. It drains queued jobs into one
//! transaction (group commit, at most [`MAX_BATCH`] jobs), each job in its own savepoint, signs
//! the receipts the batch appended just before `COMMIT`, and answers every job only after the
//! batch's fate is known.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::batch::{self, Seals};
use super::db::{db_err, exec};
use super::{LedgerError, SqliteLedger, MAX_BATCH};
use crate::ledger::{IssueOutcome, Receipt};

/// A unit of work for the writer, type-erased so one channel carries every operation.
pub(super) trait Job: Send {
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

/// An answer that may hold a receipt appended in its batch (to be signed at commit).
pub(super) trait WithReceipt {
    /// The appended receipt, if any.
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

impl SqliteLedger {
    /// Run `f` on the writer thread inside the current batch transaction (its own savepoint);
    /// answer after the batch committed.
    pub(super) async fn write<R, F>(&self, f: F) -> Result<R, LedgerError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, LedgerError> + Send + 'static,
    {
        Ok(self.write_with_seals(f).await?.0)
    }

    /// [`SqliteLedger::write`] for a job that appends a receipt: the answer's receipt (if any)
    /// gets the signature its batch was given at commit.
    pub(super) async fn write_signed<R, F>(&self, f: F) -> Result<R, LedgerError>
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
}

fn writer_gone() -> LedgerError {
    LedgerError::Unavailable("the ledger writer has stopped".into())
}

/// The writer thread's loop: until every sender is gone, take the next batch of jobs, run it,
/// answer each job.
pub(super) fn writer_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let commit = run_batch(&conn, &mut jobs);
        for job in jobs {
            job.answer(commit.clone());
        }
    }
    // The channel closed: every sender is gone; dropping `conn` closes the file.
}

/// Run a batch in one transaction, each job in its own savepoint, then sign the receipts it
/// appended; `Ok` (with the signatures) iff it committed.
fn run_batch(conn: &Connection, jobs: &mut [Box<dyn Job>]) -> Result<Arc<Seals>, LedgerError> {
    batch::clear();
    let outcome = (|| {
        exec(conn, "BEGIN IMMEDIATE", []).map_err(|e| db_err("begin a write transaction", e))?;
        for job in jobs.iter_mut() {
            run_in_savepoint(conn, job.as_mut())?;
        }
        let seals = batch::sign_queued(conn)?;
        exec(conn, "COMMIT", []).map_err(|e| db_err("commit", e))?;
        Ok(Arc::new(seals))
    })();
    if outcome.is_err() {
        batch::clear();
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    outcome
}

/// Run one job in its own savepoint, rolled back (with the receipts it queued) if it failed.
/// An error means the whole transaction is lost.
fn run_in_savepoint(conn: &Connection, job: &mut dyn Job) -> Result<(), LedgerError> {
    exec(conn, "SAVEPOINT job", []).map_err(|e| db_err("open a savepoint", e))?;
    let mark = batch::mark();
    let ok = job.run(conn);
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back (e.g. disk full, I/O error).
        return Err(LedgerError::Unavailable(
            "the write transaction was aborted by SQLite".into(),
        ));
    }
    if !ok {
        batch::rollback_to(mark);
        exec(conn, "ROLLBACK TO job", []).map_err(|e| db_err("roll back a savepoint", e))?;
    }
    exec(conn, "RELEASE job", []).map_err(|e| db_err("close a savepoint", e))?;
    Ok(())
}
