//! An HTTP double of HashiCorp Vault: KV v2 and AppRole login, namespaces and token leases
//! enforced, every deviation recorded (never with a secret in it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::downstream::{header, serve};
use super::random::random_hex;

#[derive(Default)]
struct VaultState {
    static_token: Option<String>,
    role_id: String,
    secret_id: String,
    lease: u64,
    namespace: Option<String>,
    tokens: Vec<(String, Instant, u64)>,
    data: HashMap<String, Value>,
    logins: usize,
    reads: usize,
    denied: usize,
    violations: Vec<String>,
}

/// Vault with a KV v2 mount `secret` and AppRole at `auth/approle`.
#[derive(Clone)]
pub struct VaultDouble {
    pub addr: SocketAddr,
    state: Arc<Mutex<VaultState>>,
}

impl VaultDouble {
    pub async fn start(namespace: Option<&str>) -> VaultDouble {
        let state = Arc::new(Mutex::new(VaultState {
            namespace: namespace.map(str::to_owned),
            lease: 3600,
            ..VaultState::default()
        }));
        let app = Router::new()
            .fallback(vault_handler)
            .with_state(state.clone());
        VaultDouble {
            addr: serve(app).await,
            state,
        }
    }

    pub fn address(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn accept_token(&self, token: &str) {
        self.state.lock().unwrap().static_token = Some(token.into());
    }

    pub fn approle(&self, role_id: &str, secret_id: &str, lease: u64) {
        let mut s = self.state.lock().unwrap();
        s.role_id = role_id.into();
        s.secret_id = secret_id.into();
        s.lease = lease;
    }

    /// Write `mount/path` (a KV v2 map of fields).
    pub fn put(&self, location: &str, data: Value) {
        self.state
            .lock()
            .unwrap()
            .data
            .insert(location.into(), data);
    }

    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    pub fn logins(&self) -> usize {
        self.state.lock().unwrap().logins
    }

    pub fn reads(&self) -> usize {
        self.state.lock().unwrap().reads
    }

    pub fn denied(&self) -> usize {
        self.state.lock().unwrap().denied
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Every client token issued by AppRole so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.tokens.iter().map(|(t, _, _)| t.clone()).collect()
    }
}

fn vault_errors(status: StatusCode, errors: &[&str]) -> Response {
    (status, Json(json!({ "errors": errors }))).into_response()
}

async fn vault_handler(
    State(st): State<Arc<Mutex<VaultState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = st.lock().unwrap();
    let ns = header(&headers, "x-vault-namespace");
    if ns != s.namespace {
        s.violations
            .push("X-Vault-Namespace missing or not the configured one".into());
        return vault_errors(StatusCode::FORBIDDEN, &["permission denied"]);
    }
    let path = uri.path().to_owned();
    if path == "/v1/auth/approle/login" {
        s.logins += 1;
        if method != Method::POST {
            s.violations.push("login: method is not POST".into());
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let ok = v["role_id"].as_str() == Some(s.role_id.as_str())
            && v["secret_id"].as_str() == Some(s.secret_id.as_str())
            && !s.role_id.is_empty();
        if !ok {
            return vault_errors(StatusCode::BAD_REQUEST, &["invalid role or secret ID"]);
        }
        let token = format!("hvs.CAESI{}", random_hex(20));
        let lease = s.lease;
        s.tokens.push((token.clone(), Instant::now(), lease));
        return Json(json!({
            "request_id": random_hex(8), "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": null, "wrap_info": null, "warnings": null,
            "auth": {
                "client_token": token, "accessor": random_hex(8), "policies": ["default", "payments"],
                "token_policies": ["default", "payments"], "metadata": {"role_name": "rail"},
                "lease_duration": lease, "renewable": true, "entity_id": random_hex(8),
                "token_type": "service", "orphan": true
            }
        }))
        .into_response();
    }
    let Some(rest) = path.strip_prefix("/v1/") else {
        return vault_errors(StatusCode::NOT_FOUND, &[]);
    };
    let Some((mount, sub)) = rest.split_once('/') else {
        return vault_errors(StatusCode::NOT_FOUND, &[]);
    };
    s.reads += 1;
    if method != Method::GET {
        s.violations.push("kv: method is not GET".into());
    }
    let token = header(&headers, "x-vault-token").unwrap_or_default();
    let valid = s.static_token.as_deref() == Some(token.as_str())
        || s.tokens
            .iter()
            .any(|(t, at, life)| *t == token && at.elapsed() < Duration::from_secs(*life));
    if !valid {
        s.denied += 1;
        return vault_errors(StatusCode::FORBIDDEN, &["permission denied"]);
    }
    let Some(location) = sub.strip_prefix("data/") else {
        s.violations
            .push("kv: a KV v2 read is /v1/{mount}/data/{path}".into());
        return vault_errors(StatusCode::NOT_FOUND, &[]);
    };
    match s.data.get(&format!("{mount}/{location}")) {
        None => vault_errors(StatusCode::NOT_FOUND, &[]),
        Some(d) => Json(json!({
            "request_id": random_hex(8), "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": {
                "data": d,
                "metadata": {"created_time": "2024-01-01T00:00:00.000000Z", "custom_metadata": null,
                             "deletion_time": "", "destroyed": false, "version": 3}
            },
            "wrap_info": null, "warnings": null, "auth": null
        }))
        .into_response(),
    }
}
