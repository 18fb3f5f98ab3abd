//! The rail's state: issued permits and their single-use consumption, idempotency records,
//! stateful-limit windows, per-tenant hash-chained receipts and run-time agent keys.
//!
//! Guarantees every backend keeps: a permit is consumed by exactly one caller; an acknowledged
//! write (consume, receipt, limit add…) survives a crash; a tenant's receipt chain never has a
//! gap or a fork. [`open`] picks the backend from a URL; [`sqlite`] is the embedded default,
//! [`postgres`] the shared one for several rail instances; [`copy`] moves a ledger to
//! PostgreSQL.
//!
//! Each backend is a folder; the rules they share are written once beside them: `limits` (the
//! room check), `idempotency` (what a recorded key answers), `permits` (states and refused
//! steps), `chain` (placing a receipt on its chain), `batch_sign` (signing receipts in runs),
//! `profiles` (the version of an upload), `clock` and `rows`.

use std::sync::Arc;

use crate::model::{
    ConsumeOutcome, IdempotencyBegin, LimitAdd, Outcome, PermitRecord, PermitState,
};

mod batch_sign;
mod chain;
mod clock;
pub mod copy;
mod idempotency;
mod limits;
mod permits;
pub mod postgres;
mod profiles;
mod rows;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

// The receipt and key types come from core: the ledger only orders and stores them.
pub use intentrail_core::{
    keys::SigningKey,
    receipt::{Receipt, GENESIS_PREV},
};

/// Why a ledger call failed. Messages name the operation and the row (tenant, id), never a
/// secret, payload or response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The store cannot be reached or is busy/locked/full/read-only; nothing was applied.
    /// Maps to `ledger_unavailable` (503).
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    /// Stored data is not what the ledger wrote (unparseable row, unknown state, schema from
    /// a newer version).
    #[error("ledger data corrupt: {0}")]
    Corrupt(String),
    /// A bug or a misuse (e.g. a state transition from the wrong state, a duplicate permit id).
    #[error("ledger internal error: {0}")]
    Internal(String),
}

impl From<LedgerError> for intentrail_core::Error {
    fn from(e: LedgerError) -> Self {
        use intentrail_core::ErrorKind;
        let kind = match &e {
            LedgerError::Unavailable(_) => ErrorKind::LedgerUnavailable,
            LedgerError::Corrupt(_) | LedgerError::Internal(_) => ErrorKind::Internal,
        };
        intentrail_core::Error::new(kind, e.to_string())
    }
}

/// One stored agent key / revocation row (see [`Ledger::put_agent_key`],
/// [`Ledger::revoke_agent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKeyRow {
    /// Tenant id.
    pub tenant: String,
    /// Agent id.
    pub agent: String,
    /// SHA-256 of the agent's API key (as `auth` computes it); `None` when the row only
    /// records the revocation of an agent whose key lives in the config file.
    pub key_hash: Option<String>,
    /// The agent is revoked: every key of it is refused, whatever `key_hash` says.
    pub revoked: bool,
}

/// One stored version of a mirrored profile (see [`Ledger::put_profile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    /// Tenant id.
    pub tenant: String,
    /// Profile name.
    pub name: String,
    /// Version number: 1 for the first upload, +1 for each upload of another document.
    pub version: i64,
    /// `sha256:` hash of the stored document bytes.
    pub hash: String,
    /// When it was stored (ms since the epoch).
    pub created_at_ms: i64,
}

