//! The chain rule both backends apply inside their append transaction: a receipt goes on top of
//! its tenant's head (`seq = last + 1`, `prev = last hash`; `0` and [`GENESIS_PREV`] for an
//! empty chain), and is stored as its JSON body; a receipt id is stored once.

use super::{LedgerError, Receipt, GENESIS_PREV};

/// The head of an empty chain.
pub(super) fn genesis() -> (u64, String) {
    (0, GENESIS_PREV.to_owned())
}

/// Put `draft` on top of the head (`last`, `prev`): set its seq and prev. Returns the seq.
pub(super) fn place(draft: &mut Receipt, last: u64, prev: &str) -> Result<u64, LedgerError> {
    let seq = last
        .checked_add(1)
        .ok_or_else(|| LedgerError::Internal("receipt seq overflow".into()))?;
    draft.seq = seq;
    prev.clone_into(&mut draft.prev);
    Ok(seq)
}

/// A receipt could not be sealed.
pub(super) fn seal_failed(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Internal(format!("cannot seal a receipt: {e}"))
}

/// The body a receipt is stored as.
pub(super) fn body(r: &Receipt) -> Result<String, LedgerError> {
    serde_json::to_string(r)
        .map_err(|e| LedgerError::Internal(format!("cannot serialize a receipt: {e}")))
}

/// A receipt id that is already stored.
pub(super) fn duplicate_id(id: &str) -> LedgerError {
    LedgerError::Internal(format!("receipt id {id:?} is already stored"))
}
