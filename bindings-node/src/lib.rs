//! The native part of the npm package `intentrail` (loaded only by its `index.js`).
//!
//! Type conversion, error mapping and async bridging only; every rule lives in
//! `intentrail-core`. JSON crosses the boundary as text (the JS side `JSON.stringify`s, core
//! parses strictly, answers go back as text for `JSON.parse`). Network calls are napi async
//! functions resolved on napi's tokio runtime: the event loop never waits on them. Every error
//! is a plain `Error` whose message is a JSON document (see [`ERROR_MARK`]); `index.js` turns
//! it into the `IntentRailError` subclass of its `code`, in one place.

use std::time::Duration;

use intentrail_core::client::{ClientError, RailClient};
use intentrail_core::{Error, ErrorKind, Jwks, VerifyOptions};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// The member that marks an error message as an IntentRail error document:
/// `{"$intentrail":1,"code":…,"detail":…,"status":…,"receipt_id":…,"violations":[…],
/// "policy_ids":[…],"problem":{…}|null,"text":…}` (`text`: core's rendering for a model).
pub const ERROR_MARK: &str = "$intentrail";

/// The napi error carrying `e` as the JSON document `index.js` parses.
fn to_napi(e: &ClientError) -> napi::Error {
    let doc = json!({
        ERROR_MARK: 1,
        "code": e.code(),
        "detail": e.detail(),
        "status": e.status,
        "receipt_id": e.receipt_id,
        "violations": e.violations,
        "policy_ids": e.policy_ids,
        "problem": e.problem.as_ref().map(|m| Value::Object((**m).clone())),
        "text": e.explain(),
    });
    napi::Error::from_reason(doc.to_string())
}

fn core_err(e: Error) -> napi::Error {
    to_napi(&ClientError::from(e))
}

/// Strictly parse JSON text produced by `JSON.stringify` (I-JSON: duplicate keys, escaped
/// lone surrogates, integers beyond ±(2^53−1), … are refused with `invalid_json`).
fn parse(text: &str) -> Result<Value, ClientError> {
    Ok(intentrail_core::json::parse_strict(text.as_bytes())?)
}

fn text(v: &Value) -> String {
    v.to_string()
}

/// The native client of one agent (wrapped by `Rail` in `index.js`). Every method returns a
/// Promise of JSON text.
#[napi]
pub struct NativeRail {
    client: RailClient,
}

#[napi]
impl NativeRail {
    /// A client for the rail at `url`, authenticating as `agent_id` with `api_key`; each
    /// request is bounded by `timeout_ms` milliseconds.
    #[napi(constructor)]
    pub fn new(
        url: String,
        api_key: String,
        agent_id: String,
        timeout_ms: f64,
    ) -> napi::Result<Self> {
        let timeout = Duration::try_from_secs_f64(timeout_ms / 1000.0)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                to_napi(&ClientError::new(
                    ErrorKind::InvalidRequest,
                    "timeoutMs must be a positive number of milliseconds",
                ))
            })?;
        let client = RailClient::new(&url, Zeroizing::new(api_key), &agent_id, timeout)
            .map_err(|e| to_napi(&e))?;
        Ok(NativeRail { client })
    }

    /// The rail URL (without a trailing slash).
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.client.url().to_string()
    }

    /// The agent id.
    #[napi(getter)]
    pub fn agent_id(&self) -> String {
        self.client.agent_id().to_string()
    }

    /// The per-request timeout, in milliseconds.
    #[napi(getter)]
    pub fn timeout_ms(&self) -> f64 {
        self.client.timeout().as_secs_f64() * 1000.0
    }

    /// `GET /v1/agent`: `{agent_id, tenant, issuer, audience, jwks_url}` (JSON text).
    #[napi]
    pub async fn agent(&self) -> napi::Result<String> {
        let a = self.client.agent().await.map_err(|e| to_napi(&e))?;
        Ok(text(&serde_json::to_value(a).unwrap_or(Value::Null)))
    }

    /// The tenant's JWKS (cached; reloaded when a permit names an unknown key), JSON text.
    #[napi]
    pub async fn jwks(&self) -> napi::Result<String> {
        let j = self.client.jwks().await.map_err(|e| to_napi(&e))?;
        j.to_json().map_err(core_err)
    }

    /// `POST /v1/intents` with `params_json`: the outcome (`status` `issued` with the permit
    /// and its unverified claims, or `approval_pending`), JSON text.
    #[napi]
    pub async fn intent(
        &self,
        action: String,
        params_json: String,
        idempotency_key: Option<String>,
    ) -> napi::Result<String> {
        let run = async {
            let params = parse(&params_json)?;
            self.client
                .intent(&action, &params, idempotency_key.as_deref())
                .await
        };
        let o = run.await.map_err(|e| to_napi(&e))?;
        Ok(text(&o.to_json()))
    }

    /// `POST /v1/execute` of `permit` with `params_json` (no local checks):
    /// `{status, headers, body, permit_id, receipt}` as JSON text.
    #[napi]
    pub async fn execute(&self, permit: String, params_json: String) -> napi::Result<String> {
        let run = async {
            let params = parse(&params_json)?;
            self.client.execute(&permit, &params).await
        };
        let r = run.await.map_err(|e| to_napi(&e))?;
        Ok(text(&r.to_value()))
    }

    /// The governed path: intent, local verification of the permit (signature, key, issuer,
    /// audience, time, action, agent, payload hash of exactly these params), then execute.
    /// Answers like [`NativeRail::execute`].
    #[napi]
    pub async fn act(
        &self,
        action: String,
        params_json: String,
        idempotency_key: Option<String>,
    ) -> napi::Result<String> {
        let run = async {
            let params = parse(&params_json)?;
            self.client
                .act(&action, &params, idempotency_key.as_deref())
                .await
        };
        let r = run.await.map_err(|e| to_napi(&e))?;
        Ok(text(&r.to_value()))
    }

    /// `GET /v1/actions`: the catalog (`{actions: [{name, description, schema}]}`), JSON text.
    #[napi]
    pub async fn actions(&self) -> napi::Result<String> {
        let v = self.client.actions().await.map_err(|e| to_napi(&e))?;
        Ok(text(&v))
    }

    /// `GET /v1/receipts/{id}`: one receipt, JSON text.
    #[napi]
    pub async fn receipt(&self, id: String) -> napi::Result<String> {
        let v = self.client.receipt(&id).await.map_err(|e| to_napi(&e))?;
        Ok(text(&v))
    }

    /// `GET /v1/receipts?after=&limit=`: `{receipts, next_after}`, JSON text.
    #[napi]
    pub async fn receipts(&self, after: i64, limit: Option<u32>) -> napi::Result<String> {
        let after = u64::try_from(after).map_err(|_| {
            to_napi(&ClientError::new(
                ErrorKind::InvalidRequest,
                "after must be a non-negative integer",
            ))
        })?;
        let v = self
            .client
            .receipts(after, limit)
            .await
            .map_err(|e| to_napi(&e))?;
        Ok(text(&v))
    }
}

