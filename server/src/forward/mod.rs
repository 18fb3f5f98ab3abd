//! The downstream client: forwards the exact approved bytes to a configured connector.
//!
//! Guarantees: the base URL comes only from config; no redirects are followed; proxy
//! environment variables are ignored; loopback/private/link-local targets are refused inside
//! the DNS resolver (DNS-rebinding safe) unless the connector allows them; a request that may
//! have run is never retried; the credential is injected here and never returned.

mod client;
pub mod mapping;
pub mod redact;
pub mod ssrf;

use intentrail_core::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::model::Outcome;

pub(crate) use client::RESERVED_HEADERS as REQUEST_RESERVED_HEADERS;
pub use client::{Forwarder, MAX_RESPONSE_BYTES};

/// A downstream system the rail may call, as configured by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Connector name (referenced by actions).
    pub name: String,
    /// `http(s)://host[:port][/prefix]`: no userinfo, no query, no fragment. Plain `http` is
    /// accepted only with `allow_private = true` (a credential must not cross the internet in
    /// clear text).
    pub base_url: String,
    /// Credential reference fetched at forward time, e.g. `env:DEMO_API_KEY`. Required unless
    /// `auth` is `none`, refused when it is.
    #[serde(default)]
    pub credential: Option<String>,
    /// How the credential is injected.
    pub auth: AuthStyle,
    /// TCP (+TLS) connect timeout in ms (default 2000).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Total timeout in ms, from connect to the last byte of the response (default 10000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Allow loopback, private, link-local and other non-public targets (demo and tests).
    #[serde(default)]
    pub allow_private: bool,
    /// Header carrying the permit id as an idempotency key (default `Idempotency-Key`);
    /// `None` when the downstream does not support one.
    #[serde(default = "default_idempotency_header")]
    pub idempotency_header: Option<String>,
    /// Further secret-sourced headers, each fetched at forward time like `credential`
    /// (e.g. an application key beside the API key). Every one is redacted from responses.
    #[serde(default)]
    pub extra_credentials: Vec<ExtraCredential>,
    /// Reuse a fetched credential for this many ms (default 0: fetch at every forward). For
    /// tenants who choose latency over freshness; a rotated secret is seen after at most this.
    #[serde(default)]
    pub cache_ttl_ms: u64,
}

/// A secret-sourced header: `{ header = "DD-APPLICATION-KEY", credential = "vault:…" }`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExtraCredential {
    /// The header carrying the secret (not reserved, not the auth or idempotency header).
    pub header: String,
    /// Credential reference, as for `credential`.
    pub credential: String,
}

/// Largest accepted `cache_ttl_ms` (1 hour).
pub const MAX_CACHE_TTL_MS: u64 = 3_600_000;

