//! What the network secret stores share: one HTTP client shape, endpoint checks, a bounded
//! zeroizing body reader, error wording that never carries a value, and `env:`/`file:`
//! references for the stores' own credentials.
//!
//! Guarantees: no redirects, no proxy from the environment, every request bounded by the
//! provider's timeout; plain `http` only to a loopback address; a store's response body is
//! read into a buffer that is wiped on drop and never quoted in an error.

use std::time::Duration;

use zeroize::{Zeroize, Zeroizing};

use super::{CredentialError, CredentialProvider, EnvProvider, FileProvider};
use crate::secret::Secret;

/// Largest response body read from a secret store (Secrets Manager secrets are ≤ 64 KiB).
pub const MAX_STORE_RESPONSE_BYTES: usize = 256 * 1024;

/// Build the client a store provider uses: rustls, no redirects, no proxy, `timeout` per
/// request (connect included).
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .referer(false)
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .user_agent(concat!("intentrail/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the secret-store HTTP client: {e}"))
}

/// Parse a store endpoint: `https://…`, or `http://…` only to a loopback host (a local agent
/// or test double). No user info, query or fragment.
pub fn check_endpoint(what: &str, raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{what} {raw:?} is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(format!("{what} {raw:?} has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{what} {raw:?} must be https (plain http only to a loopback address)"
            ))
        }
        s => return Err(format!("{what} {raw:?}: scheme {s:?} is not http(s)")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} must not contain user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{what} {raw:?} must not contain a query or fragment"
        ));
    }
    Ok(url)
}

/// Why a request to a store failed, in words that cannot contain a value.
pub fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the store did not answer in time".into()
    } else if e.is_connect() {
        "cannot connect to the store".into()
    } else {
        "the exchange with the store failed".into()
    }
}

/// Read a response body into a wiped-on-drop buffer, at most [`MAX_STORE_RESPONSE_BYTES`].
pub async fn read_body(mut resp: reqwest::Response) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut body = Zeroizing::new(Vec::with_capacity(1024));
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_STORE_RESPONSE_BYTES {
                    return Err("the store's answer is too large".into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_reason(&e)),
        }
    }
}

/// Parse a store's JSON answer; the parsed value must be wiped with [`wipe_json`].
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(body).map_err(|_| "the store's answer is not valid JSON".into())
}

/// Wipe every string in a parsed JSON value (the secret may be any of them).
pub fn wipe_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(wipe_json),
        serde_json::Value::Object(o) => o.values_mut().for_each(wipe_json),
        _ => {}
    }
}

/// Take the string at `pointer` out of `v` as a [`Secret`] (the original is left empty).
pub fn take_string(v: &mut serde_json::Value, pointer: &str) -> Option<Secret> {
    match v.pointer_mut(pointer) {
        Some(serde_json::Value::String(s)) => Some(Secret::new(std::mem::take(s))),
        _ => None,
    }
}

/// Resolve a store credential given as an `env:NAME` or `file:/path` reference (a Vault token,
/// an AppRole secret id). Read at each call, so a rotated file is picked up.
pub async fn local_secret(reference: &str) -> Result<Secret, CredentialError> {
    match reference.split_once(':') {
        Some(("env", name)) => EnvProvider.fetch(name).await,
        Some(("file", path)) => FileProvider::default().fetch(path).await,
        _ => Err(CredentialError::Malformed {
            reference: reference.to_owned(),
            reason: "a store credential must be env:NAME or file:/path".into(),
        }),
    }
}

/// Check that `reference` is an `env:` or `file:` reference (at config load).
pub fn check_local_reference(what: &str, reference: &str) -> Result<(), String> {
    match reference.split_once(':') {
        Some(("env", n)) if !n.is_empty() => Ok(()),
        Some(("file", p)) if std::path::Path::new(p).is_absolute() => Ok(()),
        _ => Err(format!(
            "{what} must be env:NAME or file:/absolute/path, got {reference:?}"
        )),
    }
}

/// A `[A-Za-z0-9._-]+` segment (no `.`/`..`): safe to put in a URL path as is.
pub fn is_plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
