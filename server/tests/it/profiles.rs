//! Mirrored profiles end to end over real HTTP: upload (admin key), the catalog, one-shot and
//! two-phase execution of profile actions, profile versions in permits and receipts, and the
//! transparent proxy with the vendor's own request shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{downstream_answering, env, Log, Options, Request, TestRail};

const SHOP: &str = include_str!("../fixtures/shop.yaml");

/// The vendor's answers: its own error shapes for `ch_down` and `ch_missing`, a charge else.
fn vendor(r: &Request) -> Response {
    if r.path.ends_with("/ch_down") {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": "try later"}})),
        )
            .into_response();
    }
    if r.path.ends_with("/ch_missing") {
        return (
            StatusCode::NOT_FOUND,
            [("x-vendor-request-id", "req_404")],
            Json(json!({"error": {"type": "invalid_request_error", "message": "No such charge"}})),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [("x-vendor-request-id", "req_1"), ("set-cookie", "vendor=1")],
        Json(json!({"object": "charge", "id": "ch_1", "method": r.method})),
    )
        .into_response()
}

async fn vendor_double() -> (std::net::SocketAddr, Log) {
    downstream_answering(vendor).await
}

const SHOP_POLICY: &str = r#"
@id("shop_allowed")
permit(principal, action, resource == Connector::"shop")
  unless { action == Action::"shop.searchCharges" };
@id("search_needs_approval")
@approval("required")
permit(principal, action == Action::"shop.searchCharges", resource);
@id("shop_charge_cap")
forbid(principal, action == Action::"shop.createCharge", resource)
  when { context.params.body.amount > 5000 };
"#;

async fn start() -> (TestRail, Log) {
    let (addr, hits) = vendor_double().await;
    let rail = TestRail::start(Options {
        acme_extra: format!(
            "[[tenants.connectors]]\nname = \"shop\"\nbase_url = \"http://{addr}/api\"\n\
             credential = \"env:INTENTRAIL_TEST_SHOP_SECRET\"\nauth = {{ type = \"bearer\" }}\n\
             allow_private = true\n\
             [[tenants.profiles]]\nname = \"shop\"\nconnector = \"shop\"\n"
        ),
        acme_policy_extra: SHOP_POLICY.into(),
        ..Options::default()
    })
    .await;
    (rail, hits)
}

const SHOP_SECRET: &str = "sk_shop_0123456789abcdef";

