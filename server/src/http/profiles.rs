//! Routes of mirrored profiles: the upload (`PUT /v1/admin/profiles/{name}`) and transparent
//! mode (`ANY /v1/proxy/{profile}/…`).
//!
//! Guarantees: a profile is served only when the tenant's config binds its name to a
//! connector; a request the document does not describe is `404 unsupported_endpoint` with
//! nothing forwarded; proxied requests run the one-shot pipeline (validate → policy → permit →
//! credentials → forward → receipt), with the params the rail derived from the request as what
//! the permit hashes and what is forwarded.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use super::extract::{read_body, Caller, ANY_KEY};
use crate::auth::{single_header, AuthFailure, Principal};
use crate::pipeline::target::{self, Target};
use crate::pipeline::{self, authenticate, idempotency, OneShot};
use crate::problem::AppError;
use crate::profile::{self, request, BodyKind, Operation};
use crate::rail::Rail;

/// Largest profile document accepted by `PUT /v1/admin/profiles/{name}` (bytes).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// `PUT /v1/admin/profiles/{name}`: upload an OpenAPI 3.0/3.1 document (JSON or YAML) with the
/// tenant's admin key. `201` with the new version, or `200` when the newest version already
/// has this document.
pub(super) async fn put_profile(
    State(rail): State<Arc<Rail>>,
    Path(name): Path<String>,
    c: Caller<ANY_KEY>,
    req: Request,
) -> Result<Response, AppError> {
    c.admin("uploading a profile")?;
    let t = &c.tenant;
    if !t.profiles.contains_key(&name) {
        return Err(AppError::new(
            ErrorKind::InvalidRequest,
            format!(
                "profile {:?} is not bound to a connector in the tenant's config ([[tenants.profiles]])",
                profile::document::cut(&name)
            ),
        ));
    }
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, MAX_UPLOAD_BYTES).await?;
    let started = std::time::Instant::now();
    let imported = profile::import(rail.ledger.as_ref(), &t.id, &name, bytes).await?;
    let ms = started.elapsed().as_millis();
    let report = imported.report.clone();
    let (version, hash, created) = (
        imported.profile.version,
        imported.profile.hash.clone(),
        imported.created,
    );
    rail.profiles.install(&t.id, Arc::new(imported.profile));
    tracing::info!(tenant = %t.id, profile = %name, version, imported = report.imported, skipped = report.skipped.len(), ms = %ms, "profile imported");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "name": name,
            "version": version,
            "hash": hash,
            "created": created,
            "imported": report.imported,
            "skipped": report.skipped,
        })),
    )
        .into_response())
}

/// The IntentRail key from a vendor SDK's credential header: `Bearer <key>`, `token <key>`
/// (Octokit), or Basic with the key as user name (empty password) or as password.
fn vendor_key(v: &str) -> Option<String> {
    let (scheme, rest) = v.split_once(' ')?;
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        return match (user.is_empty(), pass.is_empty()) {
            (false, true) => Some(user.to_owned()),
            (true, false) => Some(pass.to_owned()),
            // Both set: the key is the one that looks like an IntentRail key.
            (false, false) if pass.starts_with(crate::auth::AGENT_KEY_PREFIX) => {
                Some(pass.to_owned())
            }
            (false, false) => Some(user.to_owned()),
            (true, true) => None,
        };
    }
    None
}

/// The acting agent of a vendor-shaped request (its agent header is optional).
fn vendor_principal(rail: &Rail, parts: &Parts) -> Result<Principal, AppError> {
    let unauth = |f: AuthFailure| AppError::new(ErrorKind::Unauthenticated, f.message());
    let auth = single_header(&parts.headers, header::AUTHORIZATION.as_str()).map_err(unauth)?;
    let key = auth.and_then(vendor_key).ok_or_else(|| {
        AppError::new(
            ErrorKind::Unauthenticated,
            "send the IntentRail API key as the vendor client's API key (Bearer, token or Basic)",
        )
    })?;
    let agent = single_header(&parts.headers, "intentrail-agent").map_err(unauth)?;
    authenticate::acting(authenticate::key_of(rail, &key, agent, false)?)
}

/// Headers of the downstream's answer passed back to a proxied client (content description
/// and the vendor's own metadata; hop-by-hop and cookie headers were dropped already).
fn passes_back(name: &str) -> bool {
    !matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "set-cookie" | "www-authenticate"
    )
}

