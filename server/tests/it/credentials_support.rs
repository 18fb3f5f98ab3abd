//! Shared by the credential-store tests and the canary: a real `moto_server` (AWS Secrets
//! Manager wire protocol), HTTP doubles of Azure Key Vault (+ the Microsoft identity platform
//! token endpoint) and HashiCorp Vault KV v2 (+ AppRole) that follow the documented request
//! and response shapes and record every deviation, a downstream that records and echoes
//! headers, and a rail configured with `[providers]`.
//!
//! The doubles never put a secret in a violation message; tests assert on booleans and counts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use intentrail_server::app::{self, Rail};
use intentrail_server::auth::{generate_key, hash_key, ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX};
use intentrail_server::config::Config;
use intentrail_server::credentials::sigv4;
use intentrail_server::secret::Secret;
use serde_json::{json, Value};

/// A random lowercase-hex string of `n` bytes of entropy.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    sigv4::hex(&b)
}

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

/// A free port for a child process to listen on (released before the child binds it).
pub async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A port with nothing listening. It stays bound (never listening) for the rest of the test
/// process, so no other test can start a server on it and every connect is refused.
pub async fn dead_port() -> SocketAddr {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = sock.local_addr().unwrap();
    std::mem::forget(sock);
    a
}

fn header(h: &HeaderMap, n: &str) -> Option<String> {
    h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// moto_server

/// Where `moto_server` is: `$MOTO_SERVER`, else `target/moto-venv/bin/moto_server` (made by
/// `scripts/test-credentials.sh`), else `moto_server` on the PATH.
pub fn moto_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    })
}

/// True when a missing moto must fail the run (CI) instead of skipping.
pub fn moto_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("INTENTRAIL_REQUIRE_MOTO").is_ok_and(|v| v == "1")
}

/// A running `moto_server` on 127.0.0.1, stopped on drop.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
    client: reqwest::Client,
}

pub const AWS_REGION: &str = "us-east-1";

impl Moto {
    /// Start moto, or `None` (with a note on stderr) when it is not installed outside CI.
    pub async fn start() -> Option<Moto> {
        let Some(bin) = moto_binary() else {
            assert!(
                !moto_required(),
                "moto_server not found (run scripts/test-credentials.sh, or set MOTO_SERVER)"
            );
            eprintln!("SKIP: moto_server not found; run scripts/test-credentials.sh");
            return None;
        };
        let port = free_port().await;
        let child = std::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        for _ in 0..300 {
            if moto
                .client
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
                .is_ok()
            {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start within 15 s");
    }

    /// One signed Secrets Manager call (what the AWS CLI would send).
    pub async fn call(&self, action: &str, body: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(body).unwrap();
        let host = self.endpoint.trim_start_matches("http://").to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let date = sigv4::amz_date(now);
        let target = format!("secretsmanager.{action}");
        let creds = sigv4::AwsCredentials {
            access_key_id: "AKIDTESTSETUP".into(),
            secret_access_key: Secret::new("setup-secret-key".into()),
            session_token: None,
        };
        let auth = sigv4::authorization(
            &sigv4::SignInput {
                method: "POST",
                path: "/",
                query: "",
                headers: &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("host", &host),
                    ("x-amz-date", &date),
                    ("x-amz-target", &target),
                ],
                body: &body,
                region: AWS_REGION,
                service: "secretsmanager",
                amz_date: &date,
            },
            &creds,
        );
        let r = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-date", date)
            .header("x-amz-target", target)
            .header("authorization", auth)
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create_secret(&self, name: &str, value: &str) {
        let (s, _) = self
            .call(
                "CreateSecret",
                &json!({"Name": name, "SecretString": value}),
            )
            .await;
        assert_eq!(s, 200, "CreateSecret failed");
    }

    pub async fn put_secret_value(&self, name: &str, value: &str) {
        let (s, _) = self
            .call(
                "PutSecretValue",
                &json!({"SecretId": name, "SecretString": value}),
            )
            .await;
        assert_eq!(s, 200, "PutSecretValue failed");
    }

    /// `[providers.aws]` pointing at this moto.
    pub fn providers_toml(&self) -> String {
        format!(
            "[providers.aws]\nregion = \"{AWS_REGION}\"\nendpoint = \"{}\"\n",
            self.endpoint
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set AWS keys moto accepts (any keys work; these are test values).
pub fn set_aws_env() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDTESTRAIL");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "rail-test-secret-key");
    std::env::remove_var("AWS_SESSION_TOKEN");
}

// ---------------------------------------------------------------------------------------------
// Azure Key Vault double

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

// ---------------------------------------------------------------------------------------------
// HashiCorp Vault double

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

// ---------------------------------------------------------------------------------------------
// Downstream that records and echoes every header

#[derive(Clone, Debug)]
pub struct SeenReq {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<SeenReq>>>);

impl Seen {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn all(&self) -> Vec<SeenReq> {
        self.0.lock().unwrap().clone()
    }
    /// The value of header `name` in request `i`.
    pub fn header(&self, i: usize, name: &str) -> Option<String> {
        self.0.lock().unwrap().get(i).and_then(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        })
    }
}

/// Routes by the path's first segment (the refund's `payment_id`): `echo` echoes every
/// header (raw, base64, base64url, URL-encoded) in headers and body, `fail` does the same with
/// a 500, `slow` answers after 3 s, anything else answers 200.
async fn downstream_handler(
    State(seen): State<Seen>,
    uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = uri.path().to_owned();
    seen.0.lock().unwrap().push(SeenReq {
        path: path.clone(),
        headers: pairs.clone(),
    });
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let echo = || {
        let mut out_headers = HeaderMap::new();
        let mut body = serde_json::Map::new();
        for (k, v) in &pairs {
            let raw = v.strip_prefix("Bearer ").unwrap_or(v);
            let b = base64::engine::general_purpose::STANDARD.encode(raw);
            let bu = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
            let u: String = form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            body.insert(
                k.clone(),
                json!({"raw": v, "b64": b, "b64url": bu, "url": u}),
            );
            if let (Ok(n), Ok(val)) = (
                axum::http::HeaderName::from_bytes(format!("x-echo-{k}").as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                out_headers.insert(n, val);
            }
            if let (Ok(n), Ok(val)) = (
                axum::http::HeaderName::from_bytes(format!("x-echo-b64-{k}").as_bytes()),
                axum::http::HeaderValue::from_str(&b),
            ) {
                out_headers.insert(n, val);
            }
        }
        (out_headers, Json(Value::Object(body)))
    };
    match first {
        "echo" => echo().into_response(),
        "escaped" => escaped_echo(&pairs),
        "gzip" | "deflate" | "brotli" => {
            use std::io::Write as _;
            let (_, Json(body)) = echo();
            let plain = serde_json::to_vec(&body).unwrap();
            let (coding, bytes) = match first {
                "gzip" => {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&plain).unwrap();
                    ("gzip", e.finish().unwrap())
                }
                "deflate" => {
                    let mut e =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&plain).unwrap();
                    ("deflate", e.finish().unwrap())
                }
                // Not brotli at all: the echo as it is, labelled with a coding the rail cannot
                // decode. It must never reach the agent.
                _ => ("br", plain),
            };
            (
                [
                    (axum::http::header::CONTENT_ENCODING, coding),
                    (axum::http::header::CONTENT_TYPE, "application/json"),
                ],
                bytes,
            )
                .into_response()
        }
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, echo()).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({"late": true})).into_response()
        }
        _ => Json(json!({"id": "re_1", "status": "succeeded"})).into_response(),
    }
}

