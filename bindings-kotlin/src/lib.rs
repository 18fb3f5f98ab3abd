//! The native part of the Kotlin SDK (`dev.intentrail`), exported with uniffi proc-macros;
//! the Swift bindings are generated from the same exports.
//!
//! Type conversion, error mapping and async bridging only; every rule lives in
//! `intentrail-core`, including the table from an error code to its family
//! ([`ErrorKind::family`]). JSON crosses the boundary as UTF-8 bytes (the Kotlin layer encodes
//! strictly, core parses strictly) and answers go back as JSON text or records. Network calls
//! are uniffi async functions (Kotlin `suspend`): each runs on this library's tokio runtime and
//! the caller's coroutine is resumed when it completes, so no JVM thread waits on the rail.

// `NativeError` crosses the FFI by value as uniffi lowers it (no `Box` there); it is the rare
// path, so its size on the stack does not matter.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use intentrail_core::client::{ClientError, ExecuteResult, IntentOutcome, RailClient};
use intentrail_core::{Error, ErrorFamily, ErrorKind, Jwks, VerifyOptions};
use serde_json::Value;
use zeroize::Zeroizing;

uniffi::setup_scaffolding!();

// ---------------------------------------------------------------------------------------------
// Errors.

/// The family of an error: the Kotlin exception class it becomes (core's [`ErrorFamily`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Family {
    /// `policy_denied`, `rate_limited`.
    PolicyDenied,
    /// `approval_pending`.
    ApprovalPending,
    /// `schema_invalid`.
    SchemaInvalid,
    /// `permit_invalid`, `permit_expired`, `permit_already_used`, `agent_mismatch`,
    /// `payload_hash_mismatch`.
    PermitRejected,
    /// `downstream_error`, `downstream_timeout`.
    DownstreamError,
    /// `rail_unavailable`, `ledger_unavailable`, `credential_unavailable`.
    RailUnavailable,
    /// `unauthenticated`, `forbidden`.
    AuthenticationError,
    /// `invalid_json`, `invalid_request`, `unknown_action`, `unsupported_endpoint`,
    /// `idempotency_conflict`, `request_in_progress`, `payload_too_large`, `not_found`.
    InvalidRequest,
    /// `receipt_invalid`.
    ReceiptInvalid,
    /// `internal` and codes this build does not know.
    Internal,
}

impl From<ErrorFamily> for Family {
    fn from(f: ErrorFamily) -> Self {
        match f {
            ErrorFamily::PolicyDenied => Family::PolicyDenied,
            ErrorFamily::ApprovalPending => Family::ApprovalPending,
            ErrorFamily::SchemaInvalid => Family::SchemaInvalid,
            ErrorFamily::PermitRejected => Family::PermitRejected,
            ErrorFamily::DownstreamError => Family::DownstreamError,
            ErrorFamily::RailUnavailable => Family::RailUnavailable,
            ErrorFamily::AuthenticationError => Family::AuthenticationError,
            ErrorFamily::InvalidRequest => Family::InvalidRequest,
            ErrorFamily::ReceiptInvalid => Family::ReceiptInvalid,
            // `ErrorFamily` is non-exhaustive: a family added later is raised as the base
            // class until this SDK knows it.
            _ => Family::Internal,
        }
    }
}

/// Every failure of this library: what the rail's problem document (or core) said, with the
/// family chosen by core. The Kotlin layer turns it into the `IntentRailException` subclass
/// of its family, in one place.
#[derive(Debug, uniffi::Error)]
pub enum NativeError {
    /// An IntentRail error.
    Rail {
        /// The exception family.
        family: Family,
        /// The stable code exactly as the rail sent it (or core's).
        code: String,
        /// The human detail (never a secret).
        detail: String,
        /// The HTTP status of the rail's answer, when there was one.
        status: Option<u16>,
        /// The receipt the rail recorded for this refusal, if any.
        receipt_id: Option<String>,
        /// Schema violations, as a JSON array (text).
        violations_json: String,
        /// The rules that decided (`policy_denied`, `approval_pending`).
        policy_ids: Vec<String>,
        /// The approval to wait for (`approval_pending`).
        approval_id: Option<String>,
        /// The whole problem document as JSON text, when the rail sent one.
        problem_json: Option<String>,
    },
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NativeError::Rail { code, detail, .. } => write!(f, "{code}: {detail}"),
        }
    }
}

impl std::error::Error for NativeError {}

