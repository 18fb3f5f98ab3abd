//! The async rail client the SDK bindings wrap (cargo feature `client`).
//!
//! Guarantees: [`RailClient::act`] executes only a permit that verified locally against the
//! tenant's JWKS (with the issuer and audience the rail announces for this key), that names the
//! action asked for and this agent, and whose `ph` is the payload hash of exactly the params
//! this client sends; anything else is refused before `POST /v1/execute` is sent. Every failure
//! is a [`ClientError`] carrying a core [`ErrorKind`]; the API key is never logged or shown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::{OnceCell, RwLock};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::keys::{Jwks, KeyResolver};
use crate::permit::{PermitClaims, VerifyOptions};
use crate::VerifyingKey;

/// Largest response body the client reads, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Default total timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An error of the client: a core [`Error`] plus what the rail's problem+json carried.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientError {
    /// The kind (from the problem's `code`) and a human detail.
    pub error: Error,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The receipt the rail recorded for this refusal, if any.
    pub receipt_id: Option<String>,
    /// Schema violations (`schema_invalid`), as the rail sent them.
    pub violations: Vec<Value>,
    /// The policy rules that decided (`policy_denied`, `approval_pending`).
    pub policy_ids: Vec<String>,
    /// The whole problem document (or `202` body), when the rail sent one.
    pub problem: Option<Box<Map<String, Value>>>,
}

impl ClientError {
    /// An error raised by the client itself (no HTTP answer involved).
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        ClientError::from(Error::new(kind, detail))
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The human detail.
    pub fn detail(&self) -> &str {
        self.error.detail()
    }

    /// The `code` exactly as the rail sent it. It differs from `self.error.code()` only when
    /// this client does not know the code (the kind is then [`ErrorKind::Internal`]).
    pub fn code(&self) -> &str {
        self.member("code").unwrap_or_else(|| self.error.code())
    }

    /// The error as a model should read it ([`crate::explain`]): code, detail, the rules or
    /// limit that decided, every violation with its pointer, and what calling again can do.
    /// The SDKs use it as their exceptions' message.
    pub fn explain(&self) -> String {
        let limit: Vec<String>;
        let rules = if self.policy_ids.is_empty() {
            limit = self
                .member("limit_id")
                .map(str::to_owned)
                .into_iter()
                .collect();
            &limit
        } else {
            &self.policy_ids
        };
        crate::explain::explain(&crate::explain::Explained {
            code: self.code(),
            detail: self.detail(),
            rules,
            violations: &self.violations,
            approval_id: self.approval_id(),
        })
    }

    /// The approval to wait for (`approval_pending`).
    pub fn approval_id(&self) -> Option<&str> {
        self.member("approval_id")
    }

    /// A string member of the problem document.
    pub fn member(&self, name: &str) -> Option<&str> {
        self.problem.as_ref()?.get(name)?.as_str()
    }

    /// Build from a problem+json document (or any JSON error body) of status `status`.
    pub fn from_problem(status: u16, doc: Value) -> Self {
        let code = doc
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let detail = doc
            .get("detail")
            .and_then(Value::as_str)
            .or_else(|| doc.get("title").and_then(Value::as_str))
            .unwrap_or("the rail refused the request")
            .to_string();
        let kind = match ErrorKind::from_code(&code) {
            Some(k) => k,
            None if code.is_empty() => ErrorKind::RailUnavailable,
            None => ErrorKind::Internal,
        };
        let strings = |name: &str| -> Vec<String> {
            doc.get(name)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let opt_str = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_string);
        ClientError {
            error: Error::new(kind, detail),
            status: Some(status),
            receipt_id: opt_str("receipt_id"),
            violations: doc
                .get("violations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            policy_ids: strings("policy_ids"),
            problem: match doc {
                Value::Object(m) => Some(Box::new(m)),
                _ => None,
            },
        }
    }
}

impl From<Error> for ClientError {
    fn from(error: Error) -> Self {
        ClientError {
            error,
            status: None,
            receipt_id: None,
            violations: Vec::new(),
            policy_ids: Vec::new(),
            problem: None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.error.detail())
    }
}

impl std::error::Error for ClientError {}

/// `Result` of the client.
pub type ClientResult<T> = std::result::Result<T, ClientError>;

/// Who the API key belongs to (`GET /v1/agent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent id.
    pub agent_id: String,
    /// The tenant id.
    pub tenant: String,
    /// The issuer permits of this tenant carry (`iss`).
    pub issuer: String,
    /// The rail's audience (`aud`).
    pub audience: String,
    /// The tenant's JWKS path (relative to the rail URL) or URL.
    pub jwks_url: String,
}

