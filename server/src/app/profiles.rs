//! Mirrored profiles in the API: the compiled versions a rail holds, their upload
//! (`PUT /v1/admin/profiles/{name}`) and the transparent proxy (`ANY /v1/proxy/{profile}/…`).
//!
//! Guarantees: a profile is served only when the tenant's config binds its name to a
//! connector; a request the document does not describe is `404 unsupported_endpoint` with
//! nothing forwarded; proxied requests run the same pipeline (validate → policy → permit →
//! credentials → forward → receipt) as `POST /v1/actions/{action}`, with the params the rail
//! derived from the request as what the permit hashes and what is forwarded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use super::{read_body, Prepared, Rail, Shared, Tenant};
use crate::auth::{single_header, Principal};
use crate::config::ProfileBinding;
use crate::problem::AppError;
use crate::profile::{self, request, ImportError, Profile};

/// Largest profile document accepted by `PUT /v1/admin/profiles/{name}` (bytes).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Older profile versions kept compiled (for permits issued under them); beyond, dropped and
/// loaded again from the ledger when needed.
const MAX_OLD_VERSIONS: usize = 8;

/// The compiled profile versions this rail holds.
#[derive(Default)]
pub struct ProfileStore {
    /// Newest version per (tenant, name).
    latest: RwLock<HashMap<(String, String), Arc<Profile>>>,
    /// Older versions loaded for permits issued under them.
    old: RwLock<HashMap<(String, String, i64), Arc<Profile>>>,
    /// Versions that failed to load (not retried every second; logged once).
    failed: RwLock<std::collections::HashSet<(String, String, i64)>>,
}

/// What an action name resolves to.
pub(super) enum Target<'t> {
    /// A native action bound in the config.
    Native(&'t crate::config::ActionBinding),
    /// An operation of a profile version.
    Profile {
        /// The tenant's binding of the profile.
        binding: &'t ProfileBinding,
        /// The version.
        profile: Arc<Profile>,
    },
}

impl Target<'_> {
    /// The connector the action is forwarded with (the Cedar resource).
    pub(super) fn connector(&self) -> &str {
        match self {
            Target::Native(b) => &b.connector,
            Target::Profile { binding, .. } => &binding.connector,
        }
    }

    /// `name@version#hash` of a profile action.
    pub(super) fn profile_tag(&self) -> Option<String> {
        match self {
            Target::Native(_) => None,
            Target::Profile { profile, .. } => Some(profile.tag()),
        }
    }
}

/// Split `name@version#hash`.
fn parse_tag(tag: &str) -> Option<(&str, i64, &str)> {
    let (name, rest) = tag.split_once('@')?;
    let (version, hash) = rest.split_once('#')?;
    Some((name, version.parse().ok()?, hash))
}

