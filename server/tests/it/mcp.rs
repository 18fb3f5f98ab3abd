//! `/mcp` (MCP server mode) at the HTTP level: bodies are checked as every API body is before
//! the MCP SDK reads them, keys as on `/v1/actions` (an admin key cannot act), and a client
//! that hangs up mid-call does not cut the action: it is forwarded once and receipted once.
//! The protocol itself is driven by the official MCP SDKs' clients (bindings-python
//! `test_rail_mcp.py`, bindings-node `mcp.test.js`).

use std::time::{Duration, Instant};

use crate::support::{code, mcp_tool_call, refund_params, Options, TestRail};
use serde_json::{json, Value};

/// The status and JSON answer of one tool call with `key`, the body edited by `edit`.
async fn call(rail: &TestRail, key: &str, edit: impl FnOnce(&mut Value)) -> (u16, Value) {
    let c = reqwest::Client::new();
    let rb = mcp_tool_call(&c, &rail.url, key, "money_refund", &refund_params(10));
    let mut req = rb.build().unwrap();
    let mut body: Value = serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
    edit(&mut body);
    let bytes = serde_json::to_vec(&body).unwrap();
    *req.body_mut() = Some(raw_body(&bytes));
    let r = c.execute(req).await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// `bytes` as they are (duplicate keys survive).
fn raw_body(bytes: &[u8]) -> reqwest::Body {
    reqwest::Body::from(bytes.to_vec())
}

#[tokio::test]
async fn bodies_and_keys_are_checked_before_the_sdk_reads_them() {
    let rail = TestRail::start(Options::default()).await;
    // The agent's own key, without its agent header: a tool result.
    let (s, b) = call(&rail, &rail.api_key, |_| {}).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["result"]["isError"], false, "{b}");
    assert_eq!(rail.log.count(), 1);
    // The admin key administers, it never acts.
    let (s, b) = call(&rail, &rail.admin_key, |_| {}).await;
    assert_eq!((s, code(&b)), (403, "forbidden"), "{b}");
    // A duplicate key is refused, not resolved by the SDK's parser.
    let c = reqwest::Client::new();
    let mut req = mcp_tool_call(&c, &rail.url, &rail.api_key, "money_refund", &json!({}))
        .build()
        .unwrap();
    let text = String::from_utf8(req.body().unwrap().as_bytes().unwrap().to_vec()).unwrap();
    let dup = text.replace(
        r#""arguments":{}"#,
        r#""arguments":{"payment_id":"p","amount":5,"amount":50000,"currency":"usd"}"#,
    );
    assert_ne!(dup, text);
    *req.body_mut() = Some(raw_body(dup.as_bytes()));
    let r = c.execute(req).await.unwrap();
    let s = r.status().as_u16();
    let b: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!((s, code(&b)), (400, "invalid_json"), "{b}");
    // A body over the rail's bound.
    let (s, b) = call(&rail, &rail.api_key, |b| {
        b["params"]["arguments"]["reason"] = json!("x".repeat(300_000));
    })
    .await;
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
    let sent = mcp_tool_call(
        &impatient,
        &rail.url,
        &rail.api_key,
        "money_refund",
        &refund_params(10),
    )
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
    // The receipts say how the call came: MCP, its JSON-RPC request id, no session (the
    // stateless revision).
    let via: Vec<Value> = rail
        .receipts()
        .await
        .into_iter()
        .map(|r| r["via"].clone())
        .collect();
    assert_eq!(via.len(), 2, "the decision and the execution: {via:?}");
    assert!(
        via.iter()
            .all(|v| *v == json!({"protocol": "mcp", "request": "1"})),
        "{via:?}"
    );
    assert_eq!(rail.log.count(), 1, "sent exactly once");
    rail.verify_chain().await;
}