/// Every spelling of `s` a JSON reader or a browser decodes back into `s`: `\/`, every
/// character as `\uXXXX`, every other one, percent-encoding in mixed hex case, HTML character
/// references, and a percent-encoded JSON escape of each character.
pub fn escaped_forms(s: &str) -> Vec<(&'static str, String)> {
    let u = |c: char| {
        let mut b = [0u16; 2];
        c.encode_utf16(&mut b)
            .iter()
            .map(|x| format!("\\u{x:04X}"))
            .collect::<String>()
    };
    let json = serde_json::to_string(s).unwrap();
    vec![
        ("solidus", json[1..json.len() - 1].replace('/', "\\/")),
        ("unicode", s.chars().map(u).collect()),
        (
            "mixed",
            s.chars()
                .enumerate()
                .map(|(i, c)| if i % 2 == 0 { u(c) } else { c.to_string() })
                .collect(),
        ),
        (
            "percent",
            s.bytes()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        format!("%{b:02x}")
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
        ),
        (
            "html",
            s.chars().map(|c| format!("&#x{:x};", c as u32)).collect(),
        ),
        (
            "nested",
            s.chars().map(|c| format!("%5Cu{:04x}", c as u32)).collect(),
        ),
    ]
}

/// A JSON body holding each received header value in every escaped spelling (written by hand:
/// a serializer would not choose these escapes).
fn escaped_echo(pairs: &[(String, String)]) -> Response {
    let mut members = Vec::new();
    for (k, v) in pairs {
        let raw = v.strip_prefix("Bearer ").unwrap_or(v);
        for (form, text) in escaped_forms(raw) {
            members.push(format!("\"{k} {form}\":\"{text}\""));
        }
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{{{}}}", members.join(",")),
    )
        .into_response()
}

pub async fn downstream() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .fallback(downstream_handler)
        .with_state(seen.clone());
    (serve(app).await, seen)
}

// ---------------------------------------------------------------------------------------------
// The rail

