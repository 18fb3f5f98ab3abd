//! The demo payments API that `intentrail demo` governs: a real HTTP service that holds a demo
//! secret and refuses every call without it, records what it received (`GET /__requests`,
//! with the Authorization value never echoed), and honours `Idempotency-Key` like a payments
//! provider does (a replayed key returns the first answer and is counted, not executed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::secret::Secret;

/// One request the demo API received.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Whether the demo secret was presented correctly.
    pub authorized: bool,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The raw body as text.
    pub body: String,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    by_key: HashMap<String, Value>,
    executed: u64,
}

/// Shared state of the demo API.
#[derive(Clone)]
pub struct DemoApi {
    secret: Arc<Secret>,
    inner: Arc<Mutex<Inner>>,
}

impl DemoApi {
    /// A demo API accepting `Authorization: Bearer <secret>`.
    pub fn new(secret: Secret) -> Self {
        DemoApi {
            secret: Arc::new(secret),
            inner: Arc::default(),
        }
    }

    /// The axum router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/{resource}", post(create))
            .route("/__requests", get(requests))
            .with_state(self.clone())
    }
}

async fn requests(State(api): State<DemoApi>) -> Response {
    let inner = match api.inner.lock() {
        Ok(i) => i,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    Json(json!({ "requests": inner.requests, "executed": inner.executed })).into_response()
}

async fn create(
    State(api): State<DemoApi>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!("Bearer {}", api.secret.expose());
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut inner = match api.inner.lock() {
        Ok(i) => i,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    inner.requests.push(Recorded {
        method: "POST".into(),
        path: format!("/v1/{resource}"),
        authorized,
        idempotency_key: idempotency_key.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"type": "invalid_request_error", "message": "invalid API key"}})),
        )
            .into_response();
    }
    if let Some(k) = &idempotency_key {
        if let Some(prev) = inner.by_key.get(k) {
            return (StatusCode::OK, Json(prev.clone())).into_response();
        }
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inner.executed += 1;
    let prefix = match resource.as_str() {
        "refunds" => "re",
        "payments" => "py",
        "transfers" => "tr",
        "releases" => "rel",
        _ => "obj",
    };
    let answer = json!({
        "id": format!("{prefix}_{:06}", inner.executed),
        "object": resource.trim_end_matches('s'),
        "status": "succeeded",
        "request": params,
    });
    if let Some(k) = idempotency_key {
        inner.by_key.insert(k, answer.clone());
    }
    (StatusCode::OK, Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_api_checks_the_secret_and_records_without_it() {
        let api = DemoApi::new(Secret::new("sk_demo_test_value".into()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = api.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let c = reqwest::Client::new();
        let url = format!("http://{addr}/v1/refunds");
        let bad = c.post(&url).body("{}").send().await.expect("send");
        assert_eq!(bad.status(), 401);
        let ok = c
            .post(&url)
            .bearer_auth("sk_demo_test_value")
            .header("Idempotency-Key", "k1")
            .body(r#"{"amount":5}"#)
            .send()
            .await
            .expect("send");
        assert_eq!(ok.status(), 200);
        let first: Value = ok.json().await.expect("json");
        let again: Value = c
            .post(&url)
            .bearer_auth("sk_demo_test_value")
            .header("Idempotency-Key", "k1")
            .body(r#"{"amount":5}"#)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(first, again);
        let log = c
            .get(format!("http://{addr}/__requests"))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        assert!(!log.contains("sk_demo_test_value"));
        let log: Value = serde_json::from_str(&log).expect("json");
        assert_eq!(log["executed"], 1);
        assert_eq!(log["requests"].as_array().map(Vec::len), Some(3));
    }
}