fn default_connect_timeout_ms() -> u64 {
    2000
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_idempotency_header() -> Option<String> {
    Some("Idempotency-Key".into())
}

/// Largest accepted `timeout_ms` (5 minutes).
pub const MAX_TIMEOUT_MS: u64 = 300_000;

/// How the credential is injected into the downstream request.
///
/// In TOML: `auth = { type = "bearer" }`, `{ type = "header", name = "X-API-Key" }`,
/// `{ type = "basic", username = "acct" }`, `{ type = "query", name = "api_key" }`,
/// `{ type = "none" }`. A field the type does not use is an error (serde's
/// `deny_unknown_fields` does not apply to unit variants of tagged enums, so it is read from a
/// flat private form and checked).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "AuthRepr")]
pub enum AuthStyle {
    /// No credential.
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `<name>: <secret>` (e.g. `X-API-Key`).
    Header {
        /// The header name.
        name: String,
    },
    /// `Authorization: Basic base64(<username>:<secret>)`. (For APIs that put the key in the
    /// user name with an empty password, such as Stripe, use `bearer`, which they also accept.)
    Basic {
        /// The user name (no `:`).
        username: String,
    },
    /// `?<name>=<secret>` appended to the query string (never shown in the reported URL).
    Query {
        /// The query parameter name.
        name: String,
    },
}

/// The flat form [`AuthStyle`] is read from, so that unused fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthRepr {
    r#type: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

impl TryFrom<AuthRepr> for AuthStyle {
    type Error = String;

    fn try_from(r: AuthRepr) -> Result<Self, String> {
        let t = r.r#type.as_str();
        match (t, r.name, r.username) {
            ("none", None, None) => Ok(AuthStyle::None),
            ("bearer", None, None) => Ok(AuthStyle::Bearer),
            ("header", Some(name), None) => Ok(AuthStyle::Header { name }),
            ("basic", None, Some(username)) => Ok(AuthStyle::Basic { username }),
            ("query", Some(name), None) => Ok(AuthStyle::Query { name }),
            ("none" | "bearer", _, _) => Err(format!("auth type {t:?} takes no other field")),
            ("header" | "query", _, _) => Err(format!("auth type {t:?} takes exactly `name`")),
            ("basic", _, _) => Err("auth type \"basic\" takes exactly `username`".into()),
            _ => Err(format!(
                "unknown auth type {t:?} (none, bearer, header, basic, query)"
            )),
        }
    }
}

/// One request to forward, already mapped from the approved params.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// HTTP method (`GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`).
    pub method: String,
    /// Path below the connector's base URL, already expanded and percent-encoded; starts
    /// with `/`; no `?`, `#`, `\`, dot segments or control characters.
    pub path: String,
    /// Query parameters (form-urlencoded in this order).
    pub query: Vec<(String, String)>,
    /// Further request headers (a profile operation's declared headers), sent before the
    /// rail's own: a reserved name (`Authorization`, `Cookie`, `Host`, …) is refused.
    pub headers: Vec<(String, String)>,
    /// The body bytes and their content type, sent exactly as given.
    pub body: Option<(bytes::Bytes, &'static str)>,
    /// Sent in the connector's idempotency header: the pipeline passes the permit id.
    pub idempotency_key: Option<String>,
}

/// What the downstream answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownstreamResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers (lower-case names, in order). [`Forwarder::send`] has already applied
    /// [`redact::redact`] with the connector's credential (hop-by-hop and cookie headers dropped).
    pub headers: Vec<(String, String)>,
    /// Response body (at most [`MAX_RESPONSE_BYTES`]), redacted like the headers.
    pub body: bytes::Bytes,
    /// Milliseconds from the first connect attempt to the last body byte.
    pub latency_ms: u64,
    /// The URL called, without a query-injected credential.
    pub url: String,
    /// The method sent.
    pub method: String,
}

/// Why a forward failed. Each variant says whether the request may have run downstream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    /// Nothing left the rail: bad config or request, SSRF refusal, DNS failure, connect
    /// refused (after one retry) or connect timeout. Outcome `not_forwarded`, 502.
    #[error("not forwarded: {detail}")]
    NotSent {
        /// What happened (never a secret).
        detail: String,
    },
    /// The request was sent and no complete answer came in time. Outcome `unknown`, 504.
    /// Never retried.
    #[error("downstream timeout: {detail}")]
    Timeout {
        /// What happened.
        detail: String,
    },
    /// The request was sent and the connection broke or the answer was invalid or too large.
    /// Outcome `unknown`, 502. Never retried.
    #[error("downstream broke the exchange: {detail}")]
    Broken {
        /// What happened.
        detail: String,
    },
}

impl ForwardError {
    /// The outcome a receipt records for this failure.
    pub fn outcome(&self) -> Outcome {
        match self {
            ForwardError::NotSent { .. } => Outcome::NotForwarded,
            ForwardError::Timeout { .. } | ForwardError::Broken { .. } => Outcome::Unknown,
        }
    }

    /// The stable error kind answered to the agent.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ForwardError::Timeout { .. } => ErrorKind::DownstreamTimeout,
            ForwardError::NotSent { .. } | ForwardError::Broken { .. } => {
                ErrorKind::DownstreamError
            }
        }
    }

    /// The human detail.
    pub fn detail(&self) -> &str {
        match self {
            ForwardError::NotSent { detail }
            | ForwardError::Timeout { detail }
            | ForwardError::Broken { detail } => detail,
        }
    }
}

impl From<ForwardError> for Error {
    fn from(e: ForwardError) -> Self {
        Error::new(e.kind(), e.to_string())
    }
}

/// Headers the connector may not use for the credential (the rail or hyper owns them).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "cookie",
    "user-agent",
];

