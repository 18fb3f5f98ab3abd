//! The governed pipeline, as named stages, and the flows that run them.
//!
//! Stages: [`authenticate`] → [`target`] (what the action is) → [`validate`] → [`decide`]
//! (policy, then the limits' input) → [`permit`] (claims, signature, record; consume) →
//! [`verify`] (execute only) → [`prepare`] (request + credentials) → [`forward`] (send, then
//! finish with the execution receipt). [`receipt`] writes drafts and refusals for all of them;
//! [`idempotency`] wraps a whole flow; [`recover`] finishes what a crash left.
//!
//! Guarantees: nothing is forwarded unless the params validated, policy allowed, a permit
//! bound to their canonical hash was recorded and atomically consumed once, and the forward
//! was recorded in the ledger first; the bytes forwarded are derived from the canonical params
//! the permit hashes; every decision and execution appends a signed receipt.

pub(crate) mod authenticate;
pub(crate) mod decide;
pub(crate) mod forward;
pub(crate) mod idempotency;
pub(crate) mod permit;
pub(crate) mod prepare;
pub(crate) mod receipt;
mod recover;
pub(crate) mod target;
pub(crate) mod validate;
pub(crate) mod verify;

use axum::http::StatusCode;
use intentrail_core::hash::payload_hash;
use intentrail_core::permit::PermitClaims;
use intentrail_core::receipt::{Receipt, ReceiptKind};
use serde_json::Value;

use self::decide::Verdict;
use self::permit::{Allowed, Grant, Record};
use self::target::Target;
use crate::auth::Principal;
use crate::forward::DownstreamResponse;
use crate::problem::AppError;
use crate::rail::{now_ms, Rail, Tenant};

/// What a decision came to.
pub(crate) enum Decided {
    /// Allowed: a permit to record.
    Allowed(Box<Allowed>),
    /// A person must approve: the body of the `202` answer.
    Pending(Value),
}

/// What an intent answers.
pub(crate) enum Intent {
    /// A signed permit, recorded with its decision receipt.
    Issued {
        /// The compact JWS.
        token: String,
        /// Its claims.
        claims: Box<PermitClaims>,
        /// The decision receipt's id.
        receipt_id: String,
    },
    /// A person must approve: the body of the `202` answer.
    Pending(Value),
}

/// What a one-shot answers.
pub(crate) enum OneShot {
    /// Forwarded.
    Executed(Box<Executed>),
    /// A person must approve: the body of the `202` answer.
    Pending(Value),
}

/// A forwarded action: the downstream's (redacted) answer, its receipt, and the permit id.
pub(crate) struct Executed {
    /// The downstream's response, whatever its status.
    pub(crate) response: DownstreamResponse,
    /// The execution receipt.
    pub(crate) receipt: Receipt,
    /// The permit's id.
    pub(crate) permit_id: String,
}

/// Validate → decide (policy, limits' input) → permit claims: everything of a decision but
/// its ledger write. Refusals are receipted here.
pub(crate) async fn decide(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    action: &str,
    target: Target<'_>,
    params: &Value,
    idempotency_key: Option<&str>,
) -> Result<Decided, AppError> {
    let validated = validate::params(rail, action, &target, params);
    let profile_tag = target.profile_tag();
    let mut r = receipt::draft(t, p, ReceiptKind::Decision, action);
    r.policy_hash = Some(t.policy.hash().to_string());
    r.profile_version = profile_tag.clone();
    if let Err(err) = validated {
        r.decision = Some("rejected".into());
        return Err(receipt::refuse(rail, t, r, err).await);
    }
    let ph = payload_hash(params)?;
    r.payload_hash = Some(ph.clone());
    match decide::policy(rail, t, p, action, &target, params, r.clone()).await? {
        Verdict::Allow => {}
        Verdict::Pending(body) => return Ok(Decided::Pending(body)),
    }
    let now = now_ms();
    let adds = decide::limits(rail, t, p, action, params, now, r.clone()).await?;
    let grant = Grant {
        principal: p,
        action,
        profile_tag,
        payload_hash: ph,
        idempotency_key,
    };
    Ok(Decided::Allowed(Box::new(permit::claims(
        rail, t, grant, now, adds, r,
    ))))
}

