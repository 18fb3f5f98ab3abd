//! The one error vocabulary of IntentRail.
//!
//! Every failure anywhere (core, server, SDKs) is an [`Error`] whose [`ErrorKind`] is one of the
//! API's stable `code`s. The server maps a kind to an HTTP status; the SDKs map it to an
//! exception / error class. Details never contain secrets.

use std::fmt;

/// The stable error codes of the API (see the design's table). `#[non_exhaustive]`: new codes
/// may be added; existing codes never change meaning.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400 — malformed JSON, duplicate keys, lone surrogates, out-of-range integers, too deep.
    InvalidJson,
    /// 400 — the params do not match the action's JSON Schema.
    SchemaInvalid,
    /// 400 — the request is well-formed JSON but not a valid request (missing field, wrong type).
    InvalidRequest,
    /// 401 — missing, unknown or revoked key; wrong agent for the key.
    Unauthenticated,
    /// 403 — a policy denied the action.
    PolicyDenied,
    /// 403 — the permit failed verification (signature, header, claims, key, audience, issuer).
    PermitInvalid,
    /// 403 — the permit was issued to another agent.
    AgentMismatch,
    /// 403 — the params at execute do not hash to the permit's `ph`.
    PayloadHashMismatch,
    /// 403 — the caller is authenticated but may not use this route (e.g. not an admin key).
    Forbidden,
    /// 404 — no such action in the catalog.
    UnknownAction,
    /// 404 — no such endpoint / operation.
    UnsupportedEndpoint,
    /// 404 — no such resource (receipt, approval).
    NotFound,
    /// 409 — the permit was already consumed.
    PermitAlreadyUsed,
    /// 409 — a request with the same idempotency key is still running.
    RequestInProgress,
    /// 410 — the permit has expired.
    PermitExpired,
    /// 413 — the body is larger than the rail accepts.
    PayloadTooLarge,
    /// 422 — the idempotency key was used before with another payload.
    IdempotencyConflict,
    /// 429 — a stateful limit was reached.
    RateLimited,
    /// 202 — not an error on the wire: the intent waits for a human approval.
    ApprovalPending,
    /// 502 — the downstream answered 5xx or broke the connection.
    DownstreamError,
    /// 503 — the credential store failed or timed out; nothing was forwarded.
    CredentialUnavailable,
    /// 503 — the ledger is unavailable; nothing was forwarded.
    LedgerUnavailable,
    /// 504 — the request was sent and no answer came: outcome unknown.
    DownstreamTimeout,
    /// A receipt chain failed verification (offline check; not an HTTP answer of the rail).
    ReceiptInvalid,
    /// Client side: the rail could not be reached or answered something that is not the API.
    RailUnavailable,
    /// 500 — an internal error; details are logged, never returned.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (for tables and tests).
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidJson,
        ErrorKind::SchemaInvalid,
        ErrorKind::InvalidRequest,
        ErrorKind::Unauthenticated,
        ErrorKind::PolicyDenied,
        ErrorKind::PermitInvalid,
        ErrorKind::AgentMismatch,
        ErrorKind::PayloadHashMismatch,
        ErrorKind::Forbidden,
        ErrorKind::UnknownAction,
        ErrorKind::UnsupportedEndpoint,
        ErrorKind::NotFound,
        ErrorKind::PermitAlreadyUsed,
        ErrorKind::RequestInProgress,
        ErrorKind::PermitExpired,
        ErrorKind::PayloadTooLarge,
        ErrorKind::IdempotencyConflict,
        ErrorKind::RateLimited,
        ErrorKind::ApprovalPending,
        ErrorKind::DownstreamError,
        ErrorKind::CredentialUnavailable,
        ErrorKind::LedgerUnavailable,
        ErrorKind::DownstreamTimeout,
        ErrorKind::ReceiptInvalid,
        ErrorKind::RailUnavailable,
        ErrorKind::Internal,
    ];

    /// The stable wire `code` (snake_case).
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::SchemaInvalid => "schema_invalid",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PolicyDenied => "policy_denied",
            ErrorKind::PermitInvalid => "permit_invalid",
            ErrorKind::AgentMismatch => "agent_mismatch",
            ErrorKind::PayloadHashMismatch => "payload_hash_mismatch",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::UnknownAction => "unknown_action",
            ErrorKind::UnsupportedEndpoint => "unsupported_endpoint",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PermitAlreadyUsed => "permit_already_used",
            ErrorKind::RequestInProgress => "request_in_progress",
            ErrorKind::PermitExpired => "permit_expired",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::IdempotencyConflict => "idempotency_conflict",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ApprovalPending => "approval_pending",
            ErrorKind::DownstreamError => "downstream_error",
            ErrorKind::CredentialUnavailable => "credential_unavailable",
            ErrorKind::LedgerUnavailable => "ledger_unavailable",
            ErrorKind::DownstreamTimeout => "downstream_timeout",
            ErrorKind::ReceiptInvalid => "receipt_invalid",
            ErrorKind::RailUnavailable => "rail_unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status the rail answers with for this kind.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidJson | ErrorKind::SchemaInvalid | ErrorKind::InvalidRequest => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::PolicyDenied
            | ErrorKind::PermitInvalid
            | ErrorKind::AgentMismatch
            | ErrorKind::PayloadHashMismatch
            | ErrorKind::Forbidden => 403,
            ErrorKind::UnknownAction | ErrorKind::UnsupportedEndpoint | ErrorKind::NotFound => 404,
            ErrorKind::PermitAlreadyUsed | ErrorKind::RequestInProgress => 409,
            ErrorKind::PermitExpired => 410,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::IdempotencyConflict | ErrorKind::ReceiptInvalid => 422,
            ErrorKind::RateLimited => 429,
            ErrorKind::ApprovalPending => 202,
            ErrorKind::DownstreamError => 502,
            ErrorKind::CredentialUnavailable
            | ErrorKind::LedgerUnavailable
            | ErrorKind::RailUnavailable => 503,
            ErrorKind::DownstreamTimeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    /// A short human title for problem+json `title`.
    pub const fn title(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "The body is not acceptable JSON",
            ErrorKind::SchemaInvalid => "The params do not match the action's schema",
            ErrorKind::InvalidRequest => "The request is not valid",
            ErrorKind::Unauthenticated => "Authentication failed",
            ErrorKind::PolicyDenied => "A policy denied the action",
            ErrorKind::PermitInvalid => "The permit is not valid",
            ErrorKind::AgentMismatch => "The permit belongs to another agent",
            ErrorKind::PayloadHashMismatch => "The params do not match the permit",
            ErrorKind::Forbidden => "Not allowed for this caller",
            ErrorKind::UnknownAction => "Unknown action",
            ErrorKind::UnsupportedEndpoint => "Unsupported endpoint",
            ErrorKind::NotFound => "Not found",
            ErrorKind::PermitAlreadyUsed => "The permit was already used",
            ErrorKind::RequestInProgress => "A request with this idempotency key is in progress",
            ErrorKind::PermitExpired => "The permit has expired",
            ErrorKind::PayloadTooLarge => "The body is too large",
            ErrorKind::IdempotencyConflict => "The idempotency key was used with another payload",
            ErrorKind::RateLimited => "A limit was reached",
            ErrorKind::ApprovalPending => "The action waits for approval",
            ErrorKind::DownstreamError => "The downstream failed",
            ErrorKind::CredentialUnavailable => "The credential store is unavailable",
            ErrorKind::LedgerUnavailable => "The ledger is unavailable",
            ErrorKind::DownstreamTimeout => "The downstream did not answer in time",
            ErrorKind::ReceiptInvalid => "The receipt chain does not verify",
            ErrorKind::RailUnavailable => "The rail is unavailable",
            ErrorKind::Internal => "Internal error",
        }
    }

    /// Parse a wire `code` back into a kind (SDKs use this on problem+json answers).
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.code() == code)
    }
}

