//! Stage 5 of execute, verify: the permit an agent brings back, against the tenant's keys, the
//! agent and the params.
//!
//! Guarantees: the permit's signature, header and claims verify (core's strict verifier:
//! EdDSA only, a current key of this tenant, audience, issuer, time); it was issued to this
//! agent of this tenant; the params hash to its payload hash. Every refusal is receipted and
//! leaves the permit unspent.

use std::time::Instant;

use intentrail_core::hash::payload_hash;
use intentrail_core::permit::{self, PermitClaims, VerifyOptions};
use intentrail_core::receipt::ReceiptKind;
use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use super::receipt;
use crate::auth::Principal;
use crate::problem::AppError;
use crate::rail::{now_ms, Rail, Tenant};

/// The claims of `token`, once it verified and `params` hash to its payload hash.
pub(crate) async fn permit(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    token: &str,
    params: &Value,
) -> Result<PermitClaims, AppError> {
    let started = Instant::now();
    let verified = permit::verify(
        token,
        &t.resolver,
        &VerifyOptions {
            issuer: &t.issuer,
            audience: &rail.config.audience,
            now: now_ms() / 1000,
        },
    );
    rail.metrics.stage("permit", started.elapsed());
    let claims = match verified {
        Ok(c) => c,
        Err(e) => {
            let r = receipt::draft(t, p, ReceiptKind::Execution, "(unverified)");
            return Err(receipt::refuse(rail, t, r, AppError::from(e)).await);
        }
    };
    let mut r = receipt::draft(t, p, ReceiptKind::Execution, &claims.act);
    r.permit_id = Some(claims.jti.clone());
    r.payload_hash = Some(claims.ph.clone());
    if claims.sub != p.agent || claims.tnt != t.id {
        let err = AppError::new(
            ErrorKind::AgentMismatch,
            "the permit was issued to another agent",
        );
        return Err(receipt::refuse(rail, t, r, err).await);
    }
    let ph = payload_hash(params)?;
    if ph != claims.ph {
        let err = AppError::new(
            ErrorKind::PayloadHashMismatch,
            "the params do not hash to the permit's payload hash",
        )
        .with("payload_hash", json!(ph));
        return Err(receipt::refuse(rail, t, r, err).await);
    }
    Ok(claims)
}
