//! Retrying with an idempotency key never runs an action twice, and a caller that hangs up
//! does not cancel an action the rail has started: a retry replays the first answer whenever
//! the first attempt may have reached the downstream (answered 5xx, timed out, broke the
//! connection, or was cut off by the caller), and starts afresh only when nothing was sent.

use std::time::{Duration, Instant};

use crate::support::{code, dead_port, refund_params, Options, TestRail};
use serde_json::{json, Value};

fn one_shot(key: &str, amount: i64) -> Value {
    json!({"params": refund_params(amount), "idempotency_key": key})
}

/// The execution receipts of a permit.
async fn executions(rail: &TestRail, permit_id: &str) -> Vec<Value> {
    rail.receipts()
        .await
        .into_iter()
        .filter(|r| r["kind"] == "execution" && r["permit_id"] == permit_id)
        .collect()
}

#[tokio::test]
async fn a_timed_out_action_is_replayed_never_sent_again() {
    let rail = TestRail::start(Options {
        refund_path: "/slow".into(),
        timeout_ms: 400,
        ..Options::default()
    })
    .await;
    let (s1, b1) = rail
        .post("/v1/actions/money.refund", one_shot("t-1", 10))
        .await;
    assert_eq!((s1, code(&b1)), (504, "downstream_timeout"), "{b1}");
    let first = b1["receipt_id"].as_str().unwrap().to_string();
    // The outcome is unknown: the downstream may have refunded. A retry must not send again.
    let (s2, b2) = rail
        .post("/v1/actions/money.refund", one_shot("t-1", 10))
        .await;
    assert_eq!((s2, code(&b2)), (504, "downstream_timeout"), "{b2}");
    assert_eq!(
        b2["receipt_id"],
        first.as_str(),
        "the retry replays the first answer"
    );
    assert_eq!(rail.log.count(), 1, "sent exactly once");
    // The replay keeps the problem+json shape.
    let (s3, _, ct) = rail
        .raw(
            &rail.api_key,
            Some("bot-1"),
            "/v1/actions/money.refund",
            serde_json::to_vec(&one_shot("t-1", 10)).unwrap(),
        )
        .await;
    assert_eq!((s3, ct.as_str()), (504, "application/problem+json"));
    assert_eq!(rail.log.count(), 1);
}

#[tokio::test]
async fn a_downstream_5xx_is_replayed_never_sent_again() {
    let rail = TestRail::start(Options {
        refund_path: "/fail".into(),
        ..Options::default()
    })
    .await;
    let (s1, b1) = rail
        .post("/v1/actions/money.refund", one_shot("f-1", 10))
        .await;
    assert_eq!((s1, code(&b1)), (502, "downstream_error"), "{b1}");
    let (s2, b2) = rail
        .post("/v1/actions/money.refund", one_shot("f-1", 10))
        .await;
    assert_eq!((s2, code(&b2)), (502, "downstream_error"), "{b2}");
    assert_eq!(b2["receipt_id"], b1["receipt_id"]);
    assert_eq!(b2["downstream_status"], 500);
    assert_eq!(rail.log.count(), 1, "sent exactly once");
    // Another key is another action.
    let (s3, b3) = rail
        .post("/v1/actions/money.refund", one_shot("f-2", 10))
        .await;
    assert_eq!((s3, code(&b3)), (502, "downstream_error"));
    assert_ne!(b3["receipt_id"], b1["receipt_id"]);
    assert_eq!(rail.log.count(), 2);
}

#[tokio::test]
async fn nothing_sent_leaves_the_key_free_for_a_real_retry() {
    let dead = dead_port().await;
    let rail = TestRail::start(Options {
        base_url: Some(format!("http://{dead}")),
        ..Options::default()
    })
    .await;
    let (s1, b1) = rail
        .post("/v1/actions/money.refund", one_shot("n-1", 10))
        .await;
    assert_eq!(s1, 502, "{b1}");
    let (s2, b2) = rail
        .post("/v1/actions/money.refund", one_shot("n-1", 10))
        .await;
    assert_eq!(s2, 502, "{b2}");
    // Refused before anything was sent: the retry was a new attempt with its own receipt.
    assert_ne!(b1["receipt_id"], b2["receipt_id"], "{b1} {b2}");
    let outcomes: Vec<Value> = rail
        .receipts()
        .await
        .into_iter()
        .filter(|r| r["kind"] == "execution")
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![json!("not_forwarded"), json!("not_forwarded")]
    );
}

#[tokio::test]
async fn a_caller_that_hangs_up_does_not_cancel_a_started_action() {
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
        .post(format!("{}/v1/actions/money.refund", rail.url))
        .bearer_auth(&rail.api_key)
        .header("IntentRail-Agent", "bot-1")
        .json(&one_shot("h-1", 10))
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the caller gave up before the downstream answered"
    );
    assert_eq!(rail.log.count(), 1, "the action had reached the downstream");

    // While the first attempt runs, a retry is told so (and sends nothing).
    let (s, b) = rail
        .post("/v1/actions/money.refund", one_shot("h-1", 10))
        .await;
    assert_eq!((s, code(&b)), (409, "request_in_progress"), "{b}");

    // The rail finishes the action anyway: the retry then replays its answer.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (s, b) = loop {
        let (s, b) = rail
            .post("/v1/actions/money.refund", one_shot("h-1", 10))
            .await;
        if s != 409 || Instant::now() > deadline {
            break (s, b);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], 200);
    let permit_id = b["permit_id"].as_str().unwrap().to_string();
    let execs = executions(&rail, &permit_id).await;
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(execs[0]["outcome"], "success");
    assert_eq!(rail.log.count(), 1, "sent exactly once");
    rail.verify_chain().await;
}
