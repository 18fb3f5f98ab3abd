//! Stage 3, decide: Cedar policy, then the stateful limits' input.
//!
//! Guarantees: evaluation is deterministic and fails closed; a denial names the rules (or the
//! limit input) that refused; an approval-required decision is receipted and answered `202`
//! with nothing issued. Limits are counted later, in the same ledger transaction as the permit.

use std::time::Instant;

use intentrail_core::receipt::Receipt;
use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use super::receipt;
use super::target::Target;
use crate::auth::Principal;
use crate::model::LimitAdd;
use crate::policy::{limits, Decision, PolicyInput};
use crate::problem::AppError;
use crate::rail::{new_id, Rail, Tenant};

/// What policy said.
pub(crate) enum Verdict {
    /// Allowed: go on to the limits and the permit.
    Allow,
    /// A person must approve: the answer body of the `202`.
    Pending(serde_json::Value),
}

/// Evaluate the tenant's policies. A denial is receipted (`r` is the decision draft).
pub(crate) async fn policy(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    action: &str,
    target: &Target<'_>,
    params: &Value,
    mut r: Receipt,
) -> Result<Verdict, AppError> {
    let started = Instant::now();
    let decision = t.policy.evaluate(&PolicyInput {
        tenant: &t.id,
        agent: &p.agent,
        action,
        resource: target.connector(),
        params,
    });
    rail.metrics.stage("policy", started.elapsed());
    match decision {
        Decision::Allow => Ok(Verdict::Allow),
        Decision::Deny { policy_ids, reason } => {
            r.decision = Some("deny".into());
            r.reason = Some(policy_ids.join(","));
            let err = AppError::new(ErrorKind::PolicyDenied, reason)
                .with("policy_ids", json!(policy_ids));
            Err(receipt::refuse(rail, t, r, err).await)
        }
        Decision::RequireApproval { policy_ids } => {
            let approval_id = new_id("apr_");
            r.decision = Some("approval_required".into());
            r.reason = Some(policy_ids.join(","));
            rail.metrics.decision("approval_required");
            let r = receipt::append(rail, t, r).await?;
            Ok(Verdict::Pending(json!({
                "status": "approval_pending",
                "code": "approval_pending",
                "approval_id": approval_id,
                "policy_ids": policy_ids,
                "receipt_id": r.id,
            })))
        }
    }
}

/// The limit windows this action would add to at `now` (a summed param that is missing, not
/// numeric or negative is a denial, receipted).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn limits(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    action: &str,
    params: &Value,
    now: i64,
    mut r: Receipt,
) -> Result<Vec<LimitAdd>, AppError> {
    match limits::adds(&t.limits, &t.id, &p.agent, action, params, now) {
        Ok(adds) => Ok(adds),
        Err(e) => {
            r.decision = Some("deny".into());
            r.reason = Some("limit_input".into());
            let err = AppError::new(ErrorKind::PolicyDenied, e)
                .with("policy_ids", json!(["limit_input"]));
            Err(receipt::refuse(rail, t, r, err).await)
        }
    }
}