/// The families the SDKs raise errors by: one exception / error class per family, the same
/// in every language. This is the one table from a code to its family; the SDKs read it from
/// here instead of keeping their own copy.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorFamily {
    /// A policy or a stateful limit refused the action (`policy_denied`, `rate_limited`).
    PolicyDenied,
    /// The action waits for a human approval (`approval_pending`).
    ApprovalPending,
    /// The params do not match the action's schema (`schema_invalid`).
    SchemaInvalid,
    /// The permit was refused: invalid, expired, already used, another agent's, other params.
    PermitRejected,
    /// The downstream failed or did not answer in time.
    DownstreamError,
    /// The rail, its ledger or its credential store is unavailable (or unreachable).
    RailUnavailable,
    /// The API key or agent id was refused.
    AuthenticationError,
    /// The request itself is wrong (bad JSON, unknown action, idempotency misuse, too large,
    /// no such resource).
    InvalidRequest,
    /// A receipt chain does not verify.
    ReceiptInvalid,
    /// `internal`, and codes this build does not know: the SDKs' base class.
    Internal,
}

impl ErrorFamily {
    /// Every family, in declaration order.
    pub const ALL: &'static [ErrorFamily] = &[
        ErrorFamily::PolicyDenied,
        ErrorFamily::ApprovalPending,
        ErrorFamily::SchemaInvalid,
        ErrorFamily::PermitRejected,
        ErrorFamily::DownstreamError,
        ErrorFamily::RailUnavailable,
        ErrorFamily::AuthenticationError,
        ErrorFamily::InvalidRequest,
        ErrorFamily::ReceiptInvalid,
        ErrorFamily::Internal,
    ];

    /// The class name the SDKs use for this family (`PolicyDenied`, …); [`ErrorFamily::Internal`]
    /// is the base class, `IntentRailError`.
    pub const fn class_name(self) -> &'static str {
        match self {
            ErrorFamily::PolicyDenied => "PolicyDenied",
            ErrorFamily::ApprovalPending => "ApprovalPending",
            ErrorFamily::SchemaInvalid => "SchemaInvalid",
            ErrorFamily::PermitRejected => "PermitRejected",
            ErrorFamily::DownstreamError => "DownstreamError",
            ErrorFamily::RailUnavailable => "RailUnavailable",
            ErrorFamily::AuthenticationError => "AuthenticationError",
            ErrorFamily::InvalidRequest => "InvalidRequest",
            ErrorFamily::ReceiptInvalid => "ReceiptInvalid",
            ErrorFamily::Internal => "IntentRailError",
        }
    }

    /// The family of a wire `code`; codes this build does not know are
    /// [`ErrorFamily::Internal`].
    pub fn of_code(code: &str) -> ErrorFamily {
        ErrorKind::from_code(code).map_or(ErrorFamily::Internal, ErrorKind::family)
    }
}

