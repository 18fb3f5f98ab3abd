//! The agent's side of HTTP: a JSON request as an agent, a request written on a socket as it
//! is, and the pieces of a governed refund.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// POST `body` as JSON to `url` with `key` as agent `agent`: the status and the JSON answer
/// (`Null` when there is none).
pub async fn post_json(
    c: &reqwest::Client,
    url: &str,
    key: &str,
    agent: &str,
    body: &Value,
) -> (u16, Value) {
    let r = c
        .post(url)
        .bearer_auth(key)
        .header("IntentRail-Agent", agent)
        .json(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Write `head` (request line and headers, CRLF-separated, without the blank line) and `body`
/// on a socket to `addr` as they are, closing after the answer; returns the status and the
/// JSON body (`Null` when there is none).
pub async fn raw_http(addr: &str, head: &str, body: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{head}\r\nhost: {addr}\r\nconnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The params of a refund of `amount` (payment `pay_1`, USD).
pub fn refund_params(amount: i64) -> Value {
    json!({"payment_id": "pay_1", "amount": amount, "currency": "usd"})
}

/// A problem's `code`.
pub fn code(b: &Value) -> &str {
    b["code"].as_str().unwrap_or("<none>")
}

/// A single MCP `tools/call` request to `{rail}/mcp` with the agent's key, in the stateless
/// protocol revision (2026-07-28: no session, the method and tool name in headers, the
/// protocol version and client capabilities in `_meta`), as one HTTP request.
pub fn mcp_tool_call(
    c: &reqwest::Client,
    rail: &str,
    key: &str,
    tool: &str,
    arguments: &Value,
) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    c.post(format!("{rail}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
}