async fn upload(rail: &TestRail, key: &str, name: &str, doc: &str) -> (u16, Value) {
    let r = rail
        .client
        .put(format!("{}/v1/admin/profiles/{name}", rail.url))
        .bearer_auth(key)
        .header("content-type", "application/yaml")
        .body(doc.to_owned())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn charge(amount: i64) -> Value {
    json!({
        "headers": {"stripe-account": "acct_1"},
        "body": {"amount": amount, "currency": "usd", "metadata": {"order": "6735"}}
    })
}

// Every test sets the same value, once for the process.
fn set_secret() {
    env::fix("INTENTRAIL_TEST_SHOP_SECRET", Some(SHOP_SECRET));
}

#[tokio::test]
async fn upload_needs_the_admin_key_a_bound_name_and_a_good_document() {
    set_secret();
    let (rail, _) = start().await;
    let (s, b) = upload(&rail, &rail.api_key, "shop", SHOP).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("forbidden")), "{b}");
    let (s, b) = upload(&rail, &rail.admin_key, "other", SHOP).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );
    let private = SHOP.replace("url: /api", "url: http://10.0.0.7/api");
    let (s, b) = upload(&rail, &rail.admin_key, "shop", &private).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );
    assert!(b["detail"].as_str().unwrap().contains("private"), "{b}");
    let (s, b) = upload(&rail, &rail.admin_key, "shop", SHOP).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["version"], 1);
    assert_eq!(b["imported"], 6);
    assert_eq!(b["skipped"][0]["operation"], "POST /v1/uploads");
    let (s, again) = upload(&rail, &rail.admin_key, "shop", SHOP).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        (again["version"].clone(), again["created"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(again["hash"], b["hash"]);

    // The catalog lists the operations with their derived schemas.
    let (s, cat) = rail.get(&rail.api_key, Some("bot-1"), "/v1/actions").await;
    assert_eq!(s, 200);
    let actions = cat["actions"].as_array().unwrap();
    let create = actions
        .iter()
        .find(|a| a["name"] == "shop.createCharge")
        .expect("listed");
    assert_eq!(
        create["schema"]["properties"]["body"]["required"],
        json!(["amount", "currency"])
    );
    assert_eq!(create["profile"]["version"], 1);
    assert!(actions.iter().any(|a| a["name"] == "money.refund"));
    assert!(!actions.iter().any(|a| a["name"] == "shop.upload"));
}

#[tokio::test]
async fn profile_actions_run_the_pipeline_and_forward_what_was_hashed() {
    set_secret();
    let (rail, hits) = start().await;
    assert_eq!(upload(&rail, &rail.admin_key, "shop", SHOP).await.0, 201);

    let (s, b) = rail
        .post(
            "/v1/actions/shop.createCharge",
            json!({"params": charge(2000)}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], 200);
    assert_eq!(b["body"]["object"], "charge");
    let seen = hits.all();
    assert_eq!(seen.len(), 1);
    let h = &seen[0];
    assert_eq!(h.method, "POST");
    assert_eq!(h.path_and_query, "/api/v1/charges");
    assert_eq!(h.body, "amount=2000&currency=usd&metadata%5Border%5D=6735");
    let header = |n: &str| {
        h.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("authorization"), format!("Bearer {SHOP_SECRET}"));
    assert_eq!(header("content-type"), "application/x-www-form-urlencoded");
    assert_eq!(header("stripe-account"), "acct_1");
    assert_eq!(header("idempotency-key"), b["permit_id"].as_str().unwrap());
    let tag = b["receipt"]["profile_version"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(tag.starts_with("shop@1#sha256:"), "{tag}");

    // Schema and policy refusals forward nothing.
    let (s, b) = rail
        .post(
            "/v1/actions/shop.createCharge",
            json!({"params": {"body": {"amount": "2000"}}}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("schema_invalid")),
        "{b}"
    );
    let ptrs: Vec<&str> = b["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(
        ptrs.contains(&"/body/amount") && ptrs.contains(&"/body/currency"),
        "{ptrs:?}"
    );
    let (s, b) = rail
        .post(
            "/v1/actions/shop.createCharge",
            json!({"params": charge(9000)}),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("policy_denied")), "{b}");
    assert_eq!(b["policy_ids"], json!(["shop_charge_cap"]));
    let (s, b) = rail
        .post("/v1/actions/shop.upload", json!({"params": {}}))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("unknown_action")),
        "{b}"
    );
    assert_eq!(hits.all().len(), 1);

    // Two-phase: the permit records the version it was validated against; a re-upload in
    // between does not change what runs, and the receipt keeps the old version's hash.
    let params = json!({"path": {"charge_id": "ch_abc"}});
    let (s, intent) = rail
        .post(
            "/v1/intents",
            json!({"action": "shop.getCharge", "params": params}),
        )
        .await;
    assert_eq!(s, 201, "{intent}");
    let v2 = SHOP.replace("title: Shop", "title: Shop v2");
    let (s, up) = upload(&rail, &rail.admin_key, "shop", &v2).await;
    assert_eq!((s, up["version"].clone()), (201, json!(2)), "{up}");
    // Tampered params never reach the vendor.
    let (s, b) = rail
        .post(
            "/v1/execute",
            json!({"permit": intent["permit"], "params": {"path": {"charge_id": "ch_other"}}}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("payload_hash_mismatch")),
        "{b}"
    );
    assert_eq!(hits.all().len(), 1);
    let (s, b) = rail
        .post(
            "/v1/execute",
            json!({"permit": intent["permit"], "params": params}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["receipt"]["profile_version"],
        json!(tag),
        "executed under version 1"
    );
    assert_eq!(hits.all()[1].path_and_query, "/api/v1/charges/ch_abc");
    assert_eq!(hits.all()[1].method, "GET");
    let (s, b) = rail
        .post("/v1/actions/shop.getCharge", json!({"params": params}))
        .await;
    assert_eq!(s, 200, "{b}");
    let tag2 = b["receipt"]["profile_version"].as_str().unwrap();
    assert!(tag2.starts_with("shop@2#sha256:") && tag2 != tag, "{tag2}");
    assert_eq!(rail.verify_chain().await, rail.receipts().await.len());
}

