//! `/mcp` (MCP server mode) at the HTTP level: bodies are checked as every API body is before
//! the MCP SDK reads them, keys as on `/v1/actions` (an admin key cannot act), and a client
//! that hangs up mid-call does not cut the action: it is forwarded once and receipted once.
//! The protocol itself is driven by the official MCP SDKs' clients (bindings-python
//! `test_rail_mcp.py`, bindings-node `mcp.test.js`).

use std::time::{Duration, Instant};

use crate::support::{code, refund_params, Options, TestRail};
use serde_json::{json, Value};

fn tool_call(arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "money_refund", "arguments": arguments}})
}

/// POST `body` to `/mcp` with `key` (and no agent header, as MCP clients send).
async fn mcp(rail: &TestRail, key: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/mcp", rail.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bodies_and_keys_are_checked_before_the_sdk_reads_them() {
    let rail = TestRail::start(Options::default()).await;
    let call = serde_json::to_vec(&tool_call(refund_params(10))).unwrap();
    // The agent's own key, without its agent header: a tool result.
    let (s, b) = mcp(&rail, &rail.api_key, call.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["result"]["isError"], false, "{b}");
    assert_eq!(rail.log.count(), 1);
    // The admin key administers, it never acts.
    let (s, b) = mcp(&rail, &rail.admin_key, call.clone()).await;
    assert_eq!((s, code(&b)), (403, "forbidden"), "{b}");
    // A duplicate key is refused, not resolved by the SDK's parser.
    let dup = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"money_refund",
        "arguments":{"payment_id":"p","amount":5,"amount":50000,"currency":"usd"}}}"#;
    let (s, b) = mcp(&rail, &rail.api_key, dup.to_vec()).await;
    assert_eq!((s, code(&b)), (400, "invalid_json"), "{b}");
    // A body over the rail's bound.
    let mut big = tool_call(refund_params(10));
    big["params"]["arguments"]["reason"] = json!("x".repeat(300_000));
    let (s, b) = mcp(&rail, &rail.api_key, serde_json::to_vec(&big).unwrap()).await;
    assert_eq!((s, code(&b)), (413, "payload_too_large"), "{b}");
    assert_eq!(rail.log.count(), 1, "nothing else forwarded");
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_call_gets_one_forward_and_one_receipt() {
    let rail = TestRail::start(Options {
        refund_path: "/slow".into(), // answers after 3 s
        timeout_ms: 10_000,
        ..Options::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let sent = impatient
        .post(format!("{}/mcp", rail.url))
        .bearer_auth(&rail.api_key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&tool_call(refund_params(10)))
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the client gave up before the downstream answered"
    );
    // The rail finishes the action anyway, with its execution receipt.
    let deadline = Instant::now() + Duration::from_secs(15);
    let executions = loop {
        let done: Vec<Value> = rail
            .receipts()
            .await
            .into_iter()
            .filter(|r| r["kind"] == "execution")
            .collect();
        if !done.is_empty() || Instant::now() > deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(executions.len(), 1, "{executions:?}");
    assert_eq!(executions[0]["outcome"], "success");
    assert_eq!(rail.log.count(), 1, "sent exactly once");
    rail.verify_chain().await;
}
