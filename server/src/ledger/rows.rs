//! Row conversions both SQL backends share: permit states and outcomes as stored text,
//! integer range checks, and the strict parse of a stored receipt body (returned as stored).

use super::LedgerError;
use crate::model::{Outcome, PermitState};

pub(super) fn parse_state(s: &str) -> Result<PermitState, LedgerError> {
    Ok(match s {
        "issued" => PermitState::Issued,
        "consumed" => PermitState::Consumed,
        "forwarding" => PermitState::Forwarding,
        "done" => PermitState::Done,
        other => {
            return Err(LedgerError::Corrupt(format!(
                "unknown permit state {other:?}"
            )))
        }
    })
}

pub(super) fn outcome_str(o: Outcome) -> &'static str {
    o.as_str()
}

pub(super) fn to_u64(v: i64, what: &str) -> Result<u64, LedgerError> {
    u64::try_from(v).map_err(|_| LedgerError::Corrupt(format!("negative {what} in the ledger")))
}

pub(super) fn to_i64(v: u64, what: &str) -> Result<i64, LedgerError> {
    i64::try_from(v).map_err(|_| LedgerError::Internal(format!("{what} out of range")))
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
