//! Row conversions both SQL backends share: integer range checks, the bounds of a receipt page,
//! and the strict parse of a stored receipt body (returned as stored).

use super::LedgerError;

/// A stored integer that must not be negative.
pub(super) fn to_u64(v: i64, what: &str) -> Result<u64, LedgerError> {
    u64::try_from(v).map_err(|_| LedgerError::Corrupt(format!("negative {what} in the ledger")))
}

/// An integer to store (SQL integers are signed 64-bit).
pub(super) fn to_i64(v: u64, what: &str) -> Result<i64, LedgerError> {
    i64::try_from(v).map_err(|_| LedgerError::Internal(format!("{what} out of range")))
}

/// `receipts_after(after_seq, limit)` as SQL bounds (`seq > after`, `LIMIT limit`), or `None`
/// when the page is empty whatever is stored (a zero limit, or a seq past every stored one).
pub(super) fn page(after_seq: u64, limit: usize) -> Option<(i64, i64)> {
    let after = i64::try_from(after_seq).ok()?;
    if limit == 0 {
        return None;
    }
    Some((after, i64::try_from(limit).unwrap_or(i64::MAX)))
}

/// Parse a stored receipt body strictly (duplicate keys etc. are corruption, not silently
/// merged), returning it exactly as stored otherwise.
pub(super) fn parse_body(
    tenant: &str,
    seq: i64,
    body: &str,
) -> Result<serde_json::Value, LedgerError> {
    intentrail_core::json::parse_strict(body.as_bytes()).map_err(|e| {
        LedgerError::Corrupt(format!(
            "receipt seq {seq} of tenant {tenant:?} is not valid JSON ({})",
            e.code()
        ))
    })
}
