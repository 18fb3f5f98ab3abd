//! `intentrail mcp`: an MCP server on stdio for clients that only launch local processes. It
//! holds nothing but the agent's IntentRail key and relays every JSON-RPC message to a rail's
//! `/mcp`, so a stdio client gets exactly what a Streamable HTTP client gets: the same tools,
//! the same pipeline, the same refusals.
//!
//! Rules:
//! - One message per line (the MCP stdio transport). A line longer than [`MAX_LINE`] bytes is
//!   skipped (and logged): its id cannot be read.
//! - Requests run concurrently (at most [`MAX_IN_FLIGHT`]), answers are written whole, one per
//!   line, in the order they complete.
//! - The protocol version and the session the rail agreed at `initialize` are sent with every
//!   later request (`MCP-Protocol-Version`, `Mcp-Session-Id`); the session's notifications
//!   (e.g. `notifications/tools/list_changed`) are relayed from its event stream.
//! - A rail that refuses the request itself (a bad key: `401`, a bad body: `400`) or cannot be
//!   reached is answered as a JSON-RPC error to the request, with the rail's problem rendered
//!   as text; nothing is written for a notification.
//! - The key is never written to stdout or stderr.

use std::sync::Arc;

use intentrail_core::explain;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};

/// The longest message line read.
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// The most requests relayed at once.
pub const MAX_IN_FLIGHT: usize = 32;

/// Where to relay: the rail and the agent's key.
#[derive(Clone)]
pub struct Relay {
    client: reqwest::Client,
    endpoint: String,
    key: String,
    agent: Option<String>,
    /// What `initialize` agreed: the protocol version and the session (if the rail keeps one).
    agreed: Arc<std::sync::RwLock<Agreed>>,
}

/// What the rail answered to `initialize`.
#[derive(Default, Clone)]
struct Agreed {
    version: Option<String>,
    session: Option<String>,
}

