//! Stage 4, permit: the claims of an allowed decision, their signature, and their record in
//! the ledger (with the limits and the decision receipt, in one transaction); and, at execute,
//! the single consume.
//!
//! Guarantees: a permit is recorded before it can be used; limits without room refuse it
//! (`rate_limited`, receipted) in the same transaction; exactly one concurrent consume of a
//! permit wins.

use std::time::Instant;

use intentrail_core::permit::{self, PermitClaims};
use intentrail_core::receipt::Receipt;
use intentrail_core::ErrorKind;
use serde_json::json;

use super::receipt;
use crate::auth::Principal;
use crate::ledger::IssueOutcome;
use crate::model::{ConsumeOutcome, LimitAdd, PermitRecord};
use crate::problem::AppError;
use crate::rail::{new_id, Rail, Tenant};

/// A decision that allowed, not yet written.
pub(crate) struct Allowed {
    /// The permit's claims.
    pub(crate) claims: PermitClaims,
    /// The permit's ledger row.
    pub(crate) permit: PermitRecord,
    /// The limit windows it counts in.
    pub(crate) adds: Vec<LimitAdd>,
    /// The decision receipt to write (`allow`).
    pub(crate) allowed: Receipt,
    /// The decision receipt draft for a refusal after the fact (a limit without room).
    pub(crate) denied: Receipt,
}

/// What a permit is issued for.
pub(crate) struct Grant<'a> {
    /// The agent.
    pub(crate) principal: &'a Principal,
    /// The action name.
    pub(crate) action: &'a str,
    /// `name@version#hash` of a profile action.
    pub(crate) profile_tag: Option<String>,
    /// The payload hash of the canonical params.
    pub(crate) payload_hash: String,
    /// The agent's idempotency key.
    pub(crate) idempotency_key: Option<&'a str>,
}

/// The claims and ledger row of an allowed decision at `now` (ms), with its receipts.
pub(crate) fn claims(
    rail: &Rail,
    t: &Tenant,
    g: Grant<'_>,
    now: i64,
    adds: Vec<LimitAdd>,
    decision: Receipt,
) -> Allowed {
    let iat = now / 1000;
    let lifetime = i64::try_from(rail.config.permit_lifetime_secs).unwrap_or(60);
    let claims = PermitClaims {
        iss: t.issuer.clone(),
        aud: rail.config.audience.clone(),
        sub: g.principal.agent.clone(),
        tnt: t.id.clone(),
        act: g.action.to_string(),
        ph: g.payload_hash.clone(),
        jti: new_id("pmt_"),
        iat,
        nbf: iat,
        exp: iat + lifetime,
        pol: t.policy.hash().to_string(),
        idk: g.idempotency_key.map(str::to_string),
        prv: g.profile_tag,
    };
    let permit = PermitRecord {
        jti: claims.jti.clone(),
        tenant: t.id.clone(),
        agent: g.principal.agent.clone(),
        action: g.action.to_string(),
        payload_hash: g.payload_hash,
        expires_at_ms: claims.exp * 1000,
        idempotency_key: claims.idk.clone(),
    };
    let mut allowed = decision.clone();
    allowed.decision = Some("allow".into());
    allowed.permit_id = Some(claims.jti.clone());
    Allowed {
        claims,
        permit,
        adds,
        allowed,
        denied: decision,
    }
}

/// The compact JWS of an allowed decision (two-phase: the agent carries it to execute).
pub(crate) fn sign(rail: &Rail, t: &Tenant, a: &Allowed) -> Result<String, AppError> {
    let started = Instant::now();
    let token = permit::issue(&a.claims, &t.signer)?;
    rail.metrics.stage("permit", started.elapsed());
    Ok(token)
}

/// How a permit is recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// Issued: the agent executes it later.
    Issued,
    /// Issued and consumed for forwarding at once (one-shot).
    Consumed,
}

/// Record an allowed decision: limits, the permit row and its decision receipt in one ledger
/// transaction (and with [`Record::Consumed`], the consume too). A limit without room is
/// refused (`rate_limited`) with a receipt.
pub(crate) async fn record(
    rail: &Rail,
    t: &Tenant,
    a: &Allowed,
    how: Record,
) -> Result<Receipt, AppError> {
    let started = Instant::now();
    let (draft, key) = (a.allowed.clone(), t.signer.clone());
    let issued = match how {
        Record::Consumed => {
            rail.ledger
                .issue_and_consume(&a.adds, &a.permit, draft, key)
                .await
        }
        Record::Issued => {
            rail.ledger
                .issue_permit(&a.adds, &a.permit, draft, key)
                .await
        }
    }?;
    rail.metrics.stage("receipt", started.elapsed());
    match issued {
        IssueOutcome::Issued(r) => {
            rail.metrics.decision("allow");
            Ok(*r)
        }
        IssueOutcome::LimitExceeded { limit_id } => {
            let mut r = a.denied.clone();
            r.decision = Some("deny".into());
            r.reason = Some(limit_id.clone());
            let err = AppError::new(
                ErrorKind::RateLimited,
                format!("limit {limit_id:?} reached"),
            )
            .with("limit_id", json!(limit_id));
            Err(receipt::refuse(rail, t, r, err).await)
        }
    }
}

/// Consume a verified permit straight into `forwarding` with one conditional update: exactly
/// one concurrent execute wins; a spent or unknown permit is refused, receipted.
pub(crate) async fn consume(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    claims: &PermitClaims,
) -> Result<(), AppError> {
    let refused = match rail.ledger.consume_for_forward(&t.id, &claims.jti).await? {
        ConsumeOutcome::Consumed(_) => return Ok(()),
        ConsumeOutcome::AlreadyUsed => {
            AppError::new(ErrorKind::PermitAlreadyUsed, "this permit was already used")
        }
        ConsumeOutcome::NotFound => AppError::new(
            ErrorKind::PermitInvalid,
            "this rail did not issue the permit",
        ),
    };
    let r = receipt::execution(t, p, claims);
    Err(receipt::refuse(rail, t, r, refused).await)
}