/// A permit the rail issued (`201` of `POST /v1/intents`).
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The compact JWS.
    pub permit: String,
    /// The claims: verified by [`RailClient::act`] / [`RailClient::verify_intent`]; as
    /// decoded without verification by [`RailClient::intent`].
    pub claims: PermitClaims,
    /// The permit id (`jti`).
    pub permit_id: String,
    /// The payload hash the rail computed.
    pub payload_hash: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// The decision receipt.
    pub receipt_id: Option<String>,
}

/// An intent that waits for a human (`202` of `POST /v1/intents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPending {
    /// The approval id.
    pub approval_id: String,
    /// The rules that asked for approval.
    pub policy_ids: Vec<String>,
    /// The decision receipt.
    pub receipt_id: Option<String>,
}

/// An intent that waits for a human is an error of kind [`ErrorKind::ApprovalPending`] for
/// callers that wanted the action executed (status 202, its `approval_id`, rules and receipt).
impl From<ApprovalPending> for ClientError {
    fn from(p: ApprovalPending) -> Self {
        ClientError::from_problem(
            202,
            json!({
                "code": ErrorKind::ApprovalPending.code(),
                "detail": format!("the action waits for approval {}", p.approval_id),
                "approval_id": p.approval_id,
                "policy_ids": p.policy_ids,
                "receipt_id": p.receipt_id,
            }),
        )
    }
}

/// What `POST /v1/intents` answered.
#[allow(clippy::large_enum_variant)] // `Issued` is the common case: no box for it.
#[derive(Debug, Clone, PartialEq)]
pub enum IntentOutcome {
    /// A permit was issued.
    Issued(Intent),
    /// A human must approve first.
    Pending(ApprovalPending),
}

impl IntentOutcome {
    /// The JSON form the SDKs hand to their callers: `{"status": "issued", permit, claims,
    /// permit_id, payload_hash, expires_at, receipt_id}` or `{"status": "approval_pending",
    /// approval_id, policy_ids, receipt_id}`.
    pub fn to_json(&self) -> Value {
        match self {
            IntentOutcome::Issued(i) => serde_json::json!({
                "status": "issued",
                "permit": i.permit,
                "claims": serde_json::to_value(&i.claims).unwrap_or(Value::Null),
                "permit_id": i.permit_id,
                "payload_hash": i.payload_hash,
                "expires_at": i.expires_at,
                "receipt_id": i.receipt_id,
            }),
            IntentOutcome::Pending(p) => serde_json::json!({
                "status": "approval_pending",
                "approval_id": p.approval_id,
                "policy_ids": p.policy_ids,
                "receipt_id": p.receipt_id,
            }),
        }
    }
}

/// The answer of an execution: the downstream's own status, headers and body, and the
/// signed receipt (raw JSON, so it can be verified with [`crate::verify_chain`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteResult {
    /// The downstream's HTTP status.
    pub status: u16,
    /// The downstream's headers (lower-case names; repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The downstream's body: parsed JSON when it was JSON, else a string.
    pub body: Value,
    /// The permit that was consumed.
    pub permit_id: Option<String>,
    /// The execution receipt as the rail returned it.
    pub receipt: Value,
}

