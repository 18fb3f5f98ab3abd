//! Types shared between the rail's modules (ledger, policy, forwarder, pipeline), so each
//! module can be built and tested on its own against one vocabulary.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type UnixMs = i64;

/// One stateful-limit increment to apply atomically (all the adds of one request succeed or
/// none does). Produced by `policy::limits`, applied by the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitAdd {
    /// Tenant id.
    pub tenant: String,
    /// Agent id.
    pub agent: String,
    /// The limit's id from config.
    pub limit_id: String,
    /// Start of the fixed window this request falls in (ms).
    pub window_start_ms: UnixMs,
    /// Maximum number of requests in the window, if counted.
    pub max_count: Option<u64>,
    /// Maximum sum of `amount` in the window, if summed.
    pub max_sum: Option<f64>,
    /// This request's contribution to the sum (0 when not summed).
    pub amount: f64,
}

/// What the ledger answers to a set of [`LimitAdd`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitOutcome {
    /// Every limit had room; all increments were applied.
    Allowed,
    /// This limit had no room; nothing was applied.
    Exceeded {
        /// The id of the first limit without room.
        limit_id: String,
    },
}

/// A permit the rail issued, as the ledger stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermitRecord {
    /// Permit id (`jti`).
    pub jti: String,
    /// Tenant id.
    pub tenant: String,
    /// Agent id (`sub`).
    pub agent: String,
    /// Action name.
    pub action: String,
    /// Payload hash (`ph`).
    pub payload_hash: String,
    /// Expiry (ms).
    pub expires_at_ms: UnixMs,
    /// Idempotency key, if the agent gave one.
    pub idempotency_key: Option<String>,
}

/// The life of a permit in the ledger. A permit only ever moves forward through these states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitState {
    /// Issued, not yet used.
    Issued,
    /// Consumed by an execute; the forward has not started.
    Consumed,
    /// The forward started (bytes may have left the rail).
    Forwarding,
    /// The execution finished and its receipt is written.
    Done,
}

/// Result of the atomic single-use consume.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsumeOutcome {
    /// This caller won: the permit moved issued → consumed.
    Consumed(PermitRecord),
    /// Somebody consumed it before.
    AlreadyUsed,
    /// The ledger never issued this permit (or it belongs to another tenant).
    NotFound,
}

/// Result of starting an idempotent request.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// First time this key is seen: the caller owns it and must `complete` or `abort`.
    New,
    /// Same key and payload, still running.
    InProgress,
    /// Same key and payload, finished: replay this stored response.
    Done(serde_json::Value),
    /// Same key, another payload hash.
    Conflict,
}

/// Outcome of an execution, as receipts record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The downstream answered (any status below 500).
    Success,
    /// The downstream answered 5xx or broke the connection before sending anything back.
    DownstreamError,
    /// The request may have run: a timeout or a reset after sending, or a crash mid-forward.
    Unknown,
    /// Nothing was sent downstream (credential failure, connection refused, crash before send).
    NotForwarded,
    /// The execute was refused before anything was consumed or sent (bad permit, mismatch…).
    Rejected,
}

impl Outcome {
    /// The name receipts and the ledger use (`success`, `downstream_error`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::DownstreamError => "downstream_error",
            Outcome::Unknown => "unknown",
            Outcome::NotForwarded => "not_forwarded",
            Outcome::Rejected => "rejected",
        }
    }
}