impl ErrorKind {
    /// The family the SDKs raise this kind as.
    pub const fn family(self) -> ErrorFamily {
        match self {
            ErrorKind::PolicyDenied | ErrorKind::RateLimited => ErrorFamily::PolicyDenied,
            ErrorKind::ApprovalPending => ErrorFamily::ApprovalPending,
            ErrorKind::SchemaInvalid => ErrorFamily::SchemaInvalid,
            ErrorKind::PermitInvalid
            | ErrorKind::PermitExpired
            | ErrorKind::PermitAlreadyUsed
            | ErrorKind::AgentMismatch
            | ErrorKind::PayloadHashMismatch => ErrorFamily::PermitRejected,
            ErrorKind::DownstreamError | ErrorKind::DownstreamTimeout => {
                ErrorFamily::DownstreamError
            }
            ErrorKind::RailUnavailable
            | ErrorKind::LedgerUnavailable
            | ErrorKind::CredentialUnavailable => ErrorFamily::RailUnavailable,
            ErrorKind::Unauthenticated | ErrorKind::Forbidden => ErrorFamily::AuthenticationError,
            ErrorKind::InvalidJson
            | ErrorKind::InvalidRequest
            | ErrorKind::UnknownAction
            | ErrorKind::UnsupportedEndpoint
            | ErrorKind::IdempotencyConflict
            | ErrorKind::RequestInProgress
            | ErrorKind::PayloadTooLarge
            | ErrorKind::NotFound => ErrorFamily::InvalidRequest,
            ErrorKind::ReceiptInvalid => ErrorFamily::ReceiptInvalid,
            ErrorKind::Internal => ErrorFamily::Internal,
        }
    }
}