impl Rail {
    /// Load profile versions stored since the last call (by this or another rail instance
    /// sharing the ledger) for every tenant that binds them.
    pub async fn refresh_profiles(&self) {
        let heads = match self.ledger.profile_heads().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh profiles");
                return;
            }
        };
        for h in heads {
            let Some(t) = self.tenants.get(&h.tenant) else {
                continue;
            };
            if !t.profiles.contains_key(&h.name) {
                continue;
            }
            let key = (h.tenant.clone(), h.name.clone());
            let current = self
                .profiles
                .latest
                .read()
                .ok()
                .and_then(|m| m.get(&key).map(|p| p.version));
            if current.is_some_and(|v| v >= h.version) {
                continue;
            }
            let failed_key = (h.tenant.clone(), h.name.clone(), h.version);
            if self
                .profiles
                .failed
                .read()
                .is_ok_and(|f| f.contains(&failed_key))
            {
                continue;
            }
            match profile::load(self.ledger.as_ref(), &h.tenant, &h.name, h.version).await {
                Ok(Some(p)) => self.install(&h.tenant, Arc::new(p)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(tenant = %h.tenant, profile = %h.name, version = h.version, error = %e, "cannot load a profile version");
                    if matches!(e, ImportError::Invalid(_)) {
                        if let Ok(mut f) = self.profiles.failed.write() {
                            f.insert(failed_key);
                        }
                    }
                }
            }
        }
    }

    /// Make `p` the newest version of its profile (unless a newer one is installed).
    fn install(&self, tenant: &str, p: Arc<Profile>) {
        let key = (tenant.to_owned(), p.name.clone());
        if let Ok(mut m) = self.profiles.latest.write() {
            if let Some(old) = m.get(&key) {
                if old.version >= p.version {
                    return;
                }
                if let Ok(mut o) = self.profiles.old.write() {
                    if o.len() >= MAX_OLD_VERSIONS {
                        o.clear();
                    }
                    o.insert((key.0.clone(), key.1.clone(), old.version), old.clone());
                }
            }
            m.insert(key, p);
        }
    }

    /// The newest version of a tenant's bound profile.
    pub(super) fn latest_profile(&self, t: &Tenant, name: &str) -> Option<Arc<Profile>> {
        if !t.profiles.contains_key(name) {
            return None;
        }
        self.profiles
            .latest
            .read()
            .ok()?
            .get(&(t.id.clone(), name.to_owned()))
            .cloned()
    }

    /// A given version (from memory, else from the ledger).
    async fn profile_version(
        &self,
        t: &Tenant,
        name: &str,
        version: i64,
    ) -> Result<Option<Arc<Profile>>, AppError> {
        if let Some(p) = self
            .latest_profile(t, name)
            .filter(|p| p.version == version)
        {
            return Ok(Some(p));
        }
        let key = (t.id.clone(), name.to_owned(), version);
        if let Some(p) = self
            .profiles
            .old
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(Some(p));
        }
        match profile::load(self.ledger.as_ref(), &t.id, name, version).await {
            Ok(Some(p)) => {
                let p = Arc::new(p);
                if let Ok(mut o) = self.profiles.old.write() {
                    if o.len() >= MAX_OLD_VERSIONS {
                        o.clear();
                    }
                    o.insert(key, p.clone());
                }
                Ok(Some(p))
            }
            Ok(None) => Ok(None),
            Err(ImportError::Ledger(e)) => Err(AppError::from(intentrail_core::Error::from(e))),
            Err(ImportError::Invalid(e)) => Err(AppError::internal(e)),
        }
    }

    /// Resolve an action name for a decision: a native binding, or an operation of the newest
    /// version of a bound profile.
    pub(super) fn target<'t>(&self, t: &'t Tenant, action: &str) -> Result<Target<'t>, AppError> {
        let unknown = || AppError::new(ErrorKind::UnknownAction, format!("no action {action:?}"));
        if let Some(b) = t.bindings.get(action) {
            return Ok(Target::Native(b));
        }
        let (name, _) = action.split_once('.').ok_or_else(unknown)?;
        let binding = t.profiles.get(name).ok_or_else(unknown)?;
        let profile = self.latest_profile(t, name).ok_or_else(unknown)?;
        if profile.operation(action).is_none() {
            return Err(unknown());
        }
        Ok(Target::Profile { binding, profile })
    }

    /// The connector and request of a permit's profile action, from the profile version the
    /// permit was validated against (`prv`).
    pub(super) async fn profile_outbound<'t>(
        &self,
        t: &'t Tenant,
        action: &str,
        prv: &str,
        params: &Value,
        jti: &str,
    ) -> Result<(&'t str, crate::forward::Outbound), AppError> {
        let unknown = || AppError::new(ErrorKind::UnknownAction, format!("no action {action:?}"));
        let (name, version, hash) = parse_tag(prv).ok_or_else(unknown)?;
        let binding = t.profiles.get(name).ok_or_else(unknown)?;
        let profile = self
            .profile_version(t, name, version)
            .await?
            .ok_or_else(unknown)?;
        if profile.hash != hash {
            return Err(AppError::internal(format!(
                "profile {name}@{version} hash differs from the permit's"
            )));
        }
        let op = profile.operation(action).ok_or_else(unknown)?;
        let out =
            request::outbound(op, params, Some(jti.to_owned())).map_err(AppError::internal)?;
        Ok((binding.connector.as_str(), out))
    }

    /// Catalog entries of every bound profile's newest version.
    pub(super) fn profile_catalog(&self, t: &Tenant) -> Vec<Value> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = t.profiles.keys().collect();
        names.sort();
        for name in names {
            if let Some(p) = self.latest_profile(t, name) {
                out.extend(p.catalog_entries());
            }
        }
        out
    }
}

fn import_error(e: ImportError) -> AppError {
    match e {
        ImportError::Invalid(m) => AppError::new(
            ErrorKind::InvalidRequest,
            format!("the profile document is refused: {m}"),
        ),
        ImportError::Ledger(e) => AppError::from(intentrail_core::Error::from(e)),
    }
}

