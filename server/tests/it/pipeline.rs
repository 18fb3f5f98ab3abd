//! The governed path over real HTTP: the five failures of the design, permit attacks at the
//! edge, bad input, downstream faults, and the receipt chain.

use crate::support::{code, dead_port, refund_params, resetting_downstream, Options, TestRail};
use intentrail_core::keys::SigningKey;
use intentrail_core::permit::{self, PermitClaims};
use serde_json::{json, Value};

// ---- the five failures -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_agent_never_sees_the_downstream_secret() {
    let rail = TestRail::start(Options::default()).await;
    let mut seen = String::new();
    for body in [
        json!({"params": refund_params(500)}),
        json!({"params": refund_params(50_000)}),
        json!({"params": {"amount": "x"}}),
    ] {
        let (_, b) = rail.post("/v1/actions/money.refund", body).await;
        seen.push_str(&b.to_string());
    }
    seen.push_str(&serde_json::to_string(&rail.receipts().await).unwrap());
    let (_, m) = rail.get(&rail.admin_key, None, "/metrics").await;
    seen.push_str(&m.to_string());
    assert!(rail.log.count() >= 1);
    // The downstream did get the secret, from the rail.
    assert!(rail
        .log
        .all()
        .iter()
        .all(|s| s.authorization().as_deref() == Some(&*format!("Bearer {}", rail.secret))));
    assert!(!seen.contains(&rail.secret), "the secret reached the agent");
    assert!(
        !seen.contains(&rail.secret[8..]),
        "part of the secret reached the agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_changed_params_are_refused_and_nothing_is_forwarded() {
    let rail = TestRail::start(Options::default()).await;
    let params = refund_params(500);
    let token = rail.permit(&params).await;
    let mut tampered = params.clone();
    tampered["amount"] = json!(501);
    let (s, b) = rail
        .post("/v1/execute", json!({"permit": token, "params": tampered}))
        .await;
    assert_eq!((s, code(&b)), (403, "payload_hash_mismatch"), "{b}");
    assert!(b["receipt_id"].is_string());
    // Key order and whitespace are not tampering: same canonical form.
    let same = json!({"currency": "usd", "amount": 500, "payment_id": "pay_1"});
    let (s, b) = rail
        .post("/v1/execute", json!({"permit": token, "params": same}))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        rail.log.count(),
        1,
        "only the approved request reached the downstream"
    );
    // The bytes forwarded are the canonical bytes the permit hashed.
    assert_eq!(
        rail.log.all()[0].body,
        r#"{"amount":500,"currency":"usd","payment_id":"pay_1"}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_fifty_concurrent_executes_forward_exactly_once() {
    let rail = std::sync::Arc::new(TestRail::start(Options::default()).await);
    let params = refund_params(700);
    let token = rail.permit(&params).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let rail = rail.clone();
        let body = json!({"permit": token, "params": params});
        tasks.push(tokio::spawn(
            async move { rail.post("/v1/execute", body).await },
        ));
    }
    let mut ok = 0;
    let mut used = 0;
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match (s, code(&b)) {
            (200, _) => ok += 1,
            (409, "permit_already_used") => used += 1,
            other => panic!("unexpected {other:?} {b}"),
        }
    }
    assert_eq!((ok, used), (1, 49));
    assert_eq!(rail.log.count(), 1);
    let keys: Vec<_> = rail
        .log
        .all()
        .into_iter()
        .map(|s| s.idempotency_key())
        .collect();
    assert!(keys[0].as_deref().is_some_and(|k| k.starts_with("pmt_")));
    assert!(rail.verify_chain().await >= 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_an_echoed_secret_is_redacted() {
    let rail = TestRail::start(Options {
        refund_path: "/echo".into(),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(100)}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(rail.log.count(), 1);
    let text = b.to_string();
    assert!(!text.contains(&rail.secret), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_unknown_actions_and_endpoints_do_not_exist() {
    let rail = TestRail::start(Options::default()).await;
    let (s, b) = rail
        .post("/v1/actions/money.steal", json!({"params": {}}))
        .await;
    assert_eq!((s, code(&b)), (404, "unknown_action"));
    // In the catalog but not bound for this tenant.
    let (s, b) = rail
        .post(
            "/v1/intents",
            json!({"action": "deploy.release", "params": {}}),
        )
        .await;
    assert_eq!((s, code(&b)), (404, "unknown_action"));
    let (s, b) = rail.post("/v1/refunds", json!({})).await;
    assert_eq!((s, code(&b)), (404, "unsupported_endpoint"));
    assert_eq!(rail.log.count(), 0);
}

// ---- permits at the edge -----------------------------------------------------------------

fn acme_key(rail: &TestRail) -> SigningKey {
    let keys = intentrail_server::keystore::load(
        &rail.dir.path().join("keys/acme"),
        intentrail_server::rail::now_ms(),
        60_000,
    )
    .unwrap();
    SigningKey::from_bytes(&keys.active.to_bytes())
}

fn claims(rail: &TestRail, params: &Value, jti: &str) -> PermitClaims {
    let now = intentrail_server::rail::now_ms() / 1000;
    PermitClaims {
        iss: rail.rail.config.issuer_for("acme"),
        aud: rail.rail.config.audience.clone(),
        sub: "bot-1".into(),
        tnt: "acme".into(),
        act: "money.refund".into(),
        ph: intentrail_core::hash::payload_hash(params).unwrap(),
        jti: jti.into(),
        iat: now,
        nbf: now,
        exp: now + 60,
        pol: "sha256:x".into(),
        idk: None,
        prv: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_permit_attacks_are_refused_with_a_receipt() {
    let rail = TestRail::start(Options::default()).await;
    let params = refund_params(300);
    let exec = |token: String| json!({"permit": token, "params": params});

    // Forged: signed by a key the tenant never had.
    let forged = permit::issue(
        &claims(&rail, &params, "pmt_forged"),
        &SigningKey::from_bytes(&[7u8; 32]),
    )
    .unwrap();
    let (s, b) = rail.post("/v1/execute", exec(forged)).await;
    assert_eq!((s, code(&b)), (403, "permit_invalid"), "{b}");
    assert!(b["receipt_id"].is_string());

    // Signed with the tenant's real key but never issued by the rail.
    let unissued =
        permit::issue(&claims(&rail, &params, "pmt_unissued"), &acme_key(&rail)).unwrap();
    let (s, b) = rail.post("/v1/execute", exec(unissued)).await;
    assert_eq!((s, code(&b)), (403, "permit_invalid"), "{b}");

    // Expired (beyond the 5 s leeway).
    let mut c = claims(&rail, &params, "pmt_old");
    c.iat -= 120;
    c.nbf -= 120;
    c.exp = c.iat + 60;
    let expired = permit::issue(&c, &acme_key(&rail)).unwrap();
    let (s, b) = rail.post("/v1/execute", exec(expired)).await;
    assert_eq!((s, code(&b)), (410, "permit_expired"), "{b}");

    // Another tenant's permit.
    let (s, b) = rail
        .post_as(
            &rail.globex_key,
            "bot-1",
            "/v1/intents",
            json!({"action": "money.refund", "params": params}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = rail
        .post("/v1/execute", exec(b["permit"].as_str().unwrap().into()))
        .await;
    assert_eq!((s, code(&b)), (403, "permit_invalid"), "{b}");

    // Issued to bot-1, presented by bot-2.
    let token = rail.permit(&params).await;
    let (s, b) = rail
        .post_as(&rail.api_key_2, "bot-2", "/v1/execute", exec(token.clone()))
        .await;
    assert_eq!((s, code(&b)), (403, "agent_mismatch"), "{b}");

    // Garbage.
    let (s, b) = rail.post("/v1/execute", exec("a.b.c".into())).await;
    assert_eq!((s, code(&b)), (403, "permit_invalid"), "{b}");

    assert_eq!(rail.log.count(), 0, "nothing forwarded");
    // The real permit still works once.
    let (s, _) = rail.post("/v1/execute", exec(token)).await;
    assert_eq!(s, 200);
    assert_eq!(rail.log.count(), 1);
    rail.verify_chain().await;
}

// ---- bad input ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_bad_bodies_get_clear_errors_and_nothing_is_forwarded() {
    let rail = TestRail::start(Options::default()).await;
    let k = rail.api_key.clone();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "duplicate keys",
            br#"{"params":{"payment_id":"p","amount":1,"amount":2,"currency":"usd"}}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "huge integer",
            br#"{"params":{"payment_id":"p","amount":9007199254740993,"currency":"usd"}}"#.to_vec(),
            400,
            "invalid_json",
        ),
        ("malformed", b"{\"params\": {".to_vec(), 400, "invalid_json"),
        (
            "lone surrogate",
            br#"{"params":{"payment_id":"\ud800","amount":1,"currency":"usd"}}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "deep",
            format!("{{\"params\":{}{}}}", "[".repeat(70), "]".repeat(70)).into_bytes(),
            400,
            "invalid_json",
        ),
        (
            "oversized",
            format!("{{\"params\":{{\"x\":\"{}\"}}}}", "a".repeat(300_000)).into_bytes(),
            413,
            "payload_too_large",
        ),
        ("not an object", b"[1]".to_vec(), 400, "invalid_request"),
        (
            "unknown member",
            br#"{"params":{},"extra":1}"#.to_vec(),
            400,
            "invalid_request",
        ),
    ];
    for (name, body, status, want) in cases {
        let (s, b, ct) = rail
            .raw(&k, Some("bot-1"), "/v1/actions/money.refund", body)
            .await;
        let b: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!((s, code(&b)), (status, want), "{name}: {b}");
        assert_eq!(ct, "application/problem+json", "{name}");
    }
    // Schema: every violation listed with its pointer, and a receipt.
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": {"payment_id": 5, "amount": -1, "currency": "usd", "extra": true}}),
        )
        .await;
    assert_eq!((s, code(&b)), (400, "schema_invalid"), "{b}");
    let violations = b["violations"].as_array().unwrap();
    assert!(violations.len() >= 3, "{b}");
    assert!(
        violations.iter().any(|v| v["pointer"] == "/payment_id"),
        "{b}"
    );
    assert!(violations.iter().any(|v| v["pointer"] == "/amount"), "{b}");
    assert!(b["receipt_id"].is_string());
    assert_eq!(rail.log.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_authentication_is_required_and_checked() {
    let rail = TestRail::start(Options::default()).await;
    let body = serde_json::to_vec(&json!({"params": refund_params(1)})).unwrap();
    for (key, agent) in [
        ("", Some("bot-1")),
        ("ir_not_a_key", Some("bot-1")),
        (rail.api_key.as_str(), None),
        (rail.api_key.as_str(), Some("bot-2")),
    ] {
        let (s, b, _) = rail
            .raw(key, agent, "/v1/actions/money.refund", body.clone())
            .await;
        let b: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!((s, code(&b)), (401, "unauthenticated"), "{key:?} {agent:?}");
    }
    assert_eq!(rail.log.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_policy_denial_names_the_rule_and_limits_are_enforced() {
    let rail = TestRail::start(Options {
        acme_extra: r#"
[[tenants.limits]]
id = "three_refunds"
actions = ["money.refund"]
window_secs = 3600
max_count = 3
"#
        .into(),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(20_000)}),
        )
        .await;
    assert_eq!((s, code(&b)), (403, "policy_denied"), "{b}");
    assert_eq!(b["policy_ids"], json!(["refund_cap"]));
    let (s, b) = rail.post("/v1/intents", json!({"action": "money.transfer", "params": {"amount": 5, "currency": "usd", "from_account": "a", "to_account": "b"}})).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (202, Some("approval_pending")),
        "{b}"
    );
    for i in 0..3 {
        let (s, b) = rail
            .post(
                "/v1/actions/money.refund",
                json!({"params": refund_params(10 + i)}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(10)}),
        )
        .await;
    assert_eq!((s, code(&b)), (429, "rate_limited"), "{b}");
    assert_eq!(rail.log.count(), 3);
    let receipts = rail.receipts().await;
    assert!(receipts
        .iter()
        .any(|r| r["decision"] == "deny" && r["reason"] == "refund_cap"));
    assert!(receipts
        .iter()
        .any(|r| r["decision"] == "approval_required"));
    assert!(receipts.iter().any(|r| r["code"] == "rate_limited"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_idempotency_key_replays_and_conflicts() {
    let rail = TestRail::start(Options::default()).await;
    let body = json!({"params": refund_params(42), "idempotency_key": "order-7"});
    let (s1, b1) = rail.post("/v1/actions/money.refund", body.clone()).await;
    let (s2, b2) = rail.post("/v1/actions/money.refund", body).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1, b2, "the stored answer is replayed");
    assert_eq!(rail.log.count(), 1, "executed once");
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(43), "idempotency_key": "order-7"}),
        )
        .await;
    assert_eq!((s, code(&b)), (422, "idempotency_conflict"));
}

#[tokio::test]
async fn test_a_keyed_two_phase_retry_replays_the_execution() {
    let rail = TestRail::start(Options::default()).await;
    let params = refund_params(42);
    let intent = json!({"action": "money.refund", "params": params, "idempotency_key": "call-9"});
    let (_, i1) = rail.post("/v1/intents", intent.clone()).await;
    let exec = json!({"permit": i1["permit"], "params": params});
    let (s1, b1) = rail.post("/v1/execute", exec.clone()).await;
    assert_eq!(s1, 200, "{b1}");
    // The agent retries the whole call: the intent replays the same permit, and its execute
    // replays the first answer; the downstream saw one request.
    let (_, i2) = rail.post("/v1/intents", intent).await;
    assert_eq!(i1["permit"], i2["permit"]);
    let (s2, b2) = rail.post("/v1/execute", exec).await;
    assert_eq!((s2, &b2), (200, &b1), "the stored answer is replayed");
    assert_eq!(rail.log.count(), 1, "executed once");
    // Other params under the permit are refused by the permit itself, and a permit without
    // a key stays single-use in the plain sense.
    let (s, b) = rail
        .post(
            "/v1/execute",
            json!({"permit": i1["permit"], "params": refund_params(43)}),
        )
        .await;
    assert_eq!((s, code(&b)), (403, "payload_hash_mismatch"), "{b}");
    let plain = rail.permit(&params).await;
    let exec = json!({"permit": plain, "params": params});
    assert_eq!(rail.post("/v1/execute", exec.clone()).await.0, 200);
    let (s, b) = rail.post("/v1/execute", exec).await;
    assert_eq!((s, code(&b)), (409, "permit_already_used"), "{b}");
    assert_eq!(rail.log.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_the_admin_key_cannot_act() {
    let rail = TestRail::start(Options::default()).await;
    let params = refund_params(500);
    let permit = rail.permit(&params).await;
    for (path, body) in [
        ("/v1/actions/money.refund", json!({"params": params})),
        (
            "/v1/intents",
            json!({"action": "money.refund", "params": params}),
        ),
        ("/v1/execute", json!({"permit": permit, "params": params})),
    ] {
        for agent in [None, Some("bot-1")] {
            let bytes = serde_json::to_vec(&body).unwrap();
            let (s, b, _) = rail.raw(&rail.admin_key, agent, path, bytes).await;
            let b: Value = serde_json::from_slice(&b).unwrap();
            assert_eq!((s, code(&b)), (403, "forbidden"), "{path} {agent:?}: {b}");
        }
    }
    assert_eq!(rail.log.count(), 0, "nothing forwarded");
    // The permit is still the agent's to use.
    let (s, _) = rail
        .post("/v1/execute", json!({"permit": permit, "params": params}))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_ambiguous_credentials_are_refused() {
    let rail = TestRail::start(Options::default()).await;
    let body = serde_json::to_vec(&json!({"params": refund_params(500)})).unwrap();
    let post = |headers: String| {
        format!(
            "POST /v1/actions/money.refund HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}",
            body.len()
        )
    };
    let (k1, k2) = (&rail.api_key, &rail.api_key_2);
    for headers in [
        format!(
            "authorization: Bearer {k1}\r\nauthorization: Bearer {k2}\r\nintentrail-agent: bot-1"
        ),
        format!(
            "authorization: Bearer {k2}\r\nauthorization: Bearer {k1}\r\nintentrail-agent: bot-1"
        ),
        format!(
            "authorization: Bearer {k1}\r\nauthorization: Bearer {k1}\r\nintentrail-agent: bot-1"
        ),
        format!("authorization: Bearer {k1}\r\nintentrail-agent: bot-1\r\nintentrail-agent: bot-2"),
        format!("authorization: Bearer {k1}\r\nintentrail-agent: bot-1\r\nintentrail-agent: bot-1"),
    ] {
        let (s, b) = rail.raw_http(&post(headers.clone()), &body).await;
        assert_eq!((s, code(&b)), (401, "unauthenticated"), "{headers}: {b}");
    }
    assert_eq!(rail.log.count(), 0, "nothing forwarded");
    // One of each works.
    let headers = format!("authorization: Bearer {k1}\r\nintentrail-agent: bot-1");
    let (s, b) = rail.raw_http(&post(headers), &body).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_transfer_codings_other_than_chunked_are_refused() {
    let rail = TestRail::start(Options::default()).await;
    let body = serde_json::to_vec(&json!({"params": refund_params(500)})).unwrap();
    let chunked = |b: &[u8]| {
        let mut out = format!("{:x}\r\n", b.len()).into_bytes();
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
        out
    };
    let head = |te: &str| {
        format!(
            "POST /v1/actions/money.refund HTTP/1.1\r\ncontent-type: application/json\r\n\
             authorization: Bearer {}\r\nintentrail-agent: bot-1\r\ntransfer-encoding: {te}",
            rail.api_key
        )
    };
    // A body that is plain JSON but labelled gzip: read as plain chunked it would be accepted.
    for te in [
        "gzip, chunked",
        "deflate,chunked",
        "identity, chunked",
        "x-custom, chunked",
    ] {
        let (s, b) = rail.raw_http(&head(te), &chunked(&body)).await;
        assert_eq!((s, code(&b)), (400, "invalid_request"), "{te}: {b}");
    }
    assert_eq!(rail.log.count(), 0, "nothing forwarded");
    let (s, b) = rail.raw_http(&head("chunked"), &chunked(&body)).await;
    assert_eq!(s, 200, "{b}");
}

// ---- downstream faults --------------------------------------------------------------------

async fn last_receipt(rail: &TestRail) -> Value {
    rail.receipts().await.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_downstream_500_is_a_downstream_error() {
    let rail = TestRail::start(Options {
        refund_path: "/fail".into(),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(1)}),
        )
        .await;
    assert_eq!((s, code(&b)), (502, "downstream_error"), "{b}");
    let r = last_receipt(&rail).await;
    assert_eq!(r["outcome"], "downstream_error");
    assert_eq!(r["downstream"]["status"], 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_downstream_4xx_is_the_downstreams_answer() {
    let rail = TestRail::start(Options {
        refund_path: "/declined".into(),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(1)}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], 402);
    assert_eq!(b["body"]["error"], "card_declined");
    assert_eq!(b["receipt"]["outcome"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_slow_downstream_times_out_as_unknown_and_is_not_retried() {
    let rail = TestRail::start(Options {
        refund_path: "/slow".into(),
        timeout_ms: 400,
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(1)}),
        )
        .await;
    assert_eq!((s, code(&b)), (504, "downstream_timeout"), "{b}");
    assert_eq!(last_receipt(&rail).await["outcome"], "unknown");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rail.log.count(), 1, "never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_refused_is_not_forwarded() {
    let dead = dead_port().await;
    let rail = TestRail::start(Options {
        base_url: Some(format!("http://{dead}")),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(1)}),
        )
        .await;
    assert_eq!((s, code(&b)), (502, "downstream_error"), "{b}");
    assert_eq!(last_receipt(&rail).await["outcome"], "not_forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_reset_mid_response_is_unknown() {
    let (addr, hits) = resetting_downstream().await;
    let rail = TestRail::start(Options {
        base_url: Some(format!("http://{addr}")),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(1)}),
        )
        .await;
    assert_eq!((s, code(&b)), (502, "downstream_error"), "{b}");
    assert_eq!(last_receipt(&rail).await["outcome"], "unknown");
    assert_eq!(*hits.lock().unwrap(), 1, "not retried after sending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_missing_credential_is_503_and_nothing_forwarded() {
    let rail = TestRail::start(Options {
        credential: Some("env:INTENTRAIL_TEST_UNSET_VARIABLE".into()),
        ..Options::default()
    })
    .await;
    let (s, b) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(1)}),
        )
        .await;
    assert_eq!((s, code(&b)), (503, "credential_unavailable"), "{b}");
    assert_eq!(rail.log.count(), 0);
    assert_eq!(last_receipt(&rail).await["outcome"], "not_forwarded");
}

/// Two-phase: a refusal before the permit is consumed (here the credential store has no
/// credential) is receipted and leaves the permit unspent; once the credential is there the
/// same permit runs exactly once, and a replay is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_refusal_before_the_consume_leaves_the_permit_unspent() {
    const VAR: &str = "INTENTRAIL_TEST_PIPELINE_LATE_CREDENTIAL";
    std::env::remove_var(VAR);
    let rail = TestRail::start(Options {
        credential: Some(format!("env:{VAR}")),
        ..Options::default()
    })
    .await;
    let params = refund_params(3);
    let permit = rail.permit(&params).await;
    let execute = json!({"permit": permit, "params": params});
    let (s, b) = rail.post("/v1/execute", execute.clone()).await;
    assert_eq!((s, code(&b)), (503, "credential_unavailable"), "{b}");
    let refused = last_receipt(&rail).await;
    assert_eq!(
        (refused["kind"].as_str(), refused["outcome"].as_str()),
        (Some("execution"), Some("not_forwarded")),
        "{refused}"
    );
    assert_eq!(rail.log.count(), 0);

    std::env::set_var(VAR, "sk_test_late_credential");
    let (s, b) = rail.post("/v1/execute", execute.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["receipt"]["outcome"], "success");
    let (s, b) = rail.post("/v1/execute", execute).await;
    assert_eq!((s, code(&b)), (409, "permit_already_used"), "{b}");
    std::env::remove_var(VAR);
    assert_eq!(rail.log.count(), 1, "forwarded exactly once");
    assert!(rail.verify_chain().await >= 4);
}

// ---- catalog, jwks, receipts --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_catalog_agent_and_receipt_routes() {
    let rail = TestRail::start(Options::default()).await;
    let (s, b) = rail.get(&rail.api_key, Some("bot-1"), "/v1/actions").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["money.refund", "money.transfer"]);
    assert_eq!(b["actions"][0]["schema"]["type"], "object");
    let (s, who) = rail.get(&rail.api_key, Some("bot-1"), "/v1/agent").await;
    assert_eq!((s, who["tenant"].as_str()), (200, Some("acme")));
    let (_, done) = rail
        .post(
            "/v1/actions/money.refund",
            json!({"params": refund_params(9)}),
        )
        .await;
    let id = done["receipt"]["id"].as_str().unwrap();
    let (s, r) = rail
        .get(&rail.api_key, Some("bot-1"), &format!("/v1/receipts/{id}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(r, done["receipt"]);
    // Another agent does not see bot-1's receipt.
    let (s, _) = rail
        .get(
            &rail.api_key_2,
            Some("bot-2"),
            &format!("/v1/receipts/{id}"),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(rail.verify_chain().await, 2);
}
