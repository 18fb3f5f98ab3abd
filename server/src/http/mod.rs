//! The HTTP API: routes, middleware, extractors and the handlers, one module per resource.
//! Handlers are thin: an extractor authenticates the caller and reads the body, a pipeline
//! flow (`crate::pipeline`) does the work, errors are problem+json ([`AppError`]).
//!
//! [`AppError`]: crate::problem::AppError

mod actions;
pub(crate) mod extract;
mod health;
mod middleware;
mod profiles;
mod receipts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{any, get, post, put};
use axum::Extension;
use axum::Router;

pub use self::profiles::MAX_UPLOAD_BYTES;
use crate::rail::Rail;

/// The API router.
pub fn router(rail: Arc<Rail>) -> Router {
    let mutating = Router::new()
        .route("/v1/intents", post(actions::intents))
        .route("/v1/execute", post(actions::execute))
        .route("/v1/actions/{action}", post(actions::one_shot))
        .route("/v1/admin/profiles/{name}", put(profiles::put_profile))
        .route("/v1/proxy/{profile}", any(profiles::proxy))
        .route("/v1/proxy/{profile}/{*path}", any(profiles::proxy))
        .route_layer(from_fn(middleware::detached));
    let mcp = Router::new()
        .route("/mcp", any(crate::mcp::endpoint))
        .layer(Extension(Arc::new(crate::mcp::service(rail.clone()))));
    Router::new()
        .merge(mutating)
        .merge(mcp)
        .route("/v1/actions", get(actions::catalog))
        .route("/v1/agent", get(actions::whoami))
        .route("/v1/receipts", get(receipts::receipts))
        .route("/v1/receipts/{id}", get(receipts::receipt))
        .route("/v1/checkpoint", get(receipts::checkpoint))
        .route("/v1/tenants/{tenant}/jwks.json", get(receipts::jwks))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .fallback(health::not_found)
        .layer(from_fn_with_state(rail.clone(), middleware::count))
        .layer(from_fn(middleware::transfer_codings))
        .with_state(rail)
}

/// Serve the API on `listener` until `shutdown` resolves. Recovers unfinished permits first and
/// refreshes run-time agent keys and profile versions every second.
pub async fn serve(
    rail: Arc<Rail>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match rail.recover().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(count = n, "finished permits left unfinished by a crash"),
        Err(e) => tracing::error!(error = %e, "recovery failed"),
    }
    let refresher = {
        let rail = rail.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                rail.refresh_keys().await;
                rail.refresh_profiles().await;
            }
        })
    };
    let result = axum::serve(listener, router(rail))
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    result
}