/// How the test connector gets its credentials.
#[derive(Clone, Default)]
pub struct Setup {
    /// The connector's `credential` (bearer).
    pub credential: String,
    /// `(header, reference)` pairs for `extra_credentials`.
    pub extras: Vec<(String, String)>,
    pub cache_ttl_ms: u64,
    /// TOML placed after `[providers]` (`timeout_ms = …` and `[providers.x]` tables).
    pub providers: String,
    /// Bind a profile of this name to the connector (uploaded by the test), and allow every
    /// action whose name is listed in `profile_actions`.
    pub profile: Option<String>,
    pub profile_actions: Vec<String>,
}

pub const POLICY: &str = r#"
@id("allow_refunds")
permit(principal, action == Action::"money.refund", resource);
@id("refund_cap")
forbid(principal, action == Action::"money.refund", resource) when { context.params.amount > 10000 };
"#;

pub struct Keys {
    pub config_path: PathBuf,
    pub api_key: String,
    pub admin_key: String,
}

fn key(prefix: &str) -> String {
    generate_key(prefix).unwrap().to_string()
}

/// Write a one-tenant config (`acme`, agent `bot-1`, connector `payments` →
/// `http://{downstream}`, `money.refund` → `POST /{payment_id}/refunds`).
pub fn write_config(dir: &Path, listen: &str, downstream: SocketAddr, s: &Setup) -> Keys {
    let (api_key, admin_key) = (key(AGENT_KEY_PREFIX), key(ADMIN_KEY_PREFIX));
    intentrail_server::keystore::generate(&dir.join("keys/acme"), app::now_ms()).unwrap();
    let extras: Vec<String> = s
        .extras
        .iter()
        .map(|(h, r)| format!("{{ header = \"{h}\", credential = \"{r}\" }}"))
        .collect();
    let text = format!(
        r#"listen = "{listen}"
ledger = "sqlite://ledger.db"

[providers]
{providers}

[[tenants]]
id = "acme"
keys_dir = "keys/acme"
admin_key_hash = "{ha}"
policies = '''{POLICY}{profile_policy}'''
[[tenants.agents]]
id = "bot-1"
key_hash = "{hk}"
[[tenants.connectors]]
name = "payments"
base_url = "http://{downstream}"
credential = "{credential}"
auth = {{ type = "bearer" }}
extra_credentials = [{extras}]
cache_ttl_ms = {ttl}
allow_private = true
timeout_ms = 800
connect_timeout_ms = 300
[[tenants.actions]]
name = "money.refund"
connector = "payments"
request = {{ method = "POST", path = "/{{payment_id}}/refunds" }}
{profile}"#,
        profile = s
            .profile
            .as_ref()
            .map(|p| format!("[[tenants.profiles]]\nname = \"{p}\"\nconnector = \"payments\"\n"))
            .unwrap_or_default(),
        providers = s.providers,
        ha = hash_key(&admin_key),
        hk = hash_key(&api_key),
        credential = s.credential,
        extras = extras.join(", "),
        ttl = s.cache_ttl_ms,
        profile_policy = s
            .profile_actions
            .iter()
            .map(|a| format!(
                "\n@id(\"allow_{a}\")\npermit(principal, action == Action::\"{a}\", resource);\n"
            ))
            .collect::<String>(),
    );
    let config_path = dir.join("intentrail.toml");
    std::fs::write(&config_path, text).unwrap();
    Keys {
        config_path,
        api_key,
        admin_key,
    }
}

/// An in-process rail in front of the echoing downstream.
pub struct TestRail {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub keys: Keys,
    pub seen: Seen,
    pub rail: Arc<Rail>,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestRail {
    pub async fn start(s: &Setup) -> TestRail {
        let (addr, seen) = downstream().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = write_config(dir.path(), "127.0.0.1:0", addr, s);
        let config = Config::load(&keys.config_path).unwrap();
        let ledger = intentrail_server::ledger::open(&config.ledger)
            .await
            .unwrap();
        let rail = Rail::build(config, ledger).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r = rail.clone();
        tokio::spawn(async move {
            app::serve(r, listener, async move {
                let _ = rx.await;
            })
            .await
        });
        TestRail {
            url,
            dir,
            keys,
            seen,
            rail,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            shutdown: Some(tx),
        }
    }

    /// One governed refund (intent + execute in one round trip) to `/{route}/refunds`.
    pub async fn refund(&self, route: &str) -> (u16, Value) {
        refund(&self.client, &self.url, &self.keys.api_key, route, 500).await
    }
}

impl Drop for TestRail {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn refund(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    route: &str,
    amount: u64,
) -> (u16, Value) {
    let r = client
        .post(format!("{url}/v1/actions/money.refund"))
        .bearer_auth(api_key)
        .header("IntentRail-Agent", "bot-1")
        .json(&json!({"params": {"payment_id": route, "amount": amount, "currency": "usd"}}))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}