/// The async client of one agent. Cheap to clone (shares connections and caches).
#[derive(Clone)]
pub struct RailClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    api_key: Zeroizing<String>,
    agent_id: String,
    timeout: Duration,
    http: reqwest::Client,
    agent: OnceCell<AgentInfo>,
    jwks: RwLock<Option<Arc<Jwks>>>,
}

impl std::fmt::Debug for RailClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RailClient")
            .field("url", &self.inner.base)
            .field("agent_id", &self.inner.agent_id)
            .field("api_key", &"[redacted]")
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// A resolver that remembers whether a `kid` was asked for and not found.
struct Recording<'a> {
    jwks: &'a Jwks,
    missed: std::cell::Cell<bool>,
}

impl KeyResolver for Recording<'_> {
    fn resolve(&self, kid: &str) -> Option<VerifyingKey> {
        let k = self.jwks.resolve(kid);
        if k.is_none() {
            self.missed.set(true);
        }
        k
    }
}

fn unavailable(detail: impl Into<String>) -> ClientError {
    ClientError::new(ErrorKind::RailUnavailable, detail)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn header_safe(name: &str, v: &str) -> ClientResult<()> {
    if v.is_empty() || v.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(ClientError::new(
            ErrorKind::InvalidRequest,
            format!("{name} must be non-empty printable ASCII without spaces"),
        ));
    }
    Ok(())
}

/// Check that `params` is a JSON object the rail can accept (I-JSON numbers).
pub fn check_params(params: &Value) -> ClientResult<()> {
    if !params.is_object() {
        return Err(ClientError::new(
            ErrorKind::InvalidRequest,
            "params must be a JSON object",
        ));
    }
    crate::json::check_value(params)?;
    Ok(())
}

/// The checks [`RailClient::act`] makes on a permit before executing it: the token verifies
/// (signature, header, key, issuer, audience, time) with `resolver` and `opts`; `act` is
/// `action`; `sub` and `tnt` are this agent's; and `ph` is the payload hash of `params`.
/// Errors: [`ErrorKind::PermitInvalid`] / [`ErrorKind::PermitExpired`] from verification,
/// [`ErrorKind::PermitInvalid`] for the wrong action, [`ErrorKind::AgentMismatch`] for another
/// agent, [`ErrorKind::PayloadHashMismatch`] for other params.
pub fn check_permit(
    token: &str,
    resolver: &dyn KeyResolver,
    opts: &VerifyOptions,
    agent: &AgentInfo,
    action: &str,
    params: &Value,
) -> crate::Result<PermitClaims> {
    let claims = crate::permit::verify(token, resolver, opts)?;
    if claims.act != action {
        return Err(Error::new(
            ErrorKind::PermitInvalid,
            format!(
                "act: the permit is for {:?}, not {action:?}",
                claims.act.chars().take(128).collect::<String>()
            ),
        ));
    }
    if claims.sub != agent.agent_id || claims.tnt != agent.tenant {
        return Err(Error::new(
            ErrorKind::AgentMismatch,
            "sub/tnt: the permit was issued to another agent",
        ));
    }
    let ph = crate::hash::payload_hash(params)?;
    if claims.ph != ph {
        return Err(Error::new(
            ErrorKind::PayloadHashMismatch,
            "ph: the permit does not bind the params this client sends; refusing to execute",
        ));
    }
    Ok(claims)
}

