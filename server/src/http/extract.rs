//! Extractors: who is calling (an authenticated caller with its tenant), and a request body
//! read within its bound and parsed as strict JSON.
//!
//! Guarantees: a body is read to at most its limit (a larger one is `413`, drained up to
//! [`DRAIN_LIMIT`] so the client gets the answer); JSON bodies are strict I-JSON objects whose
//! members are exactly the route's; an extractor's refusal is a problem+json like any error.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt as _;
use intentrail_core::{json, ErrorKind};
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::pipeline::authenticate;
use crate::problem::AppError;
use crate::rail::{Rail, Tenant};

/// Oversized bodies up to this size are read and discarded before the 413 answer.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// Any key of a tenant (agent or admin); the agent header is optional.
pub(crate) const ANY_KEY: u8 = 0;
/// An agent key with its `IntentRail-Agent` header (or the admin key).
pub(crate) const NAMED: u8 = 1;
/// An agent that acts: agent key and header required, never the admin key.
pub(crate) const ACTOR: u8 = 2;
/// An agent key that acts, identified by the key alone: its `IntentRail-Agent` header may be
/// left out (MCP clients send only the key) and must match when sent.
pub(crate) const KEY_ACTOR: u8 = 3;

/// An authenticated caller and its tenant. `ROLE` is [`ANY_KEY`], [`NAMED`], [`ACTOR`] or
/// [`KEY_ACTOR`].
#[derive(Clone)]
pub(crate) struct Caller<const ROLE: u8> {
    /// Who is calling.
    pub(crate) principal: Principal,
    /// Its tenant.
    pub(crate) tenant: Arc<Tenant>,
}

impl<const ROLE: u8> Caller<ROLE> {
    /// Refuse anything but the tenant admin key (`what` says what needs it).
    pub(crate) fn admin(&self, what: &str) -> Result<(), AppError> {
        if self.principal.admin {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorKind::Forbidden,
                format!("{what} needs the tenant's admin key"),
            ))
        }
    }
}

impl<const ROLE: u8> FromRequestParts<Arc<Rail>> for Caller<ROLE> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        rail: &Arc<Rail>,
    ) -> Result<Self, Self::Rejection> {
        let p = authenticate::caller(rail, &parts.headers, ROLE == NAMED || ROLE == ACTOR)?;
        let p = if ROLE == ACTOR || ROLE == KEY_ACTOR {
            authenticate::acting(p)?
        } else {
            p
        };
        let tenant = rail.tenant(&p)?;
        Ok(Caller {
            principal: p,
            tenant,
        })
    }
}

/// A request body: a strict JSON object, at most the rail's `max_body_bytes`.
pub(crate) struct JsonBody(pub(crate) Map<String, Value>);

impl FromRequest<Arc<Rail>> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, rail: &Arc<Rail>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = read_body(&parts.headers, body, rail.config.max_body_bytes).await?;
        match json::parse_strict(&bytes)? {
            Value::Object(m) => Ok(JsonBody(m)),
            _ => Err(AppError::new(
                ErrorKind::InvalidRequest,
                "the body must be a JSON object",
            )),
        }
    }
}

impl JsonBody {
    /// The members `allowed`, in order; any other member is refused.
    pub(crate) fn members<const N: usize>(
        mut self,
        allowed: [&str; N],
    ) -> Result<[Option<Value>; N], AppError> {
        let out = allowed.map(|k| self.0.remove(k));
        if let Some(k) = self.0.keys().next() {
            return Err(AppError::new(
                ErrorKind::InvalidRequest,
                format!("unknown member {k:?}; expected {}", allowed.join(", ")),
            ));
        }
        Ok(out)
    }
}

fn invalid(detail: String) -> AppError {
    AppError::new(ErrorKind::InvalidRequest, detail)
}

/// A required string member.
pub(crate) fn required_str(v: Option<Value>, name: &str) -> Result<String, AppError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
        None => Err(invalid(format!("{name} is required"))),
    }
}

/// An optional string member (`null` is absent).
pub(crate) fn optional_str(v: Option<Value>, name: &str) -> Result<Option<String>, AppError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

/// The `params` member: a JSON object.
pub(crate) fn params(v: Option<Value>) -> Result<Value, AppError> {
    match v {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(invalid("params must be a JSON object".into())),
        None => Err(invalid("params is required".into())),
    }
}

/// Read the body, at most `limit` bytes (a larger one is `413 payload_too_large`).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, AppError> {
    let drain_limit = DRAIN_LIMIT.max(limit);
    let too_large = || {
        AppError::new(
            ErrorKind::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > drain_limit) {
        // Far too large to be worth reading: answer now (the connection is closed after).
        return Err(too_large());
    }
    let mut body = body;
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            AppError::new(
                ErrorKind::InvalidRequest,
                "the request body could not be read",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > drain_limit {
                return Err(too_large());
            }
            if seen <= limit {
                bytes.extend_from_slice(&data);
            }
        }
    }
    // An oversized body is read to its end (up to DRAIN_LIMIT) and discarded, so the client
    // gets its 413 instead of a reset connection.
    if seen > limit {
        return Err(too_large());
    }
    Ok(bytes)
}