impl From<ClientError> for NativeError {
    fn from(e: ClientError) -> Self {
        NativeError::Rail {
            family: ErrorFamily::of_code(e.code()).into(),
            code: e.code().to_string(),
            detail: e.detail().to_string(),
            status: e.status,
            receipt_id: e.receipt_id.clone(),
            violations_json: Value::Array(e.violations.clone()).to_string(),
            policy_ids: e.policy_ids.clone(),
            approval_id: e.approval_id().map(str::to_string),
            problem_json: e
                .problem
                .as_ref()
                .map(|m| Value::Object((**m).clone()).to_string()),
        }
    }
}

impl From<Error> for NativeError {
    fn from(e: Error) -> Self {
        ClientError::from(e).into()
    }
}

fn invalid_request(detail: &str) -> NativeError {
    Error::new(ErrorKind::InvalidRequest, detail).into()
}

// ---------------------------------------------------------------------------------------------
// Runtime: one per process, built at the first network call.

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime, NativeError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("intentrail-io")
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("tokio runtime: {e}")))?;
    // Two first calls may race: one runtime is kept, the other dropped here, unused.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Run `fut` on the runtime; the caller (a uniffi future, polled by Kotlin) only waits for
/// the result.
async fn on_runtime<T, F>(fut: F) -> Result<T, NativeError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, NativeError>> + Send + 'static,
{
    runtime()?
        .spawn(fut)
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("the call failed: {e}")))?
}

// ---------------------------------------------------------------------------------------------
// Records.

/// Who the API key belongs to (`GET /v1/agent`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct NativeAgent {
    /// The agent id.
    pub agent_id: String,
    /// The tenant id.
    pub tenant: String,
    /// The issuer the tenant's permits carry.
    pub issuer: String,
    /// The rail's audience.
    pub audience: String,
    /// The tenant's JWKS path or URL.
    pub jwks_url: String,
}

/// A permit the rail issued (claims decoded, not verified: `act` verifies).
#[derive(Debug, Clone, uniffi::Record)]
pub struct NativePermit {
    /// The compact JWS.
    pub token: String,
    /// The claims as JSON text.
    pub claims_json: String,
    /// The permit id (`jti`).
    pub permit_id: String,
    /// The payload hash the rail computed.
    pub payload_hash: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// The decision receipt.
    pub receipt_id: Option<String>,
}

/// The answer of an execution.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NativeResult {
    /// The downstream's HTTP status.
    pub status: u16,
    /// The downstream's headers (lower-case names).
    pub headers: HashMap<String, String>,
    /// The downstream's body as JSON text (a JSON string when it was not JSON).
    pub body_json: String,
    /// The permit that was consumed.
    pub permit_id: Option<String>,
    /// The signed execution receipt as JSON text.
    pub receipt_json: String,
}

impl From<ExecuteResult> for NativeResult {
    fn from(r: ExecuteResult) -> Self {
        NativeResult {
            status: r.status,
            headers: r.headers.into_iter().collect(),
            body_json: r.body.to_string(),
            permit_id: r.permit_id,
            receipt_json: r.receipt.to_string(),
        }
    }
}

/// What a verified receipt chain ended with.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NativeChainReport {
    /// Receipts checked.
    pub count: u64,
    /// `seq` of the last receipt.
    pub last_seq: u64,
    /// `hash` of the last receipt.
    pub last_hash: String,
}

// ---------------------------------------------------------------------------------------------
// The client.

/// Strictly parse JSON bytes (I-JSON: duplicate keys, lone surrogates, integers beyond
/// ±(2^53−1), … are refused with `invalid_json`).
fn parse(bytes: &[u8]) -> Result<Value, NativeError> {
    Ok(intentrail_core::json::parse_strict(bytes)?)
}

/// The native client of one agent (wrapped by `dev.intentrail.Rail`).
#[derive(uniffi::Object)]
pub struct NativeRail {
    client: RailClient,
}

#[uniffi::export]
impl NativeRail {
    /// A client for the rail at `url`, authenticating as `agent_id` with `api_key`; each
    /// request is bounded by `timeout_ms` milliseconds.
    #[uniffi::constructor]
    pub fn new(
        url: String,
        api_key: String,
        agent_id: String,
        timeout_ms: u64,
    ) -> Result<Arc<Self>, NativeError> {
        if timeout_ms == 0 {
            return Err(invalid_request("timeout must be positive"));
        }
        let client = RailClient::new(
            &url,
            Zeroizing::new(api_key),
            &agent_id,
            Duration::from_millis(timeout_ms),
        )?;
        Ok(Arc::new(NativeRail { client }))
    }

    /// The rail URL (without a trailing slash).
    pub fn url(&self) -> String {
        self.client.url().to_string()
    }

    /// The agent id.
    pub fn agent_id(&self) -> String {
        self.client.agent_id().to_string()
    }

