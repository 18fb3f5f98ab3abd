//! PostgreSQL errors and columns: every error is mapped to the ledger's vocabulary without row
//! values or the connection string, and every column read is typed and checked.

use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::LedgerError;

/// A message for a tokio-postgres error that never includes row values (the DETAIL of a
/// constraint error can hold them) nor the connection string (tokio-postgres never prints it).
pub(super) fn safe_msg(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Map a PostgreSQL error to the ledger's vocabulary; `what` names the operation.
pub(super) fn db_err(what: &str, e: &tokio_postgres::Error) -> LedgerError {
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

/// An I/O error somewhere in the cause chain (the server went away).
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

/// Column `idx` of `row`, as `T`; any other type is corruption.
pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
    what: &str,
) -> Result<T, LedgerError> {
    row.try_get(idx)
        .map_err(|e| LedgerError::Corrupt(format!("{what}: unexpected column {idx}: {e}")))
}
