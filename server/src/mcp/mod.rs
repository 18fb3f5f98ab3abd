//! MCP server mode: the agent's catalog as MCP tools at `/mcp` (Streamable HTTP, on the
//! official Rust SDK `rmcp`), each `tools/call` the one-shot governed pipeline.
//!
//! Guarantees:
//! - The agent key authenticates every HTTP request before any MCP message is read (`401`
//!   problem+json otherwise); an admin key cannot act (`403`), as on `/v1/actions`.
//! - Clients of the session-based protocol revisions (up to 2025-11-25) get a session, so the
//!   rail can tell them `notifications/tools/list_changed` when a new profile version of their
//!   tenant arrives; at most [`MAX_SESSIONS`] are kept (`503 rail_unavailable` beyond), an idle
//!   one is closed after 5 minutes. Newer revisions are served statelessly.
//! - A request body is read as every API body is: at most `max_body_bytes`, strict JSON (`400
//!   invalid_json` otherwise), before the SDK parses it.
//! - `tools/list` is the agent's catalog (`GET /v1/actions`) as tools ([`tools`]).
//! - `tools/call` runs exactly `POST /v1/actions/{action}` with the arguments as params, in
//!   its own task: a client that hangs up does not cut an action between forward and receipt.
//!   A refusal is a tool result with `isError` whose text is core's rendering of the problem
//!   (code, detail, rules, violations with pointers, what calling again can do); a protocol
//!   error only for a tool name that is no action.

mod handler;
pub mod stdio;
pub mod tools;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use intentrail_core::{json, ErrorKind};

use crate::http::extract::{read_body, Caller, KEY_ACTOR};
use crate::problem::AppError;
use crate::rail::Rail;

pub(crate) use self::handler::RailMcp;

/// The most MCP sessions a rail keeps at once (each is a task and a channel; an idle one is
/// closed after 5 minutes, rmcp's default).
pub const MAX_SESSIONS: usize = 10_000;

/// The MCP service of `/mcp` and its sessions, created once per rail.
pub(crate) struct Mcp {
    service: StreamableHttpService<RailMcp, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
}

/// The Streamable HTTP service for `rail`.
pub(crate) fn service(rail: Arc<Rail>) -> Mcp {
    let config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_max_request_body_bytes(rail.config.max_body_bytes)
        // Every request carries an agent key, checked before the SDK sees it: the
        // DNS-rebinding guard for unauthenticated local servers has nothing to protect here.
        .disable_allowed_hosts();
    let sessions = Arc::new(LocalSessionManager::default());
    Mcp {
        service: StreamableHttpService::new(
            move || Ok(RailMcp::new(rail.clone())),
            sessions.clone(),
            config,
        ),
        sessions,
    }
}

/// `POST`/`GET`/`DELETE /mcp`: authenticate, then hand the request to the MCP service with
/// the caller in its extensions.
pub(crate) async fn endpoint(
    Extension(mcp): Extension<Arc<Mcp>>,
    State(rail): State<Arc<Rail>>,
    caller: Caller<KEY_ACTOR>,
    req: Request,
) -> Result<Response, AppError> {
    let (mut parts, body) = req.into_parts();
    // The body is read and checked as every API body is (bounded, strict JSON: duplicate
    // keys, lone surrogates and out-of-range integers are refused) before the SDK parses it.
    let bytes = read_body(&parts.headers, body, rail.config.max_body_bytes).await?;
    if !bytes.is_empty() {
        let message = json::parse_strict(&bytes)?;
        let opens_session = message.get("method").and_then(|m| m.as_str()) == Some("initialize")
            && !parts.headers.contains_key("mcp-session-id");
        if opens_session && mcp.sessions.sessions.read().await.len() >= MAX_SESSIONS {
            return Err(AppError::new(
                ErrorKind::RailUnavailable,
                "the rail holds as many MCP sessions as it keeps; try again later",
            ));
        }
    }
    parts.extensions.insert(caller);
    Ok(mcp
        .service
        .handle(Request::from_parts(parts, Body::from(bytes)))
        .await
        .map(Body::new)
        .into_response())
}