impl RailClient {
    /// A client for the rail at `url` (e.g. `http://127.0.0.1:8080`), authenticating as
    /// `agent_id` with `api_key`. `timeout` bounds each request (connect to last byte).
    /// Redirects are never followed and system proxies are not used: the API key goes only to
    /// `url`.
    pub fn new(
        url: &str,
        api_key: Zeroizing<String>,
        agent_id: &str,
        timeout: Duration,
    ) -> ClientResult<Self> {
        let base = url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::new(ErrorKind::InvalidRequest, format!("rail url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::new(
                ErrorKind::InvalidRequest,
                "rail url: the scheme must be http or https",
            ));
        }
        header_safe("api_key", &api_key)?;
        header_safe("agent_id", agent_id)?;
        if timeout.is_zero() {
            return Err(ClientError::new(
                ErrorKind::InvalidRequest,
                "timeout must be positive",
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("intentrail-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(RailClient {
            inner: Arc::new(Inner {
                base,
                api_key,
                agent_id: agent_id.to_string(),
                timeout,
                http,
                agent: OnceCell::new(),
                jwks: RwLock::new(None),
            }),
        })
    }

    /// The rail URL (without a trailing slash).
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// The agent id.
    pub fn agent_id(&self) -> &str {
        &self.inner.agent_id
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> ClientResult<(u16, Value)> {
        let req = req
            .bearer_auth(self.inner.api_key.as_str())
            .header("IntentRail-Agent", &self.inner.agent_id)
            .header(reqwest::header::ACCEPT, "application/json");
        let resp = req.send().await.map_err(|e| {
            // Display of a reqwest error names the URL (no credentials in it) and the cause.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            unavailable(format!("{what}: {}", error_chain(&e)))
        })?;
        let status = resp.status().as_u16();
        if let Some(n) = resp.content_length() {
            if n > MAX_RESPONSE_BYTES as u64 {
                return Err(unavailable(format!("the answer is too large ({n} bytes)")));
            }
        }
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable(format!("reading the answer: {}", error_chain(&e))))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(unavailable("the answer is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        let limits = crate::json::Limits {
            max_bytes: MAX_RESPONSE_BYTES,
            // A downstream body nests as it likes; the rail already accepted it.
            max_depth: 256,
        };
        let parsed = crate::json::parse_strict_with(&body, limits);
        let ok = (200..300).contains(&status);
        match (ok, parsed) {
            (true, Ok(v)) => Ok((status, v)),
            (true, Err(e)) => Err(unavailable(format!(
                "the rail answered HTTP {status} with a body that is not acceptable JSON: {}",
                e.detail()
            ))),
            (false, Ok(v)) if v.get("code").and_then(Value::as_str).is_some() => {
                Err(ClientError::from_problem(status, v))
            }
            (false, _) => {
                let mut e = unavailable(format!(
                    "the rail answered HTTP {status} without a problem document"
                ));
                e.status = Some(status);
                Err(e)
            }
        }
    }

    async fn get(&self, path: &str) -> ClientResult<Value> {
        let url = format!("{}{path}", self.inner.base);
        Ok(self.send(self.inner.http.get(url)).await?.1)
    }

    async fn post(&self, path: &str, body: &Value) -> ClientResult<(u16, Value)> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ClientError::new(ErrorKind::InvalidJson, format!("request body: {e}")))?;
        let url = format!("{}{path}", self.inner.base);
        let req = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        self.send(req).await
    }

    /// `GET /v1/agent`: who this key belongs to (cached after the first success).
    pub async fn agent(&self) -> ClientResult<AgentInfo> {
        let info = self
            .inner
            .agent
            .get_or_try_init(|| async {
                let v = self.get("/v1/agent").await?;
                serde_json::from_value::<AgentInfo>(v)
                    .map_err(|e| unavailable(format!("GET /v1/agent: unexpected answer: {e}")))
            })
            .await?;
        Ok(info.clone())
    }

    /// The tenant's JWKS (cached; [`RailClient::refresh_jwks`] reloads it).
    pub async fn jwks(&self) -> ClientResult<Arc<Jwks>> {
        if let Some(j) = self.inner.jwks.read().await.as_ref() {
            return Ok(j.clone());
        }
        self.refresh_jwks().await
    }

