//! Receipts of the pipeline: drafts, appends, and refusals recorded with their receipt.
//!
//! Guarantees: every refusal after authentication appends a receipt naming its `code`, and
//! the error the caller gets carries that receipt's id.

use std::time::Instant;

use intentrail_core::permit::PermitClaims;
use intentrail_core::receipt::{Receipt, ReceiptKind};
use serde_json::json;

use crate::auth::Principal;
use crate::problem::AppError;
use crate::rail::{new_id, now_ms, Rail, Tenant};

/// A receipt draft of `kind` for `action` by `p` (sealed when appended), with how the request
/// reached the rail.
pub(crate) fn draft(t: &Tenant, p: &Principal, kind: ReceiptKind, action: &str) -> Receipt {
    let mut r = Receipt::draft(
        new_id("rct_"),
        now_ms(),
        t.id.clone(),
        &p.agent,
        kind,
        action,
    );
    r.via.clone_from(&p.via);
    r
}

/// A receipt draft of `kind` for `action` by `agent` of a request no longer at hand (recovery).
pub(crate) fn draft_for(t: &Tenant, agent: &str, kind: ReceiptKind, action: &str) -> Receipt {
    Receipt::draft(new_id("rct_"), now_ms(), t.id.clone(), agent, kind, action)
}

/// The execution receipt draft of a permit.
pub(crate) fn execution(t: &Tenant, p: &Principal, claims: &PermitClaims) -> Receipt {
    let mut r = draft(t, p, ReceiptKind::Execution, &claims.act);
    r.permit_id = Some(claims.jti.clone());
    r.payload_hash = Some(claims.ph.clone());
    r.policy_hash = Some(claims.pol.clone());
    r.profile_version = claims.prv.clone();
    r
}

/// Append a receipt to the tenant's chain.
pub(crate) async fn append(rail: &Rail, t: &Tenant, r: Receipt) -> Result<Receipt, AppError> {
    let started = Instant::now();
    let r = rail.ledger.append_receipt(r, t.signer.clone()).await?;
    rail.metrics.stage("receipt", started.elapsed());
    Ok(r)
}

/// Record a refusal as a receipt and return the error carrying its id.
pub(crate) async fn refuse(rail: &Rail, t: &Tenant, mut r: Receipt, err: AppError) -> AppError {
    r.code = Some(err.kind.code().into());
    if r.decision.is_none() && r.outcome.is_none() {
        r.outcome = Some("rejected".into());
    }
    rail.metrics.decision(err.kind.code());
    match append(rail, t, r).await {
        Ok(r) => err.with("receipt_id", json!(r.id)),
        Err(e) => e,
    }
}