/// What calling again can do after an error: the advice every SDK gives a model or a program
/// with it ([`crate::explain`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retry {
    /// The same call is refused again: the rules, the permit or the key decide, not chance.
    Never,
    /// The request itself is wrong: fix what the error names, then call again.
    AfterFix,
    /// A passing condition that refused the call before anything ran (a limit window, the
    /// credential store, a request with this key still running): the same call later can
    /// succeed.
    Later,
    /// The action may have run (the downstream failed or did not answer, the receipt could
    /// not be written, the rail's answer was lost, an internal error): find out before
    /// calling again, or it may run twice.
    CheckFirst,
    /// A person must approve the action first.
    AfterApproval,
}

impl ErrorKind {
    /// What calling again can do after this error.
    pub const fn retry(self) -> Retry {
        match self {
            ErrorKind::InvalidJson
            | ErrorKind::SchemaInvalid
            | ErrorKind::InvalidRequest
            | ErrorKind::UnknownAction
            | ErrorKind::UnsupportedEndpoint
            | ErrorKind::NotFound
            | ErrorKind::PayloadTooLarge
            | ErrorKind::IdempotencyConflict
            | ErrorKind::PayloadHashMismatch
            | ErrorKind::PermitExpired => Retry::AfterFix,
            ErrorKind::Unauthenticated
            | ErrorKind::PolicyDenied
            | ErrorKind::PermitInvalid
            | ErrorKind::AgentMismatch
            | ErrorKind::Forbidden
            | ErrorKind::PermitAlreadyUsed
            | ErrorKind::ReceiptInvalid => Retry::Never,
            ErrorKind::RequestInProgress
            | ErrorKind::RateLimited
            | ErrorKind::CredentialUnavailable => Retry::Later,
            // Each can come after the request was forwarded: the downstream's failure or
            // silence, a receipt that could not be written, an answer lost on the way back.
            ErrorKind::DownstreamError
            | ErrorKind::DownstreamTimeout
            | ErrorKind::LedgerUnavailable
            | ErrorKind::RailUnavailable
            | ErrorKind::Internal => Retry::CheckFirst,
            ErrorKind::ApprovalPending => Retry::AfterApproval,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An IntentRail error: a stable [`ErrorKind`] plus a human-readable detail (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: String,
}

impl Error {
    /// A new error of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error {
            kind,
            detail: detail.into(),
        }
    }

    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable wire code (`self.kind().code()`).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The human detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}

impl std::error::Error for Error {}

/// `Result` with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in ErrorKind::ALL {
            assert!(seen.insert(k.code()), "duplicate code {}", k.code());
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(ErrorKind::from_code("nope"), None);
    }

    #[test]
    fn every_family_but_internal_has_a_code_and_unknown_codes_are_internal() {
        for f in ErrorFamily::ALL {
            let codes: Vec<_> = ErrorKind::ALL.iter().filter(|k| k.family() == *f).collect();
            assert!(!codes.is_empty(), "{f:?} has no code");
        }
        assert_eq!(
            ErrorFamily::of_code("payload_hash_mismatch"),
            ErrorFamily::PermitRejected
        );
        assert_eq!(
            ErrorFamily::of_code("rate_limited"),
            ErrorFamily::PolicyDenied
        );
        assert_eq!(
            ErrorFamily::of_code("not_found"),
            ErrorFamily::InvalidRequest
        );
        assert_eq!(ErrorFamily::of_code("no_such_code"), ErrorFamily::Internal);
        assert_eq!(ErrorFamily::Internal.class_name(), "IntentRailError");
    }

    #[test]
    fn statuses_follow_the_design_table() {
        assert_eq!(ErrorKind::InvalidJson.http_status(), 400);
        assert_eq!(ErrorKind::PermitAlreadyUsed.http_status(), 409);
        assert_eq!(ErrorKind::PermitExpired.http_status(), 410);
        assert_eq!(ErrorKind::IdempotencyConflict.http_status(), 422);
        assert_eq!(ErrorKind::DownstreamTimeout.http_status(), 504);
        assert_eq!(ErrorKind::ApprovalPending.http_status(), 202);
    }
}
