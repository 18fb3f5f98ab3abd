//! An HTTP double of Azure Key Vault and of the Microsoft identity platform token endpoint:
//! documented request and response shapes, token lifetimes enforced, every deviation recorded
//! (never with a secret in it; tests assert on counts and booleans).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

use super::downstream::{header, serve};
use super::random::random_hex;

pub const AZ_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const AZ_CLIENT: &str = "8a1b2c3d-0000-4000-8000-00000000abcd";

#[derive(Default)]
struct AzState {
    client_secret: String,
    federated_token: Option<String>,
    expires_in: u64,
    tokens: Vec<(String, Instant, u64)>,
    secrets: HashMap<(String, String), Vec<(String, String)>>,
    forbidden: HashSet<String>,
    token_requests: usize,
    secret_requests: usize,
    unauthorized: usize,
    violations: Vec<String>,
    delay_ms: u64,
}

/// Azure Key Vault at `http://addr/{vault}` and its authority at `http://addr/login`.
#[derive(Clone)]
pub struct AzureDouble {
    pub addr: SocketAddr,
    state: Arc<Mutex<AzState>>,
}

impl AzureDouble {
    /// `client_secret`: what `AZURE_CLIENT_SECRET` must be; tokens live `expires_in` s.
    pub async fn start(client_secret: &str, expires_in: u64) -> AzureDouble {
        let state = Arc::new(Mutex::new(AzState {
            client_secret: client_secret.into(),
            expires_in,
            ..AzState::default()
        }));
        let app = Router::new()
            .fallback(azure_handler)
            .with_state(state.clone());
        AzureDouble {
            addr: serve(app).await,
            state,
        }
    }

    pub fn vault_url(&self) -> String {
        format!("http://{}/{{vault}}", self.addr)
    }

    pub fn authority(&self) -> String {
        format!("http://{}/login", self.addr)
    }

    pub fn providers_toml(&self) -> String {
        format!(
            "[providers.azure]\nvault_url = \"{}\"\nauthority = \"{}\"\ntenant_id = \"{AZ_TENANT}\"\nclient_id = \"{AZ_CLIENT}\"\n",
            self.vault_url(),
            self.authority()
        )
    }

    /// Add a version of a secret; returns its version id.
    pub fn set_secret(&self, vault: &str, name: &str, value: &str) -> String {
        let version = random_hex(16);
        self.state
            .lock()
            .unwrap()
            .secrets
            .entry((vault.into(), name.into()))
            .or_default()
            .push((version.clone(), value.into()));
        version
    }

    pub fn forbid(&self, name: &str) {
        self.state.lock().unwrap().forbidden.insert(name.into());
    }

    pub fn accept_federated(&self, token: &str) {
        self.state.lock().unwrap().federated_token = Some(token.into());
    }

    /// Invalidate every issued token (as if revoked): the next vault call answers 401.
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    pub fn set_delay_ms(&self, ms: u64) {
        self.state.lock().unwrap().delay_ms = ms;
    }

    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }

    pub fn secret_requests(&self) -> usize {
        self.state.lock().unwrap().secret_requests
    }

    pub fn unauthorized(&self) -> usize {
        self.state.lock().unwrap().unauthorized
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Every access token issued so far (the canary scans for them too).
    pub fn issued_tokens(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.tokens.iter().map(|(t, _, _)| t.clone()).collect()
    }
}

fn az_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": format!("{code} (test double)")}})),
    )
        .into_response()
}

async fn azure_handler(
    State(st): State<Arc<Mutex<AzState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = st.lock().unwrap().delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let path = uri.path().to_owned();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Token endpoint: POST /login/{tenant}/oauth2/v2.0/token (form encoded).
    if segs.first() == Some(&"login") {
        let mut s = st.lock().unwrap();
        s.token_requests += 1;
        let mut bad = Vec::new();
        if method != Method::POST {
            bad.push("token: method is not POST".to_string());
        }
        if segs.get(1..) != Some(&[AZ_TENANT, "oauth2", "v2.0", "token"][..]) {
            bad.push("token: path is not /{tenant}/oauth2/v2.0/token".into());
        }
        if header(&headers, "content-type").as_deref() != Some("application/x-www-form-urlencoded")
        {
            bad.push("token: content-type is not form-urlencoded".into());
        }
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let f = |k: &str| form.get(k).map(String::as_str);
        if f("grant_type") != Some("client_credentials") {
            bad.push("token: grant_type is not client_credentials".into());
        }
        if f("client_id") != Some(AZ_CLIENT) {
            bad.push("token: wrong client_id".into());
        }
        if f("scope") != Some("https://vault.azure.net/.default") {
            bad.push("token: wrong scope".into());
        }
        let by_secret = f("client_secret") == Some(s.client_secret.as_str());
        let by_assertion = s.federated_token.is_some()
            && f("client_assertion") == s.federated_token.as_deref()
            && f("client_assertion_type")
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        if !bad.is_empty() {
            s.violations.extend(bad);
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_request", "error_description": "AADSTS900144"})),
            )
                .into_response();
        }
        if !by_secret && !by_assertion {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215"})),
            )
                .into_response();
        }
        let token = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}", random_hex(24));
        let life = s.expires_in;
        s.tokens.push((token.clone(), Instant::now(), life));
        return Json(json!({
            "token_type": "Bearer",
            "expires_in": life,
            "ext_expires_in": life,
            "access_token": token,
        }))
        .into_response();
    }
    // Key Vault: GET /{vault}/secrets/{name}[/{version}]?api-version=7.4
    let mut s = st.lock().unwrap();
    s.secret_requests += 1;
    let mut bad = Vec::new();
    if method != Method::GET {
        bad.push("kv: method is not GET".to_string());
    }
    let api = uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if api != [("api-version".to_string(), "7.4".to_string())] {
        bad.push("kv: query is not exactly api-version=7.4".into());
    }
    if segs.len() < 3 || segs.len() > 4 || segs[1] != "secrets" {
        bad.push("kv: path is not /{vault}/secrets/{name}[/{version}]".into());
    }
    if !bad.is_empty() {
        s.violations.extend(bad);
        return az_error(StatusCode::BAD_REQUEST, "BadParameter");
    }
    let auth = header(&headers, "authorization").unwrap_or_default();
    let valid = auth.strip_prefix("Bearer ").is_some_and(|t| {
        s.tokens
            .iter()
            .any(|(tok, at, life)| tok == t && at.elapsed() < Duration::from_secs(*life))
    });
    if !valid {
        s.unauthorized += 1;
        return (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                format!("Bearer authorization=\"https://login.microsoftonline.com/{AZ_TENANT}\", resource=\"https://vault.azure.net\""),
            )],
            Json(json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})),
        )
            .into_response();
    }
    let (vault, name) = (segs[0].to_owned(), segs[2].to_owned());
    if s.forbidden.contains(&name) {
        return az_error(StatusCode::FORBIDDEN, "Forbidden");
    }
    let Some(versions) = s.secrets.get(&(vault.clone(), name.clone())) else {
        return az_error(StatusCode::NOT_FOUND, "SecretNotFound");
    };
    let found = match segs.get(3) {
        Some(v) => versions.iter().find(|(id, _)| id == v),
        None => versions.last(),
    };
    let Some((version, value)) = found else {
        return az_error(StatusCode::NOT_FOUND, "SecretNotFound");
    };
    Json(json!({
        "value": value,
        "id": format!("https://{vault}.vault.azure.net/secrets/{name}/{version}"),
        "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
        "tags": {}
    }))
    .into_response()
}
