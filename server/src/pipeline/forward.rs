//! Stage 7, forward: send the prepared request of a consumed permit, then finish the permit
//! with its execution receipt (outcome, downstream status, response hash) in one transaction.
//!
//! Guarantees: the response the agent gets was redacted of every credential by the forwarder;
//! a timeout after sending is `unknown`, never retried; a forwarded action whose receipt
//! cannot be written is recorded as soon as the ledger is back (or as `unknown` on restart).

use std::sync::Arc;
use std::time::{Duration, Instant};

use intentrail_core::hash::sha256_tagged;
use intentrail_core::permit::PermitClaims;
use intentrail_core::receipt::{Downstream, Receipt};
use intentrail_core::ErrorKind;
use serde_json::{json, Map, Value};

use super::prepare::Ready;
use crate::forward::DownstreamResponse;
use crate::ledger::LedgerError;
use crate::model::Outcome;
use crate::problem::AppError;
use crate::rail::{Rail, Tenant};

/// Forward and record: the downstream's (redacted) response, whatever its status, and the
/// execution receipt.
pub(crate) async fn send(
    rail: &Rail,
    t: &Tenant,
    claims: &PermitClaims,
    ready: Ready<'_>,
) -> Result<(DownstreamResponse, Receipt), AppError> {
    let Ready {
        receipt: mut r,
        connector,
        outbound,
        secret,
        extra,
    } = ready;
    let started = Instant::now();
    let sent = rail
        .forwarder
        .send_with_extra(connector, outbound, secret.as_ref(), &extra)
        .await;
    rail.metrics.stage("forward", started.elapsed());
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => {
            let outcome = e.outcome();
            let mut err = AppError::new(e.kind(), e.to_string());
            if outcome != Outcome::NotForwarded {
                err = err.acted();
            }
            return Err(finish_failed(rail, t, r, &claims.jti, outcome, err).await);
        }
    };
    drop((secret, extra));
    let outcome = if resp.status >= 500 {
        Outcome::DownstreamError
    } else {
        Outcome::Success
    };
    r.outcome = Some(outcome.as_str().into());
    r.downstream = Some(Downstream {
        method: resp.method.clone(),
        url: resp.url.clone(),
        status: Some(resp.status),
        response_hash: Some(sha256_tagged(&resp.body)),
        latency_ms: resp.latency_ms,
    });
    if outcome != Outcome::Success {
        r.code = Some(ErrorKind::DownstreamError.code().into());
    }
    rail.metrics.decision(outcome.as_str());
    let started = Instant::now();
    // Kept for `record_later`: the draft is consumed by the call.
    let draft = r.clone();
    let receipt = rail
        .ledger
        .finish_with_receipt(&t.id, &claims.jti, outcome, r, t.signer.clone())
        .await;
    rail.metrics.stage("receipt", started.elapsed());
    let receipt = match receipt {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(permit = %claims.jti, error = %e, "forwarded but the receipt could not be written");
            let retrying = matches!(e, LedgerError::Unavailable(_));
            if retrying {
                record_later(rail, t, &claims.jti, outcome, draft);
            }
            let e = intentrail_core::Error::from(e);
            return Err(AppError::new(
                ErrorKind::LedgerUnavailable,
                format!(
                    "the action was forwarded (downstream status {}) but its receipt could not be written; {}",
                    resp.status,
                    if retrying {
                        "the rail records it as soon as the ledger is back (as unknown on restart if it stops first)"
                    } else {
                        "it is recorded as unknown on restart"
                    }
                ),
            )
            .with("code_detail", json!(e.kind().code()))
            .acted());
        }
    };
    Ok((resp, receipt))
}

/// The ledger was unavailable when a forwarded action's receipt was written: keep trying in
/// the background (1 s, doubling to 30 s) until it is recorded with its real outcome, so the
/// audit trail does not wait for a restart. Stops when the ledger answers anything but
/// "unavailable" (e.g. the permit was finished after all: its first commit went through).
/// If the rail stops first, start-up recovery records the permit as `unknown`; it is this
/// instance's permit, so no other instance's recovery touches it meanwhile.
fn record_later(rail: &Rail, t: &Tenant, jti: &str, outcome: Outcome, draft: Receipt) {
    let (ledger, signer) = (Arc::clone(&rail.ledger), t.signer.clone());
    let (tenant, jti) = (t.id.clone(), jti.to_owned());
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::time::sleep(wait).await;
            match ledger
                .finish_with_receipt(&tenant, &jti, outcome, draft.clone(), signer.clone())
                .await
            {
                Ok(r) => {
                    tracing::warn!(permit = %jti, receipt = %r.id, "recorded a forwarded action's receipt after the ledger came back");
                    return;
                }
                Err(LedgerError::Unavailable(_)) => {
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    tracing::error!(permit = %jti, error = %e, "stopped retrying a forwarded action's receipt");
                    return;
                }
            }
        }
    });
}

/// Finish a consumed permit whose forward failed, with its receipt; the error carries its id.
async fn finish_failed(
    rail: &Rail,
    t: &Tenant,
    mut r: Receipt,
    jti: &str,
    outcome: Outcome,
    err: AppError,
) -> AppError {
    r.outcome = Some(outcome.as_str().into());
    r.code = Some(err.kind.code().into());
    rail.metrics.decision(err.kind.code());
    match rail
        .ledger
        .finish_with_receipt(&t.id, jti, outcome, r, t.signer.clone())
        .await
    {
        Ok(r) => err.with("receipt_id", json!(r.id)),
        Err(e) => {
            tracing::error!(error = %e, permit = %jti, "cannot finish permit");
            err
        }
    }
}

/// The JSON answer of an execution: `{status, headers, body, permit_id, receipt}`; a
/// downstream 5xx is `502 downstream_error` (recorded already).
pub(crate) fn render(
    permit_id: &str,
    resp: DownstreamResponse,
    receipt: Receipt,
) -> Result<Value, AppError> {
    if resp.status >= 500 {
        return Err(AppError::new(
            ErrorKind::DownstreamError,
            format!("the downstream answered {}", resp.status),
        )
        .with("receipt_id", json!(receipt.id))
        .with("downstream_status", json!(resp.status))
        .acted());
    }
    let mut headers = Map::new();
    for (k, v) in &resp.headers {
        let k = k.to_ascii_lowercase();
        match headers.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push_str(", ");
                s.push_str(v);
            }
            _ => {
                headers.insert(k, Value::String(v.clone()));
            }
        }
    }
    let is_json = resp
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("json"));
    let body = if is_json {
        serde_json::from_slice::<Value>(&resp.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&resp.body).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&resp.body).into_owned())
    };
    Ok(json!({
        "status": resp.status,
        "headers": headers,
        "body": body,
        "permit_id": permit_id,
        "receipt": receipt,
    }))
}
