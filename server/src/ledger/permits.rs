//! The permit state machine's rules both backends share: states as stored text, the targets of
//! a consume, and the errors for a refused step. Permits move only forward:
//! `issued → consumed → forwarding → done`, and `consumed → done` when nothing was sent.

use super::LedgerError;
use crate::model::{ConsumeOutcome, PermitRecord, PermitState};

/// Where a winning consume moves a permit from `issued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConsumeTo {
    /// `consumed`: the single step, which the rail never takes alone; the shared suite checks
    /// the state machine with it.
    #[cfg(test)]
    Consumed,
    /// `forwarding`: the caller is ready to send, so the permit is recorded as forwarding
    /// before the consume is acknowledged.
    Forwarding,
}

impl ConsumeTo {
    /// The state as stored.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            #[cfg(test)]
            ConsumeTo::Consumed => "consumed",
            ConsumeTo::Forwarding => "forwarding",
        }
    }
}

/// Parse a stored permit state.
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

/// A step to `to` was refused: the permit is in state `from`, or (`None`) does not exist.
pub(super) fn cannot_move(tenant: &str, jti: &str, from: Option<&str>, to: &str) -> LedgerError {
    LedgerError::Internal(match from {
        Some(s) => format!("permit {jti:?} of tenant {tenant:?} cannot move from {s} to {to}"),
        None => format!("permit {jti:?} of tenant {tenant:?} does not exist"),
    })
}

/// A permit recorded twice (same tenant and jti).
pub(super) fn already_recorded(p: &PermitRecord) -> LedgerError {
    LedgerError::Internal(format!(
        "permit {:?} of tenant {:?} is already recorded",
        p.jti, p.tenant
    ))
}

/// A permit issued in this very transaction did not consume: a bug.
pub(super) fn not_consumed_after_issue(jti: &str, got: &ConsumeOutcome) -> LedgerError {
    LedgerError::Internal(format!(
        "permit {jti:?} just issued could not be consumed: {got:?}"
    ))
}