    /// The per-request timeout, in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        u64::try_from(self.client.timeout().as_millis()).unwrap_or(u64::MAX)
    }

    /// `GET /v1/agent` (cached after the first success).
    pub async fn agent(&self) -> Result<NativeAgent, NativeError> {
        let c = self.client.clone();
        on_runtime(async move {
            let a = c.agent().await?;
            Ok(NativeAgent {
                agent_id: a.agent_id,
                tenant: a.tenant,
                issuer: a.issuer,
                audience: a.audience,
                jwks_url: a.jwks_url,
            })
        })
        .await
    }

    /// The tenant's JWKS as JSON text (cached; reloaded when a permit names an unknown key).
    pub async fn jwks(&self) -> Result<String, NativeError> {
        let c = self.client.clone();
        on_runtime(async move { Ok(c.jwks().await?.to_json()?) }).await
    }

    /// `POST /v1/intents`: the permit (claims decoded, not verified), or an `ApprovalPending`
    /// error when a human must approve first.
    pub async fn intent(
        &self,
        action: String,
        params_json: Vec<u8>,
        idempotency_key: Option<String>,
    ) -> Result<NativePermit, NativeError> {
        let c = self.client.clone();
        on_runtime(async move {
            let params = parse(&params_json)?;
            match c
                .intent(&action, &params, idempotency_key.as_deref())
                .await?
            {
                IntentOutcome::Issued(i) => Ok(NativePermit {
                    claims_json: serde_json::to_string(&i.claims)
                        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?,
                    token: i.permit,
                    permit_id: i.permit_id,
                    payload_hash: i.payload_hash,
                    expires_at: i.expires_at,
                    receipt_id: i.receipt_id,
                }),
                IntentOutcome::Pending(p) => Err(ClientError::from(p).into()),
            }
        })
        .await
    }

    /// `POST /v1/execute` of `permit` with exactly `params_json` (no local checks).
    pub async fn execute(
        &self,
        permit: String,
        params_json: Vec<u8>,
    ) -> Result<NativeResult, NativeError> {
        let c = self.client.clone();
        on_runtime(async move {
            let params = parse(&params_json)?;
            Ok(c.execute(&permit, &params).await?.into())
        })
        .await
    }

    /// The governed path: intent, local verification of the permit (signature, key, issuer,
    /// audience, time, action, agent, payload hash of exactly these params), then execute.
    /// A permit that fails a check is refused before anything is executed.
    pub async fn act(
        &self,
        action: String,
        params_json: Vec<u8>,
        idempotency_key: Option<String>,
    ) -> Result<NativeResult, NativeError> {
        let c = self.client.clone();
        on_runtime(async move {
            let params = parse(&params_json)?;
            Ok(c.act(&action, &params, idempotency_key.as_deref())
                .await?
                .into())
        })
        .await
    }

    /// `GET /v1/actions`: the catalog (`{actions: [{name, description, schema}]}`), JSON text.
    pub async fn actions(&self) -> Result<String, NativeError> {
        let c = self.client.clone();
        on_runtime(async move { Ok(c.actions().await?.to_string()) }).await
    }

    /// `GET /v1/receipts/{id}`: one receipt, JSON text.
    pub async fn receipt(&self, id: String) -> Result<String, NativeError> {
        let c = self.client.clone();
        on_runtime(async move { Ok(c.receipt(&id).await?.to_string()) }).await
    }

    /// `GET /v1/receipts?after=&limit=`: `{receipts, next_after}`, JSON text.
    pub async fn receipts(&self, after: u64, limit: Option<u32>) -> Result<String, NativeError> {
        let c = self.client.clone();
        on_runtime(async move { Ok(c.receipts(after, limit).await?.to_string()) }).await
    }
}

// ---------------------------------------------------------------------------------------------
// Core helpers.

/// RFC 8785 canonical bytes of a JSON document (UTF-8 bytes), strictly parsed (I-JSON).
#[uniffi::export]
pub fn canonicalize(json: Vec<u8>) -> Result<Vec<u8>, NativeError> {
    Ok(intentrail_core::jcs::canonicalize_bytes(&json)?)
}

/// `sha256:` + base64url(SHA-256(JCS(doc))) of a JSON document (UTF-8 bytes), strictly parsed.
#[uniffi::export]
pub fn payload_hash(json: Vec<u8>) -> Result<String, NativeError> {
    Ok(intentrail_core::hash::payload_hash_bytes(&json)?.1)
}

