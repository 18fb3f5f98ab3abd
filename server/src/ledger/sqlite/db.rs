//! SQLite statements and errors: every statement runs through the connection's statement cache,
//! and every SQLite error is mapped to the ledger's vocabulary without bound values.

use rusqlite::{Connection, ErrorCode};

use super::LedgerError;

/// Run a statement through the connection's statement cache: each SQL text is compiled once
/// per connection and reused (parsing and planning cost more than running these statements).
pub(super) fn exec<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    p: P,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// [`exec`] for a statement answering one row.
pub(super) fn row<T, P, F>(c: &Connection, sql: &str, p: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(p, f)
}

/// [`exec`] for a statement answering rows, each mapped by `f`.
pub(super) fn rows<T, P, F>(
    c: &Connection,
    what: &str,
    sql: &str,
    p: P,
    f: F,
) -> Result<Vec<T>, LedgerError>
where
    P: rusqlite::Params,
    F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    let mut st = c.prepare_cached(sql).map_err(|e| db_err(what, e))?;
    let mapped = st.query_map(p, f).map_err(|e| db_err(what, e))?;
    mapped
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| db_err(what, e))
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

/// A constraint (primary key, unique, check) refused the statement.
pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}
