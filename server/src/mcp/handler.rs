//! The MCP handler: `tools/list` from the caller's catalog, `tools/call` through the one-shot
//! pipeline (see the module's guarantees).

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::StatusCode;
use intentrail_core::hash::sha256_tagged;
use intentrail_core::{explain, Via};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, Extensions,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use rmcp::ServerHandler;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::tools::{is_tool_name_of, Tools};
use crate::http::extract::{Caller, KEY_ACTOR};
use crate::pipeline::{self, target};
use crate::problem::AppError;
use crate::rail::{Rail, Tenant};

/// How often a session's watcher looks whether its session has ended.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// The caller of an MCP request, as [`super::endpoint`] authenticated it.
type McpCaller = Caller<KEY_ACTOR>;

/// The rail as an MCP server.
#[derive(Clone)]
pub(crate) struct RailMcp {
    rail: Arc<Rail>,
}

impl RailMcp {
    pub(crate) fn new(rail: Arc<Rail>) -> Self {
        RailMcp { rail }
    }
}

/// The caller [`super::endpoint`] authenticated, from an MCP message's extensions.
fn caller(extensions: &Extensions) -> Result<McpCaller, ErrorData> {
    extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<McpCaller>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("the request was not authenticated", None))
}

/// The action a tool name stands for: the one action of the caller's catalog whose tool name
/// it is (none when two share it).
fn action_for(rail: &Rail, t: &Tenant, tool: &str) -> Option<String> {
    let mut found: Vec<String> = t
        .bindings
        .keys()
        .filter(|a| is_tool_name_of(tool, a))
        .cloned()
        .collect();
    for name in t.profiles.keys() {
        // A profile's tools start with its name's tool name and `_` (from the `.`).
        let prefix = tool.get(..name.len() + 1);
        if !prefix.is_some_and(|p| is_tool_name_of(p, &format!("{name}."))) {
            continue;
        }
        if let Some(p) = target::latest_profile(rail, t, name) {
            found.extend(
                p.operations
                    .keys()
                    .filter(|a| is_tool_name_of(tool, a))
                    .cloned(),
            );
        }
    }
    match found.len() {
        1 => found.pop(),
        _ => None,
    }
}

/// The longest request id recorded as it is on a receipt (a longer one is recorded by its
/// hash: the id is the client's, the receipt stays small).
const MAX_RECORDED_ID: usize = 128;

/// How an MCP call reached the rail: its session (if any) and its JSON-RPC request id.
fn via(ctx: &RequestContext<RoleServer>) -> Via {
    let session = ctx
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .map(|s| recorded(s.to_owned()));
    let request = serde_json::to_string(&ctx.id).ok().map(recorded);
    Via {
        protocol: "mcp".into(),
        session,
        request,
    }
}

/// `s` as a receipt records it: as it is, or its hash when longer than [`MAX_RECORDED_ID`].
fn recorded(s: String) -> String {
    if s.len() <= MAX_RECORDED_ID {
        s
    } else {
        sha256_tagged(s.as_bytes())
    }
}

/// A refusal as a tool result a model can act on.
fn refusal(problem: &Value) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(explain::problem(problem))])
}

impl ServerHandler for RailMcp {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        );
        info.server_info = Implementation::new("intentrail", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Each tool is a governed action: the rail checks its arguments against the \
             action's schema and the tenant's policies, executes it once, and records a signed \
             receipt. A refused call says why and whether calling again can help."
                .to_owned(),
        );
        info
    }

    /// A session has begun: tell its client when its tenant's catalog gains a profile
    /// version, until the session ends.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(c) = caller(&context.extensions) else {
            return;
        };
        let tenant = c.tenant.id.clone();
        let mut changes = self.rail.profiles.subscribe();
        let peer = context.peer;
        tokio::spawn(async move {
            let mut check = tokio::time::interval(SESSION_CHECK);
            loop {
                let ours = tokio::select! {
                    change = changes.recv() => match change {
                        Ok(t) => t == tenant,
                        Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = check.tick() => false,
                };
                if peer.is_transport_closed() {
                    return; // the session is gone
                }
                if ours && peer.notify_tool_list_changed().await.is_err() {
                    return;
                }
            }
        });
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let c = caller(&ctx.extensions)?;
        let catalog = target::catalog(&self.rail, &c.tenant);
        Ok(ListToolsResult::with_all_items(
            Tools::of_catalog(&catalog).list,
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut c = caller(&ctx.extensions)?;
        c.principal.via = Some(via(&ctx));
        let Some(action) = action_for(&self.rail, &c.tenant, &request.name) else {
            return Err(ErrorData::invalid_params(
                format!("no tool {:?}: tools/list names them", request.name),
                None,
            ));
        };
        let params = Value::Object(request.arguments.unwrap_or_default());
        let rail = self.rail.clone();
        // Its own task: a client that hangs up does not cut the action.
        let run = tokio::spawn(async move {
            pipeline::act(&rail, &c.tenant, &c.principal, &action, &params, None).await
        });
        let result = match run.await {
            Ok(Ok((StatusCode::OK, answer))) => {
                let seen = json!({
                    "status": answer["status"],
                    "body": answer["body"],
                    "receipt_id": answer["receipt"]["id"],
                });
                CallToolResult::structured(seen)
            }
            Ok(Ok((_, pending))) => refusal(&pending),
            Ok(Err(e)) => refusal(&e.answer()),
            Err(e) => refusal(&AppError::internal(format!("tool call task failed: {e}")).answer()),
        };
        Ok(result.into())
    }
}