#[tokio::test]
async fn transparent_proxy_takes_the_vendor_request_shape() {
    set_secret();
    let (rail, hits) = start().await;
    assert_eq!(upload(&rail, &rail.admin_key, "shop", SHOP).await.0, 201);
    let base = format!("{}/v1/proxy/shop", rail.url);

    // A vendor SDK: its own path, form body and headers; the IntentRail key as its API key,
    // no agent header.
    let r = rail
        .client
        .post(format!("{base}/v1/charges"))
        .bearer_auth(&rail.api_key)
        .header("stripe-account", "acct_9")
        .header("cookie", "session=agent")
        .header("x-undeclared", "1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("amount=1500&currency=eur&metadata[order]=77&expand[]=customer")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("intentrail-receipt").is_some());
    assert_eq!(r.headers().get("x-vendor-request-id").unwrap(), "req_1");
    assert!(r.headers().get("set-cookie").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "charge");
    let h = hits.all().pop().unwrap();
    assert_eq!(
        h.body,
        "amount=1500&currency=eur&expand%5B0%5D=customer&metadata%5Border%5D=77"
    );
    assert_eq!(
        h.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {SHOP_SECRET}")
    );
    assert!(h.headers.get("cookie").is_none());
    assert!(h.headers.get("x-undeclared").is_none());
    assert_eq!(h.headers.get("stripe-account").unwrap(), "acct_9");

    // Query parameters typed and re-serialized canonically; Octokit-style `token` auth and
    // Basic with the key as user name both work.
    let r = rail
        .client
        .get(format!(
            "{base}/v1/charges?status=paid&limit=5&created[gte]=10&ids=b,a"
        ))
        .header("authorization", format!("token {}", rail.api_key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        hits.all().pop().unwrap().path_and_query,
        "/api/v1/charges?created%5Bgte%5D=10&ids=b%2Ca&limit=5&status=paid"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", rail.api_key));
    let r = rail
        .client
        .get(format!("{base}/v1/charges/ch_missing"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    // The vendor's own 404 comes back as it is.
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers().get("x-vendor-request-id").unwrap(), "req_404");
    // A downstream 5xx is the vendor's own answer too (recorded as downstream_error).
    let r = rail
        .client
        .get(format!("{base}/v1/charges/ch_down"))
        .bearer_auth(&rail.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let receipt_id = r.headers()["intentrail-receipt"]
        .to_str()
        .unwrap()
        .to_string();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["message"], "try later");
    let (_, receipt) = rail
        .get(&rail.api_key, None, &format!("/v1/receipts/{receipt_id}"))
        .await;
    assert_eq!(receipt["outcome"], "downstream_error");
    // A policy that requires approval answers the rail's 202, nothing forwarded.
    let before = hits.all().len();
    let r = rail
        .client
        .get(format!("{base}/v1/charges/search?query=amount>10"))
        .bearer_auth(&rail.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "approval_pending");
    assert_eq!(hits.all().len(), before);
    let n = hits.all().len();

    // The vendor SDK's own Idempotency-Key: a retry replays the first answer, the vendor sees
    // one request.
    let send = || {
        rail.client
            .post(format!("{base}/v1/charges"))
            .bearer_auth(&rail.api_key)
            .header("idempotency-key", "retry-1")
            .form(&[("amount", "100"), ("currency", "usd")])
            .send()
    };
    let (first, second) = (send().await.unwrap(), send().await.unwrap());
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!(
        first.headers().get("intentrail-receipt"),
        second.headers().get("intentrail-receipt")
    );
    assert_eq!(hits.all().len(), n + 1);
    let n = n + 1;
    // A body in another encoding than the operation's is refused.
    let r = rail
        .client
        .post(format!("{base}/v1/charges"))
        .bearer_auth(&rail.api_key)
        .json(&json!({"amount": 100, "currency": "usd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // Not in the document: 404 unsupported_endpoint, nothing forwarded.
    for (method, path) in [
        ("GET", "/v1/refunds"),
        ("PATCH", "/v1/charges/ch_1"),
        ("POST", "/v1/uploads"),
        ("GET", "/v1/charges/ch_1/../../admin"),
    ] {
        let r = rail
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(&rail.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["code"], "unsupported_endpoint", "{method} {path}");
    }
    // Policy on body fields, schema on query values, no key at all.
    let r = rail
        .client
        .post(format!("{base}/v1/charges"))
        .bearer_auth(&rail.api_key)
        .form(&[("amount", "9000"), ("currency", "usd")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "policy_denied");
    let r = rail
        .client
        .get(format!("{base}/v1/charges?limit=500&bogus=1"))
        .bearer_auth(&rail.api_key)
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "schema_invalid", "{b}");
    let r = rail
        .client
        .get(format!("{base}/v1/charges"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = rail
        .client
        .get(format!("{base}/v1/charges"))
        .bearer_auth(&rail.api_key)
        .header("intentrail-agent", "bot-2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "an agent header naming another agent is refused"
    );
    assert_eq!(hits.all().len(), n);
    // A profile the tenant does not bind does not exist.
    let r = rail
        .client
        .get(format!("{}/v1/proxy/github/user", rail.url))
        .bearer_auth(&rail.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn a_profile_binding_needs_a_known_connector_and_a_free_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = |profiles: &str| {
        intentrail_server::config::Config::from_toml(
            &format!(
                "[[tenants]]\nid = \"t\"\nkeys_dir = \"k\"\npolicies = \"\"\n\
                 [[tenants.connectors]]\nname = \"c\"\nbase_url = \"https://api.example.com\"\n\
                 credential = \"env:X\"\nauth = {{ type = \"bearer\" }}\n\
                 [[tenants.actions]]\nname = \"money.refund\"\nconnector = \"c\"\n\
                 request = {{ method = \"POST\", path = \"/r\" }}\n{profiles}"
            ),
            dir.path(),
        )
        .map_err(|e| e.to_string())
    };
    assert!(config("[[tenants.profiles]]\nname = \"shop\"\nconnector = \"c\"\n").is_ok());
    for (bad, why) in [
        ("name = \"shop\"\nconnector = \"nope\"", "unknown connector"),
        ("name = \"Shop.v1\"\nconnector = \"c\"", "must match"),
        (
            "name = \"money\"\nconnector = \"c\"",
            "native action family",
        ),
        (
            "name = \"shop\"\nconnector = \"c\"\nbase_url = \"https://x\"",
            "unknown field",
        ),
    ] {
        let err = config(&format!("[[tenants.profiles]]\n{bad}\n")).expect_err(bad);
        assert!(err.contains(why), "{bad}: {err}");
    }
    let twice = "[[tenants.profiles]]\nname = \"shop\"\nconnector = \"c\"\n".repeat(2);
    assert!(config(&twice).expect_err("twice").contains("bound twice"));
}

/// A version stored by another rail instance (or `intentrail profiles import`) is served by a
/// running rail within a couple of seconds, without a restart.
#[tokio::test]
async fn a_version_stored_elsewhere_is_picked_up_by_a_running_rail() {
    set_secret();
    let (rail, hits) = start().await;
    let (s, b) = rail
        .post(
            "/v1/actions/shop.getCharge",
            json!({"params": {"path": {"charge_id": "ch_1"}}}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("unknown_action")),
        "{b}"
    );
    let (_, stored) = intentrail_server::profile::normalize(SHOP.as_bytes()).unwrap();
    let hash = intentrail_core::hash::sha256_tagged(&stored);
    let (row, created) = rail
        .rail
        .ledger()
        .put_profile("acme", "shop", &hash, &stored)
        .await
        .unwrap();
    assert!(created);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, b) = rail
            .post(
                "/v1/actions/shop.getCharge",
                json!({"params": {"path": {"charge_id": "ch_1"}}}),
            )
            .await;
        if s == 200 {
            assert_eq!(
                b["receipt"]["profile_version"],
                json!(format!("shop@{}#{hash}", row.version))
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not picked up: {s} {b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(hits.all().len(), 1);
}

/// Stateful limits apply to profile actions as to native ones, over a body field too.
#[tokio::test]
async fn limits_count_and_sum_profile_actions() {
    set_secret();
    let (addr, hits) = vendor_double().await;
    let rail = TestRail::start(Options {
        acme_extra: format!(
            "[[tenants.connectors]]\nname = \"shop\"\nbase_url = \"http://{addr}/api\"\n\
             credential = \"env:INTENTRAIL_TEST_SHOP_SECRET\"\nauth = {{ type = \"bearer\" }}\n\
             allow_private = true\n\
             [[tenants.profiles]]\nname = \"shop\"\nconnector = \"shop\"\n\
             [[tenants.limits]]\nid = \"charged_per_hour\"\nactions = [\"shop.createCharge\"]\n\
             window_secs = 3600\nsum_param = \"/body/amount\"\nmax_sum = 3000\n"
        ),
        acme_policy_extra: SHOP_POLICY.into(),
        ..Options::default()
    })
    .await;
    assert_eq!(upload(&rail, &rail.admin_key, "shop", SHOP).await.0, 201);
    let charge = |amount: &'static str| {
        rail.client
            .post(format!("{}/v1/proxy/shop/v1/charges", rail.url))
            .bearer_auth(&rail.api_key)
            .form(&[("amount", amount), ("currency", "usd")])
            .send()
    };
    assert_eq!(charge("2000").await.unwrap().status().as_u16(), 200);
    let r = charge("1500").await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        (b["code"].as_str(), b["limit_id"].as_str()),
        (Some("rate_limited"), Some("charged_per_hour"))
    );
    assert_eq!(charge("1000").await.unwrap().status().as_u16(), 200);
    assert_eq!(hits.all().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dot_segment_path_variable_is_bad_input_and_nothing_is_forwarded() {
    set_secret();
    let (rail, hits) = start().await;
    let doc = r#"{"openapi": "3.1.0", "paths": {"/v1/items/{id}": {"get": {"operationId": "getItem",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]}}}}"#;
    assert_eq!(upload(&rail, &rail.admin_key, "shop", doc).await.0, 201);
    // Transparent mode: 400 schema_invalid naming the parameter. (Written on the socket: URL
    // libraries turn `%2e%2e` into `..` and drop the segment before sending.)
    for path in ["/v1/items/%2e%2e", "/v1/items/%2E", "/v1/items/.%2e"] {
        let head = format!(
            "GET /v1/proxy/shop{path} HTTP/1.1\r\nauthorization: Bearer {}",
            rail.api_key
        );
        let (status, b) = rail.raw_http(&head, b"").await;
        assert_eq!(status, 400, "{path}: {b}");
        assert_eq!(b["code"], "schema_invalid", "{path}");
        assert!(
            b["violations"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("\"id\"")),
            "{b}"
        );
    }
    // The JSON API: the same.
    for id in [".", ".."] {
        let (status, b) = rail
            .post(
                "/v1/actions/shop.getItem",
                json!({"params": {"path": {"id": id}}}),
            )
            .await;
        assert_eq!(status, 400, "{id}: {b}");
        assert_eq!(b["code"], "schema_invalid", "{id}");
    }
    // The admin key administers; it cannot act, in transparent mode either.
    let r = rail
        .client
        .get(format!("{}/v1/proxy/shop/v1/items/x", rail.url))
        .bearer_auth(&rail.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(hits.all().is_empty(), "nothing forwarded");
    // A dot inside a value is fine.
    let (status, _) = rail
        .post(
            "/v1/actions/shop.getItem",
            json!({"params": {"path": {"id": "a..b"}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        hits.all().pop().unwrap().path_and_query,
        "/api/v1/items/a..b"
    );
}