/// `POST /v1/intents`: decide → sign the permit → record it with its decision receipt.
pub(crate) async fn intent(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    action: &str,
    params: &Value,
    idempotency_key: Option<&str>,
) -> Result<Intent, AppError> {
    let target = target::resolve(rail, t, action)?;
    let allowed = match decide(rail, t, p, action, target, params, idempotency_key).await? {
        Decided::Pending(body) => return Ok(Intent::Pending(body)),
        Decided::Allowed(a) => a,
    };
    let token = permit::sign(rail, t, &allowed)?;
    let receipt = permit::record(rail, t, &allowed, Record::Issued).await?;
    Ok(Intent::Issued {
        token,
        claims: Box::new(allowed.claims),
        receipt_id: receipt.id,
    })
}

/// `POST /v1/execute`: verify the permit → prepare (request, credentials) → consume it into
/// forwarding → forward → finish with the execution receipt. A refusal before the consume
/// leaves the permit unspent; a replay of a spent permit is refused at the consume.
///
/// A permit issued under an idempotency key (claim `idk`) executes under the key of its own
/// id: a retried intent replays the same permit, and a retried execute of it replays the
/// first answer (as the one-shot route does) instead of `409 permit_already_used`. It is
/// still consumed and forwarded once. A permit without `idk` is single-use in the plain sense.
pub(crate) async fn execute(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    token: &str,
    params: &Value,
) -> Result<(StatusCode, Value), AppError> {
    let claims = verify::permit(rail, t, p, token, params).await?;
    let replay_key = claims.idk.is_some().then(|| claims.jti.clone());
    idempotency::run(
        rail,
        t,
        p,
        replay_key.as_deref(),
        "execute",
        params,
        || async {
            let ready = match prepare::ready_to_send(rail, t, p, &claims, params).await {
                Ok(ready) => ready,
                Err(refusal) => return Err(refusal.record(rail, t, p, Some(&claims)).await),
            };
            permit::consume(rail, t, p, &claims).await?;
            // From here on the permit is spent: every path finishes it with an outcome.
            let (response, receipt) = forward::send(rail, t, &claims, ready).await?;
            Ok((
                StatusCode::OK,
                forward::render(&claims.jti, response, receipt)?,
            ))
        },
    )
    .await
}

/// An action in one round trip under the agent's idempotency key, as `POST
/// /v1/actions/{action}` and an MCP `tools/call` answer it: `200` with `{status, headers,
/// body, permit_id, receipt}`, or `202` with the approval to wait for.
pub(crate) async fn act(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    action: &str,
    params: &Value,
    idempotency_key: Option<&str>,
) -> Result<(StatusCode, Value), AppError> {
    idempotency::run(rail, t, p, idempotency_key, "action", params, || async {
        let target = target::resolve(rail, t, action)?;
        match one_shot(rail, t, p, action, target, params, idempotency_key).await? {
            OneShot::Pending(body) => Ok((StatusCode::ACCEPTED, body)),
            OneShot::Executed(x) => Ok((
                StatusCode::OK,
                forward::render(&x.permit_id, x.response, x.receipt)?,
            )),
        }
    })
    .await
}

/// One-shot (`POST /v1/actions/{action}`, transparent mode): decide → prepare → record the
/// permit issued and consumed with its decision receipt in ONE transaction → forward →
/// finish. The permit never leaves the process, so no JWS is signed. If the rail is not ready
/// to send, the decision is recorded alone (permit unspent) and the refusal after it.
pub(crate) async fn one_shot(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    action: &str,
    target: Target<'_>,
    params: &Value,
    idempotency_key: Option<&str>,
) -> Result<OneShot, AppError> {
    let allowed = match decide(rail, t, p, action, target, params, idempotency_key).await? {
        Decided::Pending(body) => return Ok(OneShot::Pending(body)),
        Decided::Allowed(a) => a,
    };
    let ready = match prepare::ready_to_send(rail, t, p, &allowed.claims, params).await {
        Ok(ready) => ready,
        Err(refusal) => {
            permit::record(rail, t, &allowed, Record::Issued).await?;
            return Err(refusal.record(rail, t, p, None).await);
        }
    };
    permit::record(rail, t, &allowed, Record::Consumed).await?;
    let (response, receipt) = forward::send(rail, t, &allowed.claims, ready).await?;
    Ok(OneShot::Executed(Box::new(Executed {
        response,
        receipt,
        permit_id: allowed.claims.jti.clone(),
    })))
}
