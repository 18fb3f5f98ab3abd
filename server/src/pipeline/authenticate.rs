//! Stage 1, authenticate: who is calling, from its key (and agent header).
//!
//! Guarantees: exactly one `Authorization` header and at most one `IntentRail-Agent`; keys are
//! compared by hash in constant time; an agent key must match its agent header where one is
//! required; a tenant admin key reads and administers, it never acts.

use std::time::Instant;

use axum::http::{header, HeaderMap};
use intentrail_core::ErrorKind;

use crate::auth::{bearer, single_header, AuthFailure, Principal};
use crate::problem::AppError;
use crate::rail::Rail;

fn unauthenticated(f: AuthFailure) -> AppError {
    AppError::new(ErrorKind::Unauthenticated, f.message())
}

/// The principal of a request's `Authorization: Bearer` key; `require_agent` demands the
/// `IntentRail-Agent` header of an agent key.
pub(crate) fn caller(
    rail: &Rail,
    headers: &HeaderMap,
    require_agent: bool,
) -> Result<Principal, AppError> {
    let started = Instant::now();
    let p = (|| {
        let auth =
            single_header(headers, header::AUTHORIZATION.as_str()).map_err(unauthenticated)?;
        let key = bearer(auth).ok_or_else(|| unauthenticated(AuthFailure::Missing))?;
        let agent = single_header(headers, "intentrail-agent").map_err(unauthenticated)?;
        key_of(rail, key, agent, require_agent)
    })();
    rail.metrics.stage("auth", started.elapsed());
    p
}

/// The principal of a key (and the agent header, when given or required).
pub(crate) fn key_of(
    rail: &Rail,
    key: &str,
    agent: Option<&str>,
    require_agent: bool,
) -> Result<Principal, AppError> {
    let table = rail
        .keys
        .read()
        .map(|k| k.clone())
        .map_err(|_| AppError::internal("key table lock poisoned"))?;
    let p = table
        .authenticate(key, agent, require_agent)
        .map_err(unauthenticated)?;
    Ok(p.clone())
}

/// `p`, if it may act (intent, execute, one-shot, transparent mode): not an admin key.
pub(crate) fn acting(p: Principal) -> Result<Principal, AppError> {
    if p.admin {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "the admin key cannot act: governed actions need an agent key",
        ));
    }
    Ok(p)
}