/// `PUT /v1/admin/profiles/{name}`: upload an OpenAPI 3.0/3.1 document (JSON or YAML) with the
/// tenant's admin key. `201` with the new version, or `200` when the newest version already
/// has this document.
pub(super) async fn put_profile(
    State(rail): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = rail.authenticate(&headers, false)?;
    if !p.admin {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "uploading a profile needs the tenant's admin key",
        ));
    }
    let t = rail.tenant(&p)?;
    if !t.profiles.contains_key(&name) {
        return Err(AppError::new(
            ErrorKind::InvalidRequest,
            format!(
                "profile {:?} is not bound to a connector in the tenant's config ([[tenants.profiles]])",
                profile::document::cut(&name)
            ),
        ));
    }
    let bytes = read_body(&headers, body, MAX_UPLOAD_BYTES).await?;
    let started = std::time::Instant::now();
    let imported = profile::import(rail.ledger.as_ref(), &t.id, &name, bytes)
        .await
        .map_err(import_error)?;
    let ms = started.elapsed().as_millis();
    let report = imported.report.clone();
    let (version, hash, created) = (
        imported.profile.version,
        imported.profile.hash.clone(),
        imported.created,
    );
    rail.install(&t.id, Arc::new(imported.profile));
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

/// Headers of the downstream's answer passed back to a proxied client (content description
/// and the vendor's own metadata; hop-by-hop and cookie headers were dropped already).
fn passes_back(name: &str) -> bool {
    !matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "set-cookie" | "www-authenticate"
    )
}

/// `ANY /v1/proxy/{profile}/{*path}`: a vendor-shaped request, governed.
pub(super) async fn proxy(State(rail): Shared, req: Request) -> Result<Response, AppError> {
    let (parts, body) = req.into_parts();
    let unauth =
        |f: crate::auth::AuthFailure| AppError::new(ErrorKind::Unauthenticated, f.message());
    let auth = single_header(&parts.headers, header::AUTHORIZATION.as_str()).map_err(unauth)?;
    let key = auth.and_then(vendor_key).ok_or_else(|| {
        AppError::new(
            ErrorKind::Unauthenticated,
            "send the IntentRail API key as the vendor client's API key (Bearer, token or Basic)",
        )
    })?;
    let agent = single_header(&parts.headers, "intentrail-agent").map_err(unauth)?;
    let p: Principal = Rail::acting(rail.authenticate_key(&key, agent, false)?)?;
    let t = rail.tenant(&p)?;
    // The raw (still percent-encoded) path below /v1/proxy/{profile}.
    let raw = parts.uri.path();
    let rest = raw.strip_prefix("/v1/proxy/").unwrap_or_default();
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
    let prof = rail.latest_profile(t, name).ok_or_else(unsupported)?;
    let method = parts.method.as_str();
    let (op, vars) = prof.route(method, below).ok_or_else(unsupported)?;
    let bytes = read_body(&parts.headers, body, rail.config.max_body_bytes).await?;
    if let (Some((kind, _)), Some(ct)) = (op.body, parts.headers.get(header::CONTENT_TYPE)) {
        let base = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let fits = match kind {
            profile::BodyKind::Json => base == "application/json" || base.ends_with("+json"),
            profile::BodyKind::Form => base == "application/x-www-form-urlencoded",
        };
        if !fits && !bytes.is_empty() {
            return Err(AppError::new(
                ErrorKind::InvalidRequest,
                match kind {
                    profile::BodyKind::Json => "this operation takes an application/json body",
                    profile::BodyKind::Form => {
                        "this operation takes an application/x-www-form-urlencoded body"
                    }
                },
            ));
        }
    }
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
    let (status, stored) = rail
        .idempotent(t, &p, idk.as_deref(), "proxy", &params, || async {
            let target = Target::Profile {
                binding,
                profile: prof.clone(),
            };
            match rail
                .prepare_target(t, &p, &action, target, &params, idk.as_deref())
                .await?
            {
                Prepared::Pending { body } => Ok((StatusCode::ACCEPTED, body)),
                Prepared::Allowed(a) => {
                    let (resp, receipt) = rail.execute_fresh_raw(t, &p, &a, &params).await?;
                    let mut headers: Vec<(String, String)> = resp
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .filter(|(k, _)| passes_back(k))
                        .collect();
                    headers.push(("intentrail-receipt".into(), receipt.id.clone()));
                    headers.push(("intentrail-permit".into(), a.claims.jti.clone()));
                    let status =
                        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
                    let body = base64::engine::general_purpose::STANDARD.encode(&resp.body);
                    Ok((
                        status,
                        json!({ "proxied": { "headers": headers, "body": body } }),
                    ))
                }
            }
        })
        .await?;
    let Some(proxied) = stored.get("proxied") else {
        // Approval pending: the rail's own JSON answer.
        return Ok((status, Json(stored)).into_response());
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
    Ok(out)
}