/// Verify a permit strictly against a JWKS document (JSON bytes) at Unix time `now`; returns
/// the claims as JSON text.
#[uniffi::export]
pub fn verify_permit(
    token: String,
    jwks_json: Vec<u8>,
    audience: String,
    issuer: String,
    now: i64,
) -> Result<String, NativeError> {
    let jwks = Jwks::parse(&jwks_json)?;
    let claims = intentrail_core::permit::verify(
        &token,
        &jwks,
        &VerifyOptions {
            issuer: &issuer,
            audience: &audience,
            now,
        },
    )?;
    serde_json::to_string(&claims)
        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()).into())
}

/// Verify a receipt chain (a JSON array, as bytes) against a JWKS document (JSON bytes), from
/// seq 1 or after `after_seq` whose hash is `after_hash`.
#[uniffi::export]
pub fn verify_receipts(
    receipts_json: Vec<u8>,
    jwks_json: Vec<u8>,
    after_seq: Option<u64>,
    after_hash: Option<String>,
) -> Result<NativeChainReport, NativeError> {
    let jwks = Jwks::parse(&jwks_json)?;
    let Value::Array(receipts) = parse(&receipts_json)? else {
        return Err(invalid_request("receipts must be a JSON array"));
    };
    let after = match (after_seq, after_hash) {
        (None, None) => None,
        (Some(s), Some(h)) => Some((s, h)),
        _ => return Err(invalid_request("after needs both seq and hash")),
    };
    let report = intentrail_core::verify_chain(&receipts, &jwks, after).map_err(Error::from)?;
    Ok(NativeChainReport {
        count: u64::try_from(report.count).unwrap_or(u64::MAX),
        last_seq: report.last_seq,
        last_hash: report.last_hash,
    })
}

/// Every error code core knows, in declaration order.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    ErrorKind::ALL
        .iter()
        .map(|k| k.code().to_string())
        .collect()
}

/// The family of an error code (core's table; unknown codes are `Internal`).
#[uniffi::export]
pub fn error_family(code: String) -> Family {
    ErrorFamily::of_code(&code).into()
}

/// Core's rendering of an error for a model: code, detail, the rules or limit that decided,
/// every violation (a JSON array, text) with its pointer, and what calling again can do.
#[uniffi::export]
pub fn explain_error(
    code: String,
    detail: String,
    rules: Vec<String>,
    violations_json: String,
    approval_id: Option<String>,
) -> String {
    let violations = match serde_json::from_str::<Value>(&violations_json) {
        Ok(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    intentrail_core::explain::explain(&intentrail_core::explain::Explained {
        code: &code,
        detail: &detail,
        rules: &rules,
        violations: &violations,
        approval_id: approval_id.as_deref(),
    })
}

/// The class name the Python and Node SDKs give the family of `code` (core's table).
#[uniffi::export]
pub fn error_class_name(code: String) -> String {
    ErrorFamily::of_code(&code).class_name().to_string()
}

/// The version of this native library (the workspace version).
#[uniffi::export]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_core_family_maps_to_its_own_variant() {
        let mut seen = std::collections::HashSet::new();
        for f in ErrorFamily::ALL {
            assert!(seen.insert(Family::from(*f)), "{f:?} shares a variant");
        }
        assert_eq!(seen.len(), ErrorFamily::ALL.len());
    }

    #[test]
    fn errors_carry_family_code_and_problem_members() {
        let e = ClientError::from_problem(
            403,
            serde_json::json!({"code": "policy_denied", "detail": "capped",
                               "policy_ids": ["refund_cap"], "receipt_id": "rct_1"}),
        );
        let NativeError::Rail {
            family,
            code,
            status,
            receipt_id,
            policy_ids,
            problem_json,
            ..
        } = NativeError::from(e);
        assert_eq!(family, Family::PolicyDenied);
        assert_eq!(code, "policy_denied");
        assert_eq!(status, Some(403));
        assert_eq!(receipt_id.as_deref(), Some("rct_1"));
        assert_eq!(policy_ids, vec!["refund_cap".to_string()]);
        assert!(problem_json.unwrap().contains("refund_cap"));
        let unknown = ClientError::from_problem(418, serde_json::json!({"code": "teapot"}));
        let NativeError::Rail { family, code, .. } = NativeError::from(unknown);
        assert_eq!((family, code.as_str()), (Family::Internal, "teapot"));
    }

    #[test]
    fn strict_parsing_is_core_s() {
        let NativeError::Rail { code, detail, .. } =
            canonicalize(b"{\"a\":1,\"a\":2}".to_vec()).err().unwrap();
        assert_eq!(code, "invalid_json");
        assert!(detail.starts_with("duplicate_key at "));
        assert_eq!(
            canonicalize(b"{\"b\":1,\"a\":2}".to_vec()).unwrap(),
            b"{\"a\":2,\"b\":1}"
        );
    }
}
