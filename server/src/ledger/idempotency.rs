//! The idempotency rule both backends apply to a key already recorded: another payload hash is
//! a conflict, a running request is in progress, a completed one replays its stored response.

use super::LedgerError;
use crate::model::IdempotencyBegin;

/// An idempotency row as stored.
pub(super) struct Stored {
    /// The payload hash the key was begun with.
    pub payload_hash: String,
    /// `in_progress` or `done`.
    pub state: String,
    /// The stored response (JSON text) of a completed key.
    pub response: Option<String>,
}

/// What `begin` answers for key `key` with `payload_hash`, given its stored row.
pub(super) fn decide(
    key: &str,
    payload_hash: &str,
    stored: Stored,
) -> Result<IdempotencyBegin, LedgerError> {
    if stored.payload_hash != payload_hash {
        return Ok(IdempotencyBegin::Conflict);
    }
    match (stored.state.as_str(), stored.response) {
        ("in_progress", _) => Ok(IdempotencyBegin::InProgress),
        ("done", Some(body)) => serde_json::from_str(&body)
            .map(IdempotencyBegin::Done)
            .map_err(|_| {
                LedgerError::Corrupt(format!(
                    "the stored response of idempotency key {key:?} is not JSON"
                ))
            }),
        (state, _) => Err(LedgerError::Corrupt(format!(
            "idempotency key {key:?} has state {state:?} without a response"
        ))),
    }
}

/// The response of a completed request as stored (JSON text).
pub(super) fn response_text(response: &serde_json::Value) -> Result<String, LedgerError> {
    serde_json::to_string(response)
        .map_err(|e| LedgerError::Internal(format!("cannot serialize a response: {e}")))
}

/// Completing a key that is not stored at all: a bug of the caller.
pub(super) fn never_begun(agent: &str, key: &str) -> LedgerError {
    LedgerError::Internal(format!(
        "idempotency key {key:?} of agent {agent:?} was never begun"
    ))
}
