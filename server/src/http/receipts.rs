//! Routes of the audit trail: `GET /v1/receipts`, `GET /v1/receipts/{id}`,
//! `GET /v1/checkpoint`, `GET /v1/tenants/{t}/jwks.json`.
//!
//! Guarantees: an agent sees only its own receipts; the admin key sees the tenant's chain and
//! may get a signed checkpoint of its head.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use intentrail_core::checkpoint::Checkpoint;
use intentrail_core::ErrorKind;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, ANY_KEY};
use crate::auth::Principal;
use crate::problem::AppError;
use crate::rail::{now_ms, Rail};

/// Whether `p` may see receipt `r`.
fn visible(p: &Principal, r: &Value) -> bool {
    p.admin || r["agent"].as_str() == Some(p.agent.as_str())
}

/// `GET /v1/receipts/{id}`.
pub(super) async fn receipt(
    State(rail): State<Arc<Rail>>,
    Path(id): Path<String>,
    c: Caller<ANY_KEY>,
) -> Result<Response, AppError> {
    let r = rail
        .ledger
        .receipt(&c.principal.tenant, &id)
        .await?
        .filter(|r| visible(&c.principal, r))
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "no such receipt"))?;
    Ok(Json(r).into_response())
}

/// The query of `GET /v1/receipts`.
#[derive(Deserialize)]
pub(super) struct After {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/receipts?after=N&limit=M` (at most 1,000 per page).
pub(super) async fn receipts(
    State(rail): State<Arc<Rail>>,
    c: Caller<ANY_KEY>,
    q: Result<Query<After>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(q) = q.map_err(|_| {
        AppError::new(
            ErrorKind::InvalidRequest,
            "after and limit must be integers",
        )
    })?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = rail
        .ledger
        .receipts_after(&c.principal.tenant, q.after, limit)
        .await?;
    let next = rows
        .last()
        .and_then(|r| r["seq"].as_u64())
        .unwrap_or(q.after);
    let rows: Vec<Value> = rows
        .into_iter()
        .filter(|r| visible(&c.principal, r))
        .collect();
    Ok(Json(json!({"receipts": rows, "next_after": next})).into_response())
}

/// `GET /v1/checkpoint` (admin key): the head of the tenant's chain, signed now by the tenant
/// key, for an auditor or a witness to keep (`intentrail receipts verify --checkpoint`).
pub(super) async fn checkpoint(
    State(rail): State<Arc<Rail>>,
    c: Caller<ANY_KEY>,
) -> Result<Response, AppError> {
    c.admin("a checkpoint")?;
    let t = &c.tenant;
    let (seq, head) = rail
        .ledger
        .chain_head(&t.id)
        .await?
        .unwrap_or_else(|| (0, intentrail_core::GENESIS_PREV.to_owned()));
    let at = u64::try_from(now_ms()).unwrap_or_default();
    let cp = Checkpoint::sign(&t.id, seq, &head, at, &t.signer)?;
    Ok(Json(cp).into_response())
}

/// `GET /v1/tenants/{tenant}/jwks.json`: the tenant's published keys.
pub(super) async fn jwks(
    State(rail): State<Arc<Rail>>,
    Path(tenant): Path<String>,
) -> Result<Response, AppError> {
    let t = rail
        .tenants
        .get(&tenant)
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "no such tenant"))?;
    Ok(Json(t.jwks.clone()).into_response())
}
