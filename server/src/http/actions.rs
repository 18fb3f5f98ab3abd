//! Routes of governed actions: `POST /v1/intents`, `POST /v1/execute`,
//! `POST /v1/actions/{action}`, and what an agent may read about them: `GET /v1/actions`,
//! `GET /v1/agent`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::extract::{optional_str, params, required_str, Caller, JsonBody, ACTOR, ANY_KEY, NAMED};
use crate::pipeline::{self, idempotency, target, Intent};
use crate::problem::AppError;
use crate::rail::Rail;

/// `POST /v1/intents` `{action, params, idempotency_key?}` → `201` permit, `202` approval.
pub(super) async fn intents(
    State(rail): State<Arc<Rail>>,
    c: Caller<ACTOR>,
    body: JsonBody,
) -> Result<Response, AppError> {
    let [action, params, idk] = body.members(["action", "params", "idempotency_key"])?;
    let action = required_str(action, "action")?;
    let params = self::params(params)?;
    let idk = optional_str(idk, "idempotency_key")?;
    let (t, p) = (&c.tenant, &c.principal);
    let (status, body) =
        idempotency::run(&rail, t, p, idk.as_deref(), "intent", &params, || async {
            match pipeline::intent(&rail, t, p, &action, &params, idk.as_deref()).await? {
                Intent::Pending(body) => Ok((StatusCode::ACCEPTED, body)),
                Intent::Issued {
                    token,
                    claims,
                    receipt_id,
                } => Ok((
                    StatusCode::CREATED,
                    json!({
                        "permit": token,
                        "permit_id": claims.jti,
                        "payload_hash": claims.ph,
                        "expires_at": claims.exp,
                        "action": claims.act,
                        "tenant": claims.tnt,
                        "receipt_id": receipt_id,
                    }),
                )),
            }
        })
        .await?;
    Ok((status, Json(body)).into_response())
}

/// `POST /v1/execute` `{permit, params}` → `200 {status, headers, body, permit_id, receipt}`
/// (a permit issued under an idempotency key replays its first answer: see
/// [`pipeline::execute`]).
pub(super) async fn execute(
    State(rail): State<Arc<Rail>>,
    c: Caller<ACTOR>,
    body: JsonBody,
) -> Result<Response, AppError> {
    let [token, params] = body.members(["permit", "params"])?;
    let token = required_str(token, "permit")?;
    let params = self::params(params)?;
    let (status, out) = pipeline::execute(&rail, &c.tenant, &c.principal, &token, &params).await?;
    Ok((status, Json(out)).into_response())
}

/// `POST /v1/actions/{action}` `{params, idempotency_key?}`: intent and execute in one round
/// trip.
pub(super) async fn one_shot(
    State(rail): State<Arc<Rail>>,
    Path(action): Path<String>,
    c: Caller<ACTOR>,
    body: JsonBody,
) -> Result<Response, AppError> {
    let [params, idk] = body.members(["params", "idempotency_key"])?;
    let params = self::params(params)?;
    let idk = optional_str(idk, "idempotency_key")?;
    let (status, body) = pipeline::act(
        &rail,
        &c.tenant,
        &c.principal,
        &action,
        &params,
        idk.as_deref(),
    )
    .await?;
    Ok((status, Json(body)).into_response())
}

/// `GET /v1/actions`: the tenant's catalog with each action's JSON Schema.
pub(super) async fn catalog(
    State(rail): State<Arc<Rail>>,
    c: Caller<ANY_KEY>,
) -> Result<Response, AppError> {
    Ok(Json(target::catalog(&rail, &c.tenant)).into_response())
}

/// `GET /v1/agent`: who the key belongs to.
pub(super) async fn whoami(
    State(rail): State<Arc<Rail>>,
    c: Caller<NAMED>,
) -> Result<Response, AppError> {
    let t = &c.tenant;
    Ok(Json(json!({
        "agent_id": c.principal.agent,
        "tenant": t.id,
        "issuer": t.issuer,
        "audience": rail.config.audience,
        "jwks_url": format!("/v1/tenants/{}/jwks.json", t.id),
    }))
    .into_response())
}