/// RFC 8785 canonical bytes of JSON text, strictly parsed (I-JSON).
#[napi]
pub fn canonicalize(json_text: String) -> napi::Result<Buffer> {
    intentrail_core::jcs::canonicalize_bytes(json_text.as_bytes())
        .map(Buffer::from)
        .map_err(core_err)
}

/// RFC 8785 canonical bytes of a JSON document given as bytes (UTF-8 is checked by core).
#[napi]
pub fn canonicalize_bytes(json_bytes: Buffer) -> napi::Result<Buffer> {
    intentrail_core::jcs::canonicalize_bytes(&json_bytes)
        .map(Buffer::from)
        .map_err(core_err)
}

/// `sha256:` + base64url(SHA-256(JCS(doc))) of JSON text, strictly parsed.
#[napi]
pub fn payload_hash(json_text: String) -> napi::Result<String> {
    intentrail_core::hash::payload_hash_bytes(json_text.as_bytes())
        .map(|(_, h)| h)
        .map_err(core_err)
}

/// Verify a permit strictly against a JWKS document (JSON text) at Unix time `now`; returns
/// the claims as JSON text.
#[napi]
pub fn verify_permit(
    token: String,
    jwks_json: String,
    audience: String,
    issuer: String,
    now: i64,
) -> napi::Result<String> {
    let jwks = Jwks::parse(jwks_json.as_bytes()).map_err(core_err)?;
    let claims = intentrail_core::permit::verify(
        &token,
        &jwks,
        &VerifyOptions {
            issuer: &issuer,
            audience: &audience,
            now,
        },
    )
    .map_err(core_err)?;
    serde_json::to_string(&claims)
        .map_err(|e| core_err(Error::new(ErrorKind::Internal, e.to_string())))
}

/// Verify a receipt chain (a JSON array, as text) against a JWKS document (JSON text), from
/// seq 1 or after `after_seq` whose hash is `after_hash`; returns
/// `{count, last_seq, last_hash}` as JSON text.
#[napi]
pub fn verify_receipts(
    receipts_json: String,
    jwks_json: String,
    after_seq: Option<i64>,
    after_hash: Option<String>,
) -> napi::Result<String> {
    let run = || -> intentrail_core::Result<Value> {
        let jwks = Jwks::parse(jwks_json.as_bytes())?;
        let Value::Array(receipts) = intentrail_core::json::parse_strict(receipts_json.as_bytes())?
        else {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "receipts must be a JSON array",
            ));
        };
        let after = match (after_seq, after_hash) {
            (None, None) => None,
            (Some(s), Some(h)) => Some((
                u64::try_from(s).map_err(|_| {
                    Error::new(ErrorKind::InvalidRequest, "after.seq must be non-negative")
                })?,
                h,
            )),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    "after needs both seq and hash",
                ))
            }
        };
        let report = intentrail_core::verify_chain(&receipts, &jwks, after)?;
        Ok(json!({
            "count": report.count,
            "last_seq": report.last_seq,
            "last_hash": report.last_hash,
        }))
    };
    run().map(|v| text(&v)).map_err(core_err)
}

/// Core's rendering of an error raised by the JavaScript layer itself (no rules, no
/// violations): the same words as the errors of the rail.
#[napi]
pub fn explain_error(code: String, detail: String) -> String {
    intentrail_core::explain::explain(&intentrail_core::explain::Explained {
        code: &code,
        detail: &detail,
        ..Default::default()
    })
}

/// Every error code core knows, in declaration order.
#[napi]
pub fn error_codes() -> Vec<String> {
    ErrorKind::ALL
        .iter()
        .map(|k| k.code().to_string())
        .collect()
}

/// The version of this native module (the workspace version).
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
