//! The backend-agnostic ledger test suite: every backend runs these same functions, through
//! [`shared_suite!`] over its [`Store`] (`two_ledgers_agree` only means something for a backend
//! several instances share). Each test works in fresh random tenants, so tests may share one
//! database. Functions that need a restart take an `open` closure that opens the SAME store
//! again.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::{Ledger, LedgerError, Receipt, SigningKey};
use crate::model::{ConsumeOutcome, LimitAdd, LimitOutcome, Outcome, PermitRecord};

mod composite;
mod idempotency;
mod instances;
mod limits;
mod permits;
mod receipts;
mod records;

pub(crate) use composite::composite_operations_keep_the_semantics;
pub(crate) use idempotency::idempotency_lifecycle;
pub(crate) use instances::two_ledgers_agree;
pub(crate) use limits::{
    limit_window_rolls_over, limits_are_all_or_nothing, limits_are_exact_under_concurrency,
};
pub(crate) use permits::{
    consume_is_single_use_under_concurrency, consume_unknown_or_foreign_is_not_found,
    permit_transitions_only_move_forward, unfinished_permits_survive_restart,
};
pub(crate) use receipts::receipt_chain_has_no_gaps_or_forks;
pub(crate) use records::{agent_keys_put_and_revoke, profiles_are_versioned};

/// The single steps the composite [`Ledger`] operations are made of, each ONE transaction.
/// The rail never takes them alone; the suite drives them to check each rule by itself.
///
/// - `record_permit` stores an issued permit; a second record of (tenant, jti) is refused with
///   [`LedgerError::Internal`].
/// - `consume_permit` is ONE conditional update `issued → consumed` for (tenant, jti): exactly
///   one concurrent caller gets `Consumed(record)`, the others `AlreadyUsed`; a jti never issued
///   for this tenant is `NotFound`.
/// - `mark_forwarding` is `consumed → forwarding`; `finish_permit` is
///   `consumed | forwarding → done` with the outcome. Any other transition is refused with
///   [`LedgerError::Internal`] and changes nothing.
/// - `limit_try_add` applies a set of adds all-or-nothing (see
///   `ledger/limits.rs` for the room rule) and prunes the windows older than an
///   add's window for the same (tenant, agent, limit).
#[async_trait::async_trait]
pub(crate) trait Steps: Ledger {
    /// Store an issued permit.
    async fn record_permit(&self, p: &PermitRecord) -> Result<(), LedgerError>;
    /// `issued → consumed`, exactly one winner.
    async fn consume_permit(&self, tenant: &str, jti: &str) -> Result<ConsumeOutcome, LedgerError>;
    /// `consumed → forwarding`.
    async fn mark_forwarding(&self, tenant: &str, jti: &str) -> Result<(), LedgerError>;
    /// `consumed | forwarding → done`.
    async fn finish_permit(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
    ) -> Result<(), LedgerError>;
    /// Apply `adds` all-or-nothing.
    async fn limit_try_add(&self, adds: &[LimitAdd]) -> Result<LimitOutcome, LedgerError>;
}

/// One backend's store for the suite: a fresh one per test, opened as often as a test asks
/// (each open sees what the previous ones committed, as after a restart).
pub(crate) trait Store: Sized {
    /// A fresh store, or `None` when the backend cannot run here (the test is skipped).
    fn fresh() -> impl Future<Output = Option<Self>>;
    /// Open the store (again).
    fn open(&self) -> impl Future<Output = Arc<dyn Steps>>;
}

/// The shared suite as one `#[tokio::test]` per function, for the backend whose [`Store`] is
/// `$store`.
macro_rules! shared_suite {
    ($store:ty) => {
        $crate::ledger::suite::shared_suite!(@one $store, multi, consume_is_single_use_under_concurrency);
        $crate::ledger::suite::shared_suite!(@one $store, current, consume_unknown_or_foreign_is_not_found);
        $crate::ledger::suite::shared_suite!(@one $store, current, permit_transitions_only_move_forward);
        $crate::ledger::suite::shared_suite!(@restart $store, current, unfinished_permits_survive_restart);
        $crate::ledger::suite::shared_suite!(@one $store, current, idempotency_lifecycle);
        $crate::ledger::suite::shared_suite!(@one $store, multi, limits_are_exact_under_concurrency);
        $crate::ledger::suite::shared_suite!(@one $store, current, limits_are_all_or_nothing);
        $crate::ledger::suite::shared_suite!(@one $store, current, limit_window_rolls_over);
        $crate::ledger::suite::shared_suite!(@restart $store, multi, receipt_chain_has_no_gaps_or_forks);
        $crate::ledger::suite::shared_suite!(@one $store, multi, composite_operations_keep_the_semantics);
        $crate::ledger::suite::shared_suite!(@one $store, current, profiles_are_versioned);
        $crate::ledger::suite::shared_suite!(@one $store, current, agent_keys_put_and_revoke);
    };
    (@one $store:ty, $flavor:ident, $name:ident) => {
        $crate::ledger::suite::shared_suite!(@test $flavor, $name, {
            use $crate::ledger::suite::Store as _;
            if let Some(s) = <$store>::fresh().await {
                $crate::ledger::suite::$name(s.open().await).await;
            }
        });
    };
    (@restart $store:ty, $flavor:ident, $name:ident) => {
        $crate::ledger::suite::shared_suite!(@test $flavor, $name, {
            use $crate::ledger::suite::Store as _;
            if let Some(s) = <$store>::fresh().await {
                $crate::ledger::suite::$name(|| s.open()).await;
            }
        });
    };
    (@test multi, $name:ident, $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() $body
    };
    (@test current, $name:ident, $body:block) => {
        #[tokio::test]
        async fn $name() $body
    };
}
pub(crate) use shared_suite;

/// A fresh tenant id, so tests never see each other's rows.
pub(crate) fn tenant() -> String {
    format!("t-{}", uuid::Uuid::new_v4())
}

/// The signing key the suite seals receipts with (the one place that builds a key).
pub(crate) fn test_key() -> Arc<SigningKey> {
    Arc::new(SigningKey::from_bytes(&[9u8; 32]))
}

/// An issued-permit record for `tenant`.
pub(crate) fn permit(tenant: &str, jti: &str) -> PermitRecord {
    PermitRecord {
        jti: jti.into(),
        tenant: tenant.into(),
        agent: "agent-1".into(),
        action: "money.refund".into(),
        payload_hash: "sha256:abc".into(),
        expires_at_ms: 1_900_000_000_000,
        idempotency_key: Some("idem-1".into()),
    }
}

/// A receipt draft for `tenant` (seq, prev, kid, hash, sig are the ledger's job).
pub(crate) fn draft(tenant: &str, id: &str) -> Receipt {
    Receipt {
        outcome: Some("success".into()),
        ..Receipt::draft(
            id,
            1_700_000_000_000,
            tenant,
            "agent-1",
            intentrail_core::receipt::ReceiptKind::Execution,
            "money.refund",
        )
    }
}

/// SHA-256 over JCS of the stored receipt without `hash` and `sig` (the chain's definition).
pub(crate) fn recompute_hash(v: &Value) -> String {
    let mut v = v.clone();
    let o = v.as_object_mut().expect("a receipt is an object");
    o.remove("hash");
    o.remove("sig");
    o.remove("batch");
    let canonical = intentrail_core::jcs::canonicalize(&v).expect("canonical");
    intentrail_core::hash::sha256_tagged(&canonical)
}
