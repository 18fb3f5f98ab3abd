//! Operational routes: `GET /healthz`, `GET /metrics`, and the answer for any other path.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use intentrail_core::ErrorKind;
use serde_json::json;

use crate::problem::AppError;
use crate::rail::Rail;

/// `GET /healthz`: `ok` while the ledger answers.
pub(super) async fn healthz(State(rail): State<Arc<Rail>>) -> Response {
    match rail.ledger.agent_keys().await {
        Ok(_) => Json(json!({"status": "ok"})).into_response(),
        Err(_) => AppError::new(ErrorKind::LedgerUnavailable, "the ledger does not answer")
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text.
pub(super) async fn metrics(State(rail): State<Arc<Rail>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        rail.metrics.render(),
    )
        .into_response()
}

/// Any other path: `404 unsupported_endpoint`.
pub(super) async fn not_found() -> AppError {
    AppError::new(ErrorKind::UnsupportedEndpoint, "no such endpoint")
}