/// Refuse a body in another media type than the operation's.
fn check_content_type(op: &Operation, parts: &Parts, bytes: &[u8]) -> Result<(), AppError> {
    let (Some((kind, _)), Some(ct)) = (op.body, parts.headers.get(header::CONTENT_TYPE)) else {
        return Ok(());
    };
    let base = ct
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let fits = match kind {
        BodyKind::Json => base == "application/json" || base.ends_with("+json"),
        BodyKind::Form => base == "application/x-www-form-urlencoded",
    };
    if fits || bytes.is_empty() {
        return Ok(());
    }
    Err(AppError::new(
        ErrorKind::InvalidRequest,
        match kind {
            BodyKind::Json => "this operation takes an application/json body",
            BodyKind::Form => "this operation takes an application/x-www-form-urlencoded body",
        },
    ))
}

/// `ANY /v1/proxy/{profile}/{*path}`: a vendor-shaped request, governed.
pub(super) async fn proxy(
    State(rail): State<Arc<Rail>>,
    req: Request,
) -> Result<Response, AppError> {
    let (parts, body) = req.into_parts();
    let p = vendor_principal(&rail, &parts)?;
    let t = rail.tenant(&p)?;
    // The raw (still percent-encoded) path below /v1/proxy/{profile}.
    let rest = parts
        .uri
        .path()
        .strip_prefix("/v1/proxy/")
        .unwrap_or_default();
    let (name, below) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let unsupported = || {
        AppError::new(
            ErrorKind::UnsupportedEndpoint,
            "no operation of this profile matches the method and path",
        )
    };
    let binding = t.profiles.get(name).ok_or_else(unsupported)?;
    let prof = target::latest_profile(&rail, &t, name).ok_or_else(unsupported)?;
    let (op, vars) = prof
        .route(parts.method.as_str(), below)
        .ok_or_else(unsupported)?;
    let bytes = read_body(&parts.headers, body, rail.config.max_body_bytes).await?;
    check_content_type(op, &parts, &bytes)?;
    let params = request::from_http(
        op,
        &request::HttpRequest {
            path_vars: vars,
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &bytes,
        },
    )
    .map_err(|e| match e {
        request::FromHttpError::Json(e) => AppError::from(e),
        request::FromHttpError::Invalid(m) => AppError::new(ErrorKind::InvalidRequest, m),
    })?;
    drop(bytes);
    let action = op.action.clone();
    // A vendor SDK's own Idempotency-Key (Stripe's retries send one) is the rail's idempotency
    // key: a retry replays the first answer instead of running the action again.
    let idk = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, stored) =
        idempotency::run(&rail, &t, &p, idk.as_deref(), "proxy", &params, || async {
            let target = Target::Profile {
                binding,
                profile: prof.clone(),
            };
            match pipeline::one_shot(&rail, &t, &p, &action, target, &params, idk.as_deref())
                .await?
            {
                OneShot::Pending(body) => Ok((StatusCode::ACCEPTED, body)),
                OneShot::Executed(x) => Ok(stored_answer(*x)),
            }
        })
        .await?;
    Ok(vendor_answer(status, stored))
}

/// A proxied answer as the idempotency record keeps it: the downstream's status, the headers
/// that pass back plus the rail's, and the body (base64).
fn stored_answer(x: pipeline::Executed) -> (StatusCode, Value) {
    let mut headers: Vec<(String, String)> = x
        .response
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| passes_back(k))
        .collect();
    headers.push(("intentrail-receipt".into(), x.receipt.id.clone()));
    headers.push(("intentrail-permit".into(), x.permit_id));
    let status = StatusCode::from_u16(x.response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = base64::engine::general_purpose::STANDARD.encode(&x.response.body);
    (
        status,
        json!({ "proxied": { "headers": headers, "body": body } }),
    )
}

/// The HTTP answer of a stored proxied answer (or the rail's own JSON, e.g. approval pending).
fn vendor_answer(status: StatusCode, stored: Value) -> Response {
    let Some(proxied) = stored.get("proxied") else {
        return (status, Json(stored)).into_response();
    };
    let body = proxied["body"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    let h = out.headers_mut();
    for pair in proxied["headers"].as_array().into_iter().flatten() {
        let (Some(k), Some(v)) = (pair[0].as_str(), pair[1].as_str()) else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(n, v);
        }
    }
    out
}