/// The rail's state store, as the pipeline uses it. Every method is one atomic unit: it is
/// fully applied or not at all, and a method that returned `Ok` is durable (it survives a crash
/// of the process or machine).
///
/// Semantics every backend must keep (the shared test suite checks them):
///
/// - **Tenancy**: every row is keyed by tenant; a call for tenant A never sees tenant B's rows
///   (B's permit is `NotFound` to A).
/// - **Permits** move only forward: `issued → consumed → forwarding → done`
///   (`consumed → done` is allowed when nothing was sent). Any other transition is refused
///   with [`LedgerError::Internal`] and changes nothing. Expiry is checked by the caller
///   (permit verification) before consuming; the ledger has no clock semantics.
/// - **Consume** is ONE conditional update (`… SET state = … WHERE tenant AND jti AND
///   state = 'issued'`, checking the changed row): of any number of concurrent callers, on any
///   number of rail instances, exactly one gets `Consumed`.
/// - **Idempotency** records are keyed by (tenant, agent, key) and bound to a payload hash.
/// - **Limits**: a set of adds is applied all-or-nothing, serialized with every other add:
///   every add needs room (`count + 1 <= max_count`, `sum + amount <= max_sum`, counting
///   earlier adds of the same call on the same window), else none is applied and the first
///   without room is named. Windows older than an add's window for the same (tenant, agent,
///   limit) are pruned.
/// - **Receipts**: per tenant, `seq` starts at 1 and grows by one with no gap; each receipt's
///   `prev` is the previous receipt's `hash` ([`GENESIS_PREV`] for seq 1). Appends are
///   serialized per tenant (SQLite: the single writer + `BEGIN IMMEDIATE`; PostgreSQL: a row
///   lock on the tenant's chain head), and `UNIQUE(tenant, seq)` is the backstop against forks.
///   Receipts are returned exactly as stored, so an edited row is visible to the verifier.
/// - **Errors**: [`LedgerError::Unavailable`] means nothing was applied and the caller may
///   answer `ledger_unavailable`; the caller must not forward anything it could not record.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Issue a permit: apply `adds` all-or-nothing (see **Limits**); if every limit had room,
    /// record the permit (state `issued`; a second record of the same (tenant, jti) is refused
    /// with [`LedgerError::Internal`]) and append its decision receipt. When a limit has no
    /// room nothing is applied and the limit is named.
    async fn issue_permit(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError>;

    /// `issued → forwarding` for a caller that is ready to send (request built, credential
    /// fetched): ONE conditional update, so exactly one concurrent caller gets
    /// `Consumed(record)` and the others `AlreadyUsed`; a jti never issued for this tenant is
    /// `NotFound`. The winner's permit is recorded as forwarding before the answer, so a crash
    /// after it means "maybe sent" (outcome `unknown`), never "sent twice".
    async fn consume_for_forward(
        &self,
        tenant: &str,
        jti: &str,
    ) -> Result<ConsumeOutcome, LedgerError>;

    /// [`Ledger::issue_permit`] and [`Ledger::consume_for_forward`] of that permit, for a
    /// caller that issues a permit to execute it at once and is ready to send (one-shot). When
    /// it answers `Issued`, the permit is recorded, its decision receipt appended and the
    /// permit is in `forwarding`: a crash after it means `unknown`, as for the two calls. The
    /// default is the two calls; a backend that can should make it ONE transaction.
    async fn issue_and_consume(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError> {
        let out = self.issue_permit(adds, permit, draft, key).await?;
        if matches!(out, IssueOutcome::Issued(_)) {
            match self
                .consume_for_forward(&permit.tenant, &permit.jti)
                .await?
            {
                ConsumeOutcome::Consumed(_) => {}
                other => return Err(permits::not_consumed_after_issue(&permit.jti, &other)),
            }
        }
        Ok(out)
    }

    /// `consumed | forwarding → done` with its outcome, and the execution receipt appended,
    /// together. A permit in another state is refused and nothing is appended.
    async fn finish_with_receipt(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError>;

    /// Permits left in `consumed` or `forwarding` (after a crash), oldest consume first, with
    /// their state: `consumed` ones were never sent (`not_forwarded`), `forwarding` ones may
    /// have been (`unknown`).
    async fn unfinished_permits(&self) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError>;

    /// Start an idempotent request keyed by (tenant, agent, key):
    /// unseen → record it in progress, `New` (the caller must `complete` or `abort`);
    /// seen with another payload hash → `Conflict`; same hash and running → `InProgress`;
    /// same hash and completed → `Done(stored response)`.
    async fn idempotency_begin(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        payload_hash: &str,
    ) -> Result<IdempotencyBegin, LedgerError>;

    /// Store the response of an in-progress key; later `begin`s replay it. Completing an
    /// already-completed key keeps the first response; an unknown key is
    /// [`LedgerError::Internal`].
    async fn idempotency_complete(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        response: &serde_json::Value,
    ) -> Result<(), LedgerError>;

    /// Forget an in-progress key (the request failed before doing anything), so it can be
    /// retried. A completed or unknown key is left alone.
    async fn idempotency_abort(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
    ) -> Result<(), LedgerError>;

    /// Append to `draft.tenant`'s chain: atomically read the head (last seq + hash, or
    /// 0 + [`GENESIS_PREV`]), set `draft.seq = last + 1`, `draft.prev = last hash`, seal it
    /// with `key`, store it and return the sealed receipt. No gaps, no forks under
    /// concurrency; a receipt id already stored is refused with [`LedgerError::Internal`].
    async fn append_receipt(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError>;

    /// The stored JSON of one receipt, exactly as stored (an edited row is returned edited;
    /// the chain verifier catches it). A row that is not valid I-JSON is
    /// [`LedgerError::Corrupt`].
    async fn receipt(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, LedgerError>;

    /// Up to `limit` receipts of `tenant` with `seq > after_seq`, in seq order, as stored.
    async fn receipts_after(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, LedgerError>;

    /// The head of `tenant`'s chain: (seq, hash) of its last committed receipt, `None` when
    /// the chain is empty.
    async fn chain_head(&self, tenant: &str) -> Result<Option<(u64, String)>, LedgerError>;

    /// Store an agent key created at run time (`intentrail agents create`): the agent now has
    /// this key hash and is not revoked (one key per agent: a new put replaces the old key).
    async fn put_agent_key(
        &self,
        tenant: &str,
        agent: &str,
        key_hash: &str,
    ) -> Result<(), LedgerError>;

    /// Revoke an agent (`intentrail agents revoke`), whether its key is in the ledger or in the
    /// config file (then a row with `key_hash: None` records the revocation). Returns `true`
    /// when this call revoked it, `false` when it already was.
    async fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<bool, LedgerError>;

    /// Every stored agent key / revocation row.
    async fn agent_keys(&self) -> Result<Vec<AgentKeyRow>, LedgerError>;

    /// Store a profile document (normalized JSON bytes) with its hash as the next version of
    /// (tenant, name). If the newest version already has this hash, nothing is stored and that
    /// version is returned with `false`; otherwise the new version with `true`. Versions are
    /// never changed or deleted, so receipts and permits can always name theirs.
    async fn put_profile(
        &self,
        tenant: &str,
        name: &str,
        hash: &str,
        document: &[u8],
    ) -> Result<(ProfileRow, bool), LedgerError>;

    /// The newest version of every stored profile (without documents), ordered by tenant, name.
    async fn profile_heads(&self) -> Result<Vec<ProfileRow>, LedgerError>;

    /// One version of a profile with its document bytes.
    async fn profile_document(
        &self,
        tenant: &str,
        name: &str,
        version: i64,
    ) -> Result<Option<(ProfileRow, Vec<u8>)>, LedgerError>;
}

/// What [`Ledger::issue_permit`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueOutcome {
    /// The permit is recorded; this is its sealed decision receipt.
    Issued(Box<Receipt>),
    /// This limit had no room; nothing was applied.
    LimitExceeded {
        /// The id of the first limit without room.
        limit_id: String,
    },
}

/// Open the ledger named by `url`:
/// `sqlite://path` or `sqlite:path` (relative to the current directory; `sqlite:///abs` is
/// absolute), or `sqlite::memory:` (a private in-memory database, for tests).
/// `postgres://user:password@host:port/db` (or `postgresql://…`): the shared PostgreSQL
/// ledger for several rail instances (see [`postgres`]).
pub async fn open(url: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let target = rest.strip_prefix("//").unwrap_or(rest);
        if target.is_empty() {
            return Err(LedgerError::Unavailable(
                "the sqlite ledger URL has no path".into(),
            ));
        }
        let l = if target == ":memory:" {
            sqlite::SqliteLedger::open_in_memory().await?
        } else {
            sqlite::SqliteLedger::open(std::path::Path::new(target)).await?
        };
        return Ok(Arc::new(l));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PostgresLedger::open(url).await?));
    }
    let scheme = url.split(':').next().unwrap_or("");
    Err(LedgerError::Unavailable(format!(
        "unsupported ledger URL scheme {scheme:?} (expected sqlite: or postgres:)"
    )))
}