impl Relay {
    /// A relay to `{rail_url}/mcp` with the agent's `key` (and its id, sent as
    /// `IntentRail-Agent` when given).
    pub fn new(rail_url: &str, key: String, agent: Option<String>) -> Result<Relay, String> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Relay {
            client,
            endpoint: format!("{}/mcp", rail_url.trim_end_matches('/')),
            key,
            agent,
            agreed: Arc::default(),
        })
    }

    /// Relay the messages of `input` until it ends, writing answers to `output`.
    pub async fn run(
        &self,
        input: impl tokio::io::AsyncRead + Unpin,
        mut output: impl AsyncWrite + Unpin,
    ) -> Result<(), String> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(MAX_IN_FLIGHT);
        let writer = async move {
            while let Some(mut line) = rx.recv().await {
                line.push(b'\n');
                output.write_all(&line).await?;
                output.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let reader = async {
            let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let mut lines = BufReader::new(input);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = read_line(&mut lines, &mut buf).await?;
                if n == 0 {
                    break;
                }
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let (relay, tx, message) = (self.clone(), tx.clone(), std::mem::take(&mut buf));
                tokio::spawn(async move {
                    if let Some(answer) = relay.relay(&message, &tx).await {
                        let _ = tx.send(answer).await;
                    }
                    drop(permit);
                });
            }
            drop(tx);
            Ok::<(), std::io::Error>(())
        };
        let (read, write) = tokio::join!(reader, writer);
        read.and(write).map_err(|e| format!("stdio: {e}"))
    }

    /// A request to the rail's `/mcp` with the key and what `initialize` agreed.
    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, &self.endpoint)
            .bearer_auth(&self.key)
            .header("accept", "application/json, text/event-stream");
        if let Some(agent) = &self.agent {
            rb = rb.header("IntentRail-Agent", agent);
        }
        let agreed = self.agreed.read().map(|a| a.clone()).unwrap_or_default();
        if let Some(v) = agreed.version {
            rb = rb.header("mcp-protocol-version", v);
        }
        if let Some(id) = agreed.session {
            rb = rb.header("mcp-session-id", id);
        }
        rb
    }

    /// The answer line to one message line, if it needs one (`out` also takes the rail's
    /// notifications once a session is open).
    async fn relay(&self, line: &[u8], out: &mpsc::Sender<Vec<u8>>) -> Option<Vec<u8>> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return None;
        }
        if line.len() > MAX_LINE {
            tracing::warn!("skipped a message longer than {MAX_LINE} bytes");
            return None;
        }
        let message: Option<Value> = serde_json::from_slice(trimmed).ok();
        let id = message.as_ref().and_then(|m| m.get("id")).cloned();
        let sent = self
            .request(reqwest::Method::POST)
            .header("content-type", "application/json")
            .body(trimmed.to_vec())
            .send()
            .await;
        let answer = match sent {
            Ok(r) => r,
            Err(e) => {
                let text = format!(
                    "rail_unavailable: cannot reach the rail: {}",
                    e.without_url()
                );
                return id.map(|id| rpc_error(id, -32603, &text));
            }
        };
        let status = answer.status();
        let session = answer
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let is_json = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let body = answer.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let text = match serde_json::from_slice::<Value>(&body) {
                Ok(problem) if problem.get("code").is_some() => explain::problem(&problem),
                _ => format!(
                    "the rail answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            };
            return id.map(|id| rpc_error(id, -32600, &text));
        }
        let payload = if is_json {
            (!body.is_empty()).then(|| body.to_vec())
        } else {
            sse_data(&body)
        };
        if let Some(p) = &payload {
            if self.remember(message.as_ref(), p, session) {
                let (relay, out) = (self.clone(), out.clone());
                tokio::spawn(async move { relay.listen(out).await });
            }
        }
        payload
    }

    /// After `initialize`, keep the protocol version and session the rail agreed to; `true` if
    /// a session was opened (its notifications are then listened for).
    fn remember(&self, request: Option<&Value>, answer: &[u8], session: Option<String>) -> bool {
        if request
            .and_then(|m| m.get("method"))
            .and_then(Value::as_str)
            != Some("initialize")
        {
            return false;
        }
        let version = serde_json::from_slice::<Value>(answer).ok().and_then(|a| {
            a.pointer("/result/protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let opened = session.is_some();
        if let Ok(mut a) = self.agreed.write() {
            *a = Agreed { version, session };
        }
        opened
    }

    /// Relay the rail's notifications of the session (its `GET /mcp` event stream) until it
    /// ends.
    async fn listen(&self, out: mpsc::Sender<Vec<u8>>) {
        let Ok(mut r) = self.request(reqwest::Method::GET).send().await else {
            return;
        };
        if !r.status().is_success() {
            return;
        }
        let mut pending: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = r.chunk().await {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = pending.drain(..end + 2).collect();
                if let Some(data) = sse_data(&event) {
                    if out.send(data).await.is_err() {
                        return;
                    }
                }
            }
            if pending.len() > MAX_LINE {
                return; // an event larger than any message: not a stream we can follow
            }
        }
    }
}

/// Read one line (without its `\n`), keeping at most [`MAX_LINE`] + 1 bytes of it.
async fn read_line(
    r: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE + 1).saturating_sub(buf.len());
        let content = if done { take - 1 } else { take };
        buf.extend_from_slice(&chunk[..content.min(room)]);
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

/// The `data:` payloads of a server-sent event stream, joined as lines.
fn sse_data(body: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(body);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n").into_bytes())
}

/// A JSON-RPC error answer line.
fn rpc_error(id: Value, code: i64, message: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_read_whole_and_bounded() {
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("a\n{long}\nb");
        let mut r = BufReader::new(input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 2);
        assert_eq!(buf, b"a");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), MAX_LINE + 11);
        assert_eq!(
            buf.len(),
            MAX_LINE + 1,
            "kept up to one byte past the bound"
        );
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 1);
        assert_eq!(buf, b"b");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 0);
    }

    #[test]
    fn event_streams_and_errors_become_lines() {
        let sse = b"event: message\ndata: {\"id\":1}\n\n";
        assert_eq!(sse_data(sse).unwrap(), b"{\"id\":1}");
        assert_eq!(sse_data(b": ping\n\n"), None);
        let e: Value = serde_json::from_slice(&rpc_error(json!(3), -32600, "no")).unwrap();
        assert_eq!(e["id"], 3);
        assert_eq!(e["error"]["message"], "no");
    }
}