    /// Fetch the tenant's JWKS again and cache it.
    pub async fn refresh_jwks(&self) -> ClientResult<Arc<Jwks>> {
        let agent = self.agent().await?;
        let path = if agent.jwks_url.starts_with('/') {
            agent.jwks_url.clone()
        } else {
            format!("/v1/tenants/{}/jwks.json", agent.tenant)
        };
        let v = self.get(&path).await?;
        let bytes = serde_json::to_vec(&v).map_err(|e| unavailable(format!("jwks: {e}")))?;
        let jwks = Arc::new(Jwks::parse(&bytes).map_err(|e| {
            unavailable(format!("the rail's JWKS is not acceptable: {}", e.detail()))
        })?);
        *self.inner.jwks.write().await = Some(jwks.clone());
        Ok(jwks)
    }

    /// `POST /v1/intents`. The claims in the answer are decoded WITHOUT verification; use
    /// [`RailClient::verify_intent`] (or [`RailClient::act`]) before relying on them.
    pub async fn intent(
        &self,
        action: &str,
        params: &Value,
        idempotency_key: Option<&str>,
    ) -> ClientResult<IntentOutcome> {
        check_params(params)?;
        let mut body = json!({"action": action, "params": params});
        if let (Some(k), Value::Object(m)) = (idempotency_key, &mut body) {
            m.insert("idempotency_key".into(), Value::String(k.to_string()));
        }
        let (status, v) = self.post("/v1/intents", &body).await?;
        if status == 202 {
            let approval_id = v
                .get("approval_id")
                .and_then(Value::as_str)
                .ok_or_else(|| unavailable("202 without approval_id"))?
                .to_string();
            let e = ClientError::from_problem(202, v);
            return Ok(IntentOutcome::Pending(ApprovalPending {
                approval_id,
                policy_ids: e.policy_ids,
                receipt_id: e.receipt_id,
            }));
        }
        let s = |name: &str| -> ClientResult<String> {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| unavailable(format!("POST /v1/intents: answer without {name}")))
        };
        let permit = s("permit")?;
        let claims = crate::permit::decode_unverified(&permit)?;
        Ok(IntentOutcome::Issued(Intent {
            permit_id: s("permit_id").unwrap_or_else(|_| claims.jti.clone()),
            payload_hash: s("payload_hash").unwrap_or_else(|_| claims.ph.clone()),
            expires_at: v
                .get("expires_at")
                .and_then(Value::as_i64)
                .unwrap_or(claims.exp),
            receipt_id: s("receipt_id").ok(),
            permit,
            claims,
        }))
    }

    /// Verify `permit` locally for `action` and `params` (see [`check_permit`]) against the
    /// tenant JWKS, reloading the JWKS once when the permit names an unknown key.
    pub async fn verify_intent(
        &self,
        permit: &str,
        action: &str,
        params: &Value,
    ) -> ClientResult<PermitClaims> {
        let agent = self.agent().await?;
        let opts = VerifyOptions {
            issuer: &agent.issuer,
            audience: &agent.audience,
            now: now_secs(),
        };
        let jwks = self.jwks().await?;
        {
            let rec = Recording {
                jwks: &jwks,
                missed: std::cell::Cell::new(false),
            };
            match check_permit(permit, &rec, &opts, &agent, action, params) {
                Ok(c) => return Ok(c),
                Err(e) if !rec.missed.get() => return Err(e.into()),
                Err(_) => {}
            }
        }
        // An unknown kid: the tenant may have rotated its key since the JWKS was cached.
        let jwks = self.refresh_jwks().await?;
        Ok(check_permit(
            permit,
            jwks.as_ref(),
            &opts,
            &agent,
            action,
            params,
        )?)
    }

    /// `POST /v1/execute` with `permit` and `params` (no local checks: see
    /// [`RailClient::act`]).
    pub async fn execute(&self, permit: &str, params: &Value) -> ClientResult<ExecuteResult> {
        check_params(params)?;
        let body = json!({"permit": permit, "params": params});
        let (_, v) = self.post("/v1/execute", &body).await?;
        parse_execute(v)
    }

    /// The governed path: intent, local verification of the permit (see [`check_permit`]:
    /// refused with `permit_invalid`, `permit_expired`, `agent_mismatch` or
    /// `payload_hash_mismatch` BEFORE anything is executed), then execute. An intent that
    /// needs approval is an error of kind [`ErrorKind::ApprovalPending`] with its
    /// `approval_id`.
    pub async fn act(
        &self,
        action: &str,
        params: &Value,
        idempotency_key: Option<&str>,
    ) -> ClientResult<ExecuteResult> {
        check_params(params)?;
        // Warm the agent and key caches while the intent is in flight.
        let (intent, keys) = tokio::join!(self.intent(action, params, idempotency_key), async {
            self.jwks().await
        });
        let intent = match intent? {
            IntentOutcome::Issued(i) => i,
            IntentOutcome::Pending(p) => return Err(p.into()),
        };
        keys?;
        self.verify_intent(&intent.permit, action, params).await?;
        self.execute(&intent.permit, params).await
    }

    /// `GET /v1/actions`: the tenant's catalog, as the rail sent it.
    pub async fn actions(&self) -> ClientResult<Value> {
        self.get("/v1/actions").await
    }

    /// `GET /v1/receipts/{id}`: one receipt (raw JSON).
    pub async fn receipt(&self, id: &str) -> ClientResult<Value> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ClientError::new(
                ErrorKind::InvalidRequest,
                "a receipt id is letters, digits, '_' and '-'",
            ));
        }
        self.get(&format!("/v1/receipts/{id}")).await
    }

    /// `GET /v1/receipts?after=&limit=`: `{receipts, next_after}` as the rail sent it.
    pub async fn receipts(&self, after: u64, limit: Option<u32>) -> ClientResult<Value> {
        let mut path = format!("/v1/receipts?after={after}");
        if let Some(l) = limit {
            path.push_str(&format!("&limit={l}"));
        }
        self.get(&path).await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn parse_execute(v: Value) -> ClientResult<ExecuteResult> {
    let Value::Object(mut m) = v else {
        return Err(unavailable("POST /v1/execute: the answer is not an object"));
    };
    let status = m
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| unavailable("POST /v1/execute: answer without status"))?;
    let headers = match m.remove("headers") {
        Some(Value::Object(h)) => h
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let receipt = m
        .remove("receipt")
        .filter(Value::is_object)
        .ok_or_else(|| unavailable("POST /v1/execute: answer without receipt"))?;
    Ok(ExecuteResult {
        status,
        headers,
        body: m.remove("body").unwrap_or(Value::Null),
        permit_id: m
            .remove("permit_id")
            .and_then(|p| p.as_str().map(str::to_string)),
        receipt,
    })
}

/// The execute answer as the JSON object the rail sent (`{status, headers, body, receipt}`).
impl ExecuteResult {
    /// Back to the wire shape.
    pub fn to_value(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "status": self.status,
            "headers": headers,
            "body": self.body,
            "permit_id": self.permit_id,
            "receipt": self.receipt,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    type Handler = dyn Fn(&str, &Value, usize) -> (u16, Value) + Send + Sync;

    /// A tiny HTTP/1.1 double: answers each request with `handler(path, body, n)` where `n`
    /// counts earlier requests to the same path; records every path.
    struct Double {
        url: String,
        seen: Arc<Mutex<Vec<String>>>,
    }

    async fn double(handler: Arc<Handler>) -> Double {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    let head_end = loop {
                        let n = sock.read(&mut tmp).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = sock.read(&mut tmp).await.unwrap();
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let body: Value = serde_json::from_slice(&buf[head_end..head_end + len])
                        .unwrap_or(Value::Null);
                    let n = {
                        let mut l = log.lock().unwrap();
                        let n = l.iter().filter(|p| **p == path).count();
                        l.push(path.clone());
                        n
                    };
                    let (status, out) = handler(&path, &body, n);
                    let out = out.to_string();
                    let ct = if status >= 400 {
                        "application/problem+json"
                    } else {
                        "application/json"
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                        out.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Double { url, seen }
    }

    fn agent_json() -> Value {
        json!({"agent_id": "bot", "tenant": "t1", "issuer": "iss", "audience": "aud",
               "jwks_url": "/v1/tenants/t1/jwks.json"})
    }

    fn permit_for(key: &SigningKey, act: &str, params: &Value) -> String {
        let now = now_secs();
        let claims = PermitClaims {
            iss: "iss".into(),
            aud: "aud".into(),
            sub: "bot".into(),
            tnt: "t1".into(),
            act: act.into(),
            ph: crate::hash::payload_hash(params).unwrap(),
            jti: "pmt_1".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            pol: "sha256:p".into(),
            idk: None,
            prv: None,
        };
        crate::permit::issue(&claims, key).unwrap()
    }

    fn jwks_of(keys: &[&SigningKey]) -> Value {
        serde_json::from_str(
            &Jwks::from_keys(keys.iter().map(|k| k.jwk()).collect())
                .unwrap()
                .to_json()
                .unwrap(),
        )
        .unwrap()
    }

    /// A rail double that issues permits for `permit_params` (not necessarily what was asked)
    /// with `key`, serving `jwks_seq[n]` on the n-th JWKS fetch.
    fn rail(
        key: SigningKey,
        permit_params: Option<Value>,
        act: &'static str,
        jwks_seq: Vec<Value>,
    ) -> Arc<Handler> {
        Arc::new(move |path: &str, body: &Value, n: usize| match path {
            "/v1/agent" => (200, agent_json()),
            "/v1/tenants/t1/jwks.json" => (200, jwks_seq[n.min(jwks_seq.len() - 1)].clone()),
            "/v1/intents" => {
                let params = permit_params
                    .clone()
                    .unwrap_or_else(|| body["params"].clone());
                let p = permit_for(&key, act, &params);
                (
                    201,
                    json!({"permit": p, "permit_id": "pmt_1", "payload_hash": "x", "expires_at": 1, "receipt_id": "rct_1"}),
                )
            }
            "/v1/execute" => (
                200,
                json!({"status": 200, "headers": {"content-type": "application/json"},
                                           "body": {"ok": true}, "permit_id": "pmt_1",
                                           "receipt": {"id": "rct_2", "seq": 2}}),
            ),
            _ => (404, json!({"code": "unsupported_endpoint", "detail": "no"})),
        })
    }

    fn client(url: &str) -> RailClient {
        RailClient::new(
            url,
            Zeroizing::new("ir_test_key".into()),
            "bot",
            Duration::from_secs(5),
        )
        .unwrap()
    }

    fn executes(d: &Double) -> usize {
        d.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == "/v1/execute")
            .count()
    }

    #[tokio::test]
    async fn act_verifies_then_executes() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let j = jwks_of(&[&k]);
        let d = double(rail(k, None, "money.refund", vec![j])).await;
        let r = client(&d.url)
            .act(
                "money.refund",
                &json!({"amount": 5, "payment_id": "p"}),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, json!({"ok": true}));
        assert_eq!(r.receipt["id"], "rct_2");
        assert_eq!(executes(&d), 1);
    }

    #[tokio::test]
    async fn a_permit_for_other_params_is_refused_before_execute() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let j = jwks_of(&[&k]);
        let d = double(rail(
            k,
            Some(json!({"amount": 999_999, "payment_id": "p"})),
            "money.refund",
            vec![j],
        ))
        .await;
        let e = client(&d.url)
            .act(
                "money.refund",
                &json!({"amount": 5, "payment_id": "p"}),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadHashMismatch);
        assert_eq!(executes(&d), 0);
    }

    #[tokio::test]
    async fn a_permit_for_another_action_or_key_is_refused_before_execute() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let j = jwks_of(&[&k]);
        let d = double(rail(k, None, "money.transfer", vec![j])).await;
        let e = client(&d.url)
            .act("money.refund", &json!({"a": 1}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermitInvalid);
        assert_eq!(executes(&d), 0);

        // Signed by a key the tenant never published, even after a refresh.
        let other = SigningKey::from_bytes(&[8; 32]);
        let published = jwks_of(&[&SigningKey::from_bytes(&[7; 32])]);
        let d = double(rail(other, None, "money.refund", vec![published])).await;
        let e = client(&d.url)
            .act("money.refund", &json!({"a": 1}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermitInvalid);
        assert_eq!(executes(&d), 0);
    }

    #[tokio::test]
    async fn an_unknown_kid_reloads_the_jwks_once() {
        let old = SigningKey::from_bytes(&[7; 32]);
        let new = SigningKey::from_bytes(&[9; 32]);
        let seq = vec![jwks_of(&[&old]), jwks_of(&[&old, &new])];
        let d = double(rail(new, None, "money.refund", seq)).await;
        let c = client(&d.url);
        c.jwks().await.unwrap();
        c.act("money.refund", &json!({"a": 1}), None).await.unwrap();
        let fetches = d
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.contains("jwks"))
            .count();
        assert_eq!(fetches, 2);
        assert_eq!(executes(&d), 1);
    }

    #[tokio::test]
    async fn problems_keep_their_code_and_members() {
        let h: Arc<Handler> = Arc::new(|path: &str, _: &Value, _| match path {
            "/v1/agent" => (200, agent_json()),
            "/v1/tenants/t1/jwks.json" => (200, json!({"keys": []})),
            _ => (
                403,
                json!({"code": "policy_denied", "status": 403, "detail": "capped",
                               "policy_ids": ["refund_cap"], "receipt_id": "rct_9"}),
            ),
        });
        let d = double(h).await;
        let e = client(&d.url)
            .act("money.refund", &json!({"a": 1}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PolicyDenied);
        assert_eq!(e.code(), "policy_denied");
        assert_eq!(e.status, Some(403));
        assert_eq!(e.policy_ids, vec!["refund_cap".to_string()]);
        assert_eq!(e.receipt_id.as_deref(), Some("rct_9"));
        assert_eq!(e.detail(), "capped");
    }

    #[tokio::test]
    async fn approval_pending_is_an_error_of_act_with_its_id() {
        let h: Arc<Handler> = Arc::new(|path: &str, _: &Value, _| match path {
            "/v1/agent" => (200, agent_json()),
            "/v1/tenants/t1/jwks.json" => (200, json!({"keys": []})),
            _ => (
                202,
                json!({"status": "approval_pending", "code": "approval_pending",
                               "approval_id": "apr_1", "policy_ids": ["needs_human"], "receipt_id": "rct_3"}),
            ),
        });
        let d = double(h).await;
        let c = client(&d.url);
        let e = c
            .act("money.transfer", &json!({"a": 1}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ApprovalPending);
        assert_eq!(e.approval_id(), Some("apr_1"));
        assert_eq!(e.receipt_id.as_deref(), Some("rct_3"));
        assert_eq!(e.policy_ids, vec!["needs_human".to_string()]);
        match c
            .intent("money.transfer", &json!({"a": 1}), None)
            .await
            .unwrap()
        {
            IntentOutcome::Pending(p) => assert_eq!(p.approval_id, "apr_1"),
            IntentOutcome::Issued(_) => panic!("expected pending"),
        }
    }

    #[tokio::test]
    async fn network_failures_are_rail_unavailable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let e = client(&url).actions().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RailUnavailable);
        assert!(!e.to_string().contains("ir_test_key"));
    }

    #[tokio::test]
    async fn params_are_checked_before_sending() {
        let c = client("http://127.0.0.1:9");
        let e = c.intent("a", &json!([1]), None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        let e = c
            .intent("a", &json!({"n": 1u64 << 60}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidJson);
        let e = RailClient::new("ftp://x", Zeroizing::new("k".into()), "a", DEFAULT_TIMEOUT)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(!format!("{c:?}").contains("ir_test_key"));
    }
}
