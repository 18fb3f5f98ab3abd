//! Middleware on every route: request metrics, refusing transfer codings the server does not
//! implement, and running mutating routes detached from their connection.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use intentrail_core::ErrorKind;

use crate::problem::AppError;
use crate::rail::Rail;

/// Count each request by its route template and status.
pub(super) async fn count(State(rail): State<Arc<Rail>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    rail.metrics.request(&route, resp.status().as_u16());
    resp
}

/// Run a mutating request in its own task, so a caller that hangs up (or a proxy that times
/// out) cannot cancel it half way: hyper drops a handler's future when its connection closes,
/// which would leave a consumed permit without its execution receipt and an idempotency key
/// in progress. Detached, the action finishes, is receipted, and a retry replays its answer.
pub(super) async fn detached(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => AppError::internal(format!("request task failed: {e}")).into_response(),
    }
}

/// Refuse a request whose `Transfer-Encoding` names any coding but `chunked` (RFC 9112 §6.1):
/// the server decodes only chunked framing, so `gzip, chunked` would otherwise be read as
/// plain chunked and its compressed bytes parsed as the body.
pub(super) async fn transfer_codings(req: Request, next: Next) -> Response {
    let unknown = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .find(|c| c != "chunked");
    match unknown {
        Some(c) => AppError::new(
            ErrorKind::InvalidRequest,
            format!(
                "Transfer-Encoding {:?} is not supported: send the body plain or chunked",
                c.chars().take(40).collect::<String>()
            ),
        )
        .into_response(),
        None => next.run(req).await,
    }
}