/// Check a connector's config. Called by [`Forwarder::send`] too, so a bad connector never
/// sends anything.
pub fn validate_connector(c: &ConnectorConfig) -> Result<(), String> {
    if c.name.trim().is_empty() {
        return Err("connector name is empty".into());
    }
    let n = &c.name;
    let url = url::Url::parse(&c.base_url)
        .map_err(|e| format!("connector {n}: base_url is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if c.allow_private => {}
        "http" => {
            return Err(format!(
                "connector {n}: base_url must be https (http only with allow_private = true)"
            ))
        }
        s => {
            return Err(format!(
                "connector {n}: base_url scheme {s:?} is not http(s)"
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "connector {n}: base_url must not contain user info (use credential + auth)"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "connector {n}: base_url must not contain a query or fragment"
        ));
    }
    if url.cannot_be_a_base() {
        return Err(format!("connector {n}: base_url cannot be a base URL"));
    }
    match url.host() {
        None => return Err(format!("connector {n}: base_url has no host")),
        Some(url::Host::Domain("")) => return Err(format!("connector {n}: base_url has no host")),
        Some(host) => {
            if let Some(ip) = ssrf::literal_ip(&host) {
                if !c.allow_private && !ssrf::is_public(ip) {
                    return Err(format!(
                        "connector {n}: base_url targets non-public address {ip} \
                         (set allow_private = true to allow it)"
                    ));
                }
            }
        }
    }
    if c.connect_timeout_ms == 0 || c.timeout_ms == 0 {
        return Err(format!("connector {n}: timeouts must be positive"));
    }
    if c.timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!(
            "connector {n}: timeout_ms must be at most {MAX_TIMEOUT_MS}"
        ));
    }
    if c.connect_timeout_ms > c.timeout_ms {
        return Err(format!(
            "connector {n}: connect_timeout_ms must not exceed timeout_ms"
        ));
    }
    match (&c.auth, &c.credential) {
        (AuthStyle::None, Some(_)) => {
            return Err(format!(
                "connector {n}: a credential is set but auth is none"
            ))
        }
        (AuthStyle::None, None) => {}
        (_, None) => return Err(format!("connector {n}: auth needs a credential")),
        (_, Some(r)) => {
            crate::credentials::split_reference(r).map_err(|e| format!("connector {n}: {e}"))?;
        }
    }
    match &c.auth {
        AuthStyle::None | AuthStyle::Bearer => {}
        AuthStyle::Header { name } => {
            check_header_name(name).map_err(|e| format!("connector {n}: auth header {e}"))?;
            if c.idempotency_header
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(name))
            {
                return Err(format!(
                    "connector {n}: auth header and idempotency header are the same"
                ));
            }
        }
        AuthStyle::Basic { username } => {
            if username.contains(':') || username.chars().any(char::is_control) {
                return Err(format!(
                    "connector {n}: basic auth username must not contain ':' or control characters"
                ));
            }
        }
        AuthStyle::Query { name } => {
            if name.is_empty() {
                return Err(format!("connector {n}: auth query parameter name is empty"));
            }
        }
    }
    if let Some(h) = &c.idempotency_header {
        check_header_name(h).map_err(|e| format!("connector {n}: idempotency header {e}"))?;
        if h.eq_ignore_ascii_case("authorization") {
            return Err(format!(
                "connector {n}: idempotency header {h:?} is reserved"
            ));
        }
    }
    validate_extra_credentials(c)?;
    if c.cache_ttl_ms > MAX_CACHE_TTL_MS {
        return Err(format!(
            "connector {n}: cache_ttl_ms must be at most {MAX_CACHE_TTL_MS}"
        ));
    }
    Ok(())
}

/// `extra_credentials`: valid, unreserved, distinct headers that collide with nothing the
/// rail sets, each with a well-formed reference.
fn validate_extra_credentials(c: &ConnectorConfig) -> Result<(), String> {
    let n = &c.name;
    let mut taken: Vec<String> = Vec::new();
    match &c.auth {
        AuthStyle::Bearer | AuthStyle::Basic { .. } => taken.push("authorization".into()),
        AuthStyle::Header { name } => taken.push(name.to_ascii_lowercase()),
        AuthStyle::None | AuthStyle::Query { .. } => {}
    }
    if let Some(h) = &c.idempotency_header {
        taken.push(h.to_ascii_lowercase());
    }
    for x in &c.extra_credentials {
        check_header_name(&x.header)
            .map_err(|e| format!("connector {n}: extra credential header {e}"))?;
        let lower = x.header.to_ascii_lowercase();
        if lower == "authorization" || taken.contains(&lower) {
            return Err(format!(
                "connector {n}: extra credential header {:?} is already used",
                x.header
            ));
        }
        taken.push(lower);
        crate::credentials::split_reference(&x.credential)
            .map_err(|e| format!("connector {n}: {e}"))?;
    }
    Ok(())
}

fn check_header_name(name: &str) -> Result<(), String> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(format!("{name:?} is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
