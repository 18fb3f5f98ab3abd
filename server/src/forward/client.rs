//! [`Forwarder`]: one pooled hyper client per (allow_private, connect timeout) flavour, each
//! connecting through the SSRF-guarded resolver (every resolved address checked) with rustls
//! (webpki roots, ring, HTTP/1.1); hyper follows no redirects, reads no proxy variables and
//! never retries a request that may have been sent.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING,
    CONTENT_TYPE, USER_AGENT,
};
use hyper::{Method, Request, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::time::Instant;

use super::ssrf::{GuardedResolver, SsrfRefused};
use super::{redact, validate_connector, AuthStyle, ConnectorConfig, DownstreamResponse};
use super::{ForwardError, Outbound};
use crate::secret::Secret;

/// Headers a request's own header list may never set (credentials, framing, the rail's own):
/// the forwarder refuses them, and profile operations can never declare them
/// (`profile` uses this list), so an agent's can never pass.
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "accept-encoding",
    "idempotency-key",
    "intentrail-agent",
];
/// Largest response body read from a downstream (4 MiB); beyond → [`ForwardError::Broken`].
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Pause before the single retry of a refused connection.
const REFUSED_RETRY_DELAY: Duration = Duration::from_millis(50);

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

const USER_AGENT_VALUE: &str = concat!("intentrail/", env!("CARGO_PKG_VERSION"));

type BoxError = Box<dyn StdError + Send + Sync>;
type HttpClient = Client<TimedConnector, Full<Bytes>>;

/// The downstream HTTP client. Cheap to share (`Arc<Forwarder>`); clients are built once per
/// flavour and reused, so connections are pooled (keep-alive).
pub struct Forwarder {
    clients: Mutex<HashMap<(bool, u64), HttpClient>>,
    attempts: AtomicU64,
    /// Trust anchors beside the webpki roots: empty in the rail, a local CA in tests.
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Forwarder {
    /// A forwarder with no client built yet (each flavour is built on first use).
    pub fn new() -> Self {
        Forwarder {
            clients: Mutex::new(HashMap::new()),
            attempts: AtomicU64::new(0),
            extra_roots: Vec::new(),
        }
    }

    /// A forwarder that also trusts `root` (a test CA), for HTTPS tests against a local server.
    #[cfg(test)]
    pub(crate) fn with_extra_root(root: rustls::pki_types::CertificateDer<'static>) -> Self {
        Forwarder {
            extra_roots: vec![root],
            ..Forwarder::new()
        }
    }

    /// How many HTTP attempts this forwarder has started (a refused connection retried once
    /// counts two). For metrics and tests.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn client(&self, allow_private: bool, connect_ms: u64) -> Result<HttpClient, ForwardError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&(allow_private, connect_ms)) {
            return Ok(c.clone());
        }
        let connect = Duration::from_millis(connect_ms);
        let mut http =
            HttpConnector::new_with_resolver(GuardedResolver::new(allow_private, connect));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect));
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(&self.extra_roots)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build(TimedConnector {
                inner: https,
                timeout: connect,
            });
        clients.insert((allow_private, connect_ms), client.clone());
        Ok(client)
    }

    /// Send `req` to `connector`, injecting `credential` as the connector's `auth` says and
    /// `extra[i]` as `connector.extra_credentials[i]` (one each, in order, as a sensitive
    /// header).
    ///
    /// A refused connection (nothing sent) is retried once, with the same idempotency key;
    /// anything that may have reached the downstream is never retried. The returned response
    /// is already redacted ([`redact::redact`]) of every credential given, and so are error
    /// details: this is the one place responses are redacted. Any HTTP status is `Ok`: mapping
    /// 5xx to `downstream_error` is the pipeline's job.
    pub async fn send_with_extra(
        &self,
        connector: &ConnectorConfig,
        req: Outbound,
        credential: Option<&Secret>,
        extra: &[Secret],
    ) -> Result<DownstreamResponse, ForwardError> {
        check_credentials(connector, credential, extra)?;
        let built = build(connector, req, credential, extra)?;
        let client = self.client(connector.allow_private, connector.connect_timeout_ms)?;
        let start = Instant::now();
        let secrets: Vec<&Secret> = credential.into_iter().chain(extra).collect();
        let (parts, body) = self
            .exchange(&client, connector, &built, start, &secrets)
            .await?;
        let status = parts.status.as_u16();
        let (body, decoded) =
            decode_content(&parts.headers, body).map_err(|why| ForwardError::Broken {
                detail: format!("{} {}: {why}", built.method_name, built.shown_url),
            })?;
        let resp_headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .filter(|(k, _)| !(decoded && *k == CONTENT_ENCODING))
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut out = DownstreamResponse {
            status,
            headers: resp_headers,
            body,
            latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            url: built.shown_url,
            method: built.method_name,
        };
        redact::redact(&mut out, &secrets);
        Ok(out)
    }

    /// Send a built request (retried once if the connection is refused) and read the whole
    /// answer, within one deadline from `start` that covers connect, send and body.
    async fn exchange(
        &self,
        client: &HttpClient,
        connector: &ConnectorConfig,
        built: &Built,
        start: Instant,
        secrets: &[&Secret],
    ) -> Result<(hyper::http::response::Parts, Bytes), ForwardError> {
        let (method_name, shown_url) = (&built.method_name, &built.shown_url);
        let not_sent = |detail: String| ForwardError::NotSent { detail };
        let scrub = |s: String| redact::redact_str(&s, secrets);
        let deadline = start + Duration::from_millis(connector.timeout_ms);
        // `stage` says where the deadline struck.
        let mut stage = Stage::Head;
        let exchange = async {
            let mut attempt = 0u32;
            let resp = loop {
                attempt += 1;
                let mut request = Request::new(Full::new(built.body.clone()));
                *request.method_mut() = built.method.clone();
                *request.uri_mut() = built.uri.clone();
                *request.headers_mut() = built.headers.clone();
                self.attempts.fetch_add(1, Ordering::Relaxed);
                match client.request(request).await {
                    Ok(r) => break r,
                    Err(e) => match classify(&e) {
                        Failure::Refused if attempt == 1 => {
                            tokio::time::sleep(REFUSED_RETRY_DELAY).await;
                            continue;
                        }
                        Failure::Refused => {
                            return Err(not_sent(format!(
                                "connection to {shown_url} refused ({attempt} attempts)"
                            )))
                        }
                        Failure::Ssrf(detail) => return Err(not_sent(detail)),
                        Failure::Connect => {
                            return Err(not_sent(scrub(format!(
                                "cannot connect to {shown_url}: {}",
                                chain(&e)
                            ))))
                        }
                        Failure::Other => {
                            return Err(ForwardError::Broken {
                                detail: scrub(format!("{method_name} {shown_url}: {}", chain(&e))),
                            })
                        }
                    },
                }
            };
            stage = Stage::Body;
            let (parts, mut incoming) = resp.into_parts();
            let mut body = bytes::BytesMut::new();
            while let Some(frame) = incoming.frame().await {
                let frame = frame.map_err(|e| ForwardError::Broken {
                    detail: scrub(format!(
                        "{method_name} {shown_url}: response body broken: {}",
                        chain(&e)
                    )),
                })?;
                let Ok(chunk) = frame.into_data() else {
                    continue; // trailers
                };
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(ForwardError::Broken {
                        detail: format!(
                            "{method_name} {shown_url}: response too large (over {MAX_RESPONSE_BYTES} bytes)"
                        ),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok((parts, body.freeze()))
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(r) => r,
            Err(_) => {
                let what = match stage {
                    Stage::Head => "no answer",
                    Stage::Body => "response body not complete",
                };
                Err(ForwardError::Timeout {
                    detail: format!(
                        "{method_name} {shown_url}: {what} within {} ms",
                        connector.timeout_ms
                    ),
                })
            }
        }
    }
}

/// A request ready to send.
struct Built {
    method: Method,
    /// Upper-case method name.
    method_name: String,
    /// The URL without any query-injected credential (what receipts and errors show).
    shown_url: String,
    /// The URL as sent (it may hold a query-injected credential: never shown).
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// A credential for every `auth` that needs one, none for `auth = none`, and one value per
/// `extra_credentials` entry.
fn check_credentials(
    connector: &ConnectorConfig,
    credential: Option<&Secret>,
    extra: &[Secret],
) -> Result<(), ForwardError> {
    let not_sent = |detail: String| ForwardError::NotSent { detail };
    validate_connector(connector).map_err(not_sent)?;
    let name = &connector.name;
    if extra.len() != connector.extra_credentials.len() {
        return Err(not_sent(format!(
            "connector {name}: {} extra credentials configured, {} given",
            connector.extra_credentials.len(),
            extra.len()
        )));
    }
    match (&connector.auth, credential) {
        (AuthStyle::None, Some(_)) => Err(not_sent(format!(
            "connector {name}: a credential was given but auth is none"
        ))),
        (AuthStyle::None, None) | (_, Some(_)) => Ok(()),
        (_, None) => Err(not_sent(format!(
            "connector {name}: auth needs a credential"
        ))),
    }
}

/// The request for `req` on `connector`: method, URL under the base URL, headers (declared,
/// defaults, idempotency key, credentials) and body. Nothing the agent controls can name a
/// reserved header, leave the base URL or take the credential's query parameter.
fn build(
    connector: &ConnectorConfig,
    req: Outbound,
    credential: Option<&Secret>,
    extra: &[Secret],
) -> Result<Built, ForwardError> {
    let not_sent = |detail: String| ForwardError::NotSent { detail };
    let method_name = req.method.to_ascii_uppercase();
    if !METHODS.contains(&method_name.as_str()) {
        return Err(not_sent(format!("method {:?} is not allowed", req.method)));
    }
    let method = Method::from_bytes(method_name.as_bytes())
        .map_err(|_| not_sent(format!("method {:?} is not allowed", req.method)))?;
    let url = url_of(connector, &req)?;
    let shown_url = url.to_string();
    let mut send_url = url;
    let mut headers = declared_headers(connector, &req)?;
    if let Some(secret) = credential {
        inject(&connector.auth, secret, &mut headers, &mut send_url).map_err(not_sent)?;
    }
    for (x, secret) in connector.extra_credentials.iter().zip(extra) {
        let header = AuthStyle::Header {
            name: x.header.clone(),
        };
        inject(&header, secret, &mut headers, &mut send_url).map_err(not_sent)?;
    }
    // The URL may hold a query-injected credential: never shown, never put in an error.
    let uri: Uri = send_url
        .as_str()
        .parse()
        .map_err(|_| not_sent(format!("{shown_url} is not a valid request URI")))?;
    Ok(Built {
        method,
        method_name,
        shown_url,
        uri,
        headers,
        body: req.body.map(|(b, _)| b).unwrap_or_default(),
    })
}

/// The URL of `req` under the connector's base URL, with its query.
fn url_of(connector: &ConnectorConfig, req: &Outbound) -> Result<url::Url, ForwardError> {
    let not_sent = |detail: String| ForwardError::NotSent { detail };
    check_path(&req.path).map_err(not_sent)?;
    let mut url = url::Url::parse(&connector.base_url)
        .map_err(|e| not_sent(format!("connector {}: base_url: {e}", connector.name)))?;
    let full_path = format!("{}{}", url.path().trim_end_matches('/'), req.path);
    url.set_path(&full_path);
    if url.path() != full_path {
        return Err(not_sent(format!(
            "path {:?} is not in normalized, percent-encoded form",
            req.path
        )));
    }
    if let AuthStyle::Query { name: auth_name } = &connector.auth {
        if req.query.iter().any(|(k, _)| k == auth_name) {
            return Err(not_sent(format!(
                "query parameter {auth_name:?} is reserved for the credential"
            )));
        }
    }
    if !req.query.is_empty() {
        url.query_pairs_mut().extend_pairs(&req.query);
    }
    Ok(url)
}

/// The request's own headers (never a reserved one), the defaults, its content type and the
/// idempotency key; credentials come after.
fn declared_headers(
    connector: &ConnectorConfig,
    req: &Outbound,
) -> Result<HeaderMap, ForwardError> {
    let not_sent = |detail: String| ForwardError::NotSent { detail };
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        let n = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| not_sent(format!("invalid header name {k:?}")))?;
        if RESERVED_HEADERS.contains(&n.as_str()) {
            return Err(not_sent(format!("header {k:?} is reserved")));
        }
        let v = HeaderValue::from_str(v)
            .map_err(|_| not_sent(format!("invalid value for header {k:?}")))?;
        headers.append(n, v);
    }
    // Uncompressed answers only, so redaction can see every byte.
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    // The usual client defaults, unless the operation declared its own.
    headers
        .entry(USER_AGENT)
        .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
    headers
        .entry(ACCEPT)
        .or_insert(HeaderValue::from_static("*/*"));
    if let Some((_, content_type)) = &req.body {
        let v = HeaderValue::from_str(content_type)
            .map_err(|_| not_sent("invalid content type".into()))?;
        headers.insert(CONTENT_TYPE, v);
    }
    if let (Some(h), Some(key)) = (&connector.idempotency_header, &req.idempotency_key) {
        let n = HeaderName::from_bytes(h.as_bytes())
            .map_err(|_| not_sent(format!("invalid idempotency header {h:?}")))?;
        let v = HeaderValue::from_str(key)
            .map_err(|_| not_sent("the idempotency key is not a valid header value".into()))?;
        headers.insert(n, v);
    }
    Ok(headers)
}

/// The body with its content codings undone: `(body, whether it was decoded)`. The rail asks
/// for `identity`; a downstream that answers `gzip`, `x-gzip` or `deflate` anyway is decoded
/// (at most [`MAX_RESPONSE_BYTES`] of output), so redaction sees every byte. Any other coding,
/// or several stacked, is refused: the rail cannot inspect it, so it cannot pass it on.
pub(super) fn decode_content(headers: &HeaderMap, body: Bytes) -> Result<(Bytes, bool), String> {
    use std::io::Read as _;
    let mut codings = Vec::new();
    for v in headers.get_all(CONTENT_ENCODING) {
        let v = String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase();
        codings.extend(
            v.split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty() && c != "identity"),
        );
    }
    let coding = match codings.as_slice() {
        [] => return Ok((body, false)),
        [one] => one.as_str(),
        _ => {
            return Err(format!(
                "the response uses several content codings ({}), which the rail does not inspect",
                codings.join(", ")
            ))
        }
    };
    let limit = u64::try_from(MAX_RESPONSE_BYTES).unwrap_or(u64::MAX) + 1;
    let mut out = Vec::new();
    let read = match coding {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        // RFC 9110 `deflate` is the zlib format; some servers send a raw deflate stream.
        "deflate" => match flate2::read::ZlibDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
        {
            Ok(n) => Ok(n),
            Err(_) => {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..])
                    .take(limit)
                    .read_to_end(&mut out)
            }
        },
        other => {
            return Err(format!(
                "the response uses content coding {:?}, which the rail does not inspect",
                other.chars().take(40).collect::<String>()
            ))
        }
    };
    read.map_err(|e| format!("the {coding} response body does not decode: {e}"))?;
    if out.len() > MAX_RESPONSE_BYTES {
        return Err(format!(
            "response too large once decoded (over {MAX_RESPONSE_BYTES} bytes)"
        ));
    }
    Ok((Bytes::from(out), true))
}

impl Default for Forwarder {
    fn default() -> Self {
        Forwarder::new()
    }
}

impl fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavours = self.clients.lock().map(|c| c.len()).unwrap_or_default();
        f.debug_struct("Forwarder")
            .field("clients", &flavours)
            .field("attempts", &self.attempts())
            .finish()
    }
}

/// Put the credential where the connector wants it. Header values are marked sensitive (hyper
/// never prints them).
fn inject(
    auth: &AuthStyle,
    secret: &Secret,
    headers: &mut HeaderMap,
    url: &mut url::Url,
) -> Result<(), String> {
    let bad = || "the credential is not a valid header value".to_string();
    let sensitive = |s: &str| -> Result<HeaderValue, String> {
        let mut v = HeaderValue::from_str(s).map_err(|_| bad())?;
        v.set_sensitive(true);
        Ok(v)
    };
    match auth {
        AuthStyle::None => {}
        AuthStyle::Bearer => {
            let v = zeroize::Zeroizing::new(format!("Bearer {}", secret.expose()));
            headers.insert(AUTHORIZATION, sensitive(&v)?);
        }
        AuthStyle::Header { name } => {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid auth header name {name:?}"))?;
            headers.insert(n, sensitive(secret.expose())?);
        }
        AuthStyle::Basic { username } => {
            let pair = zeroize::Zeroizing::new(format!("{username}:{}", secret.expose()));
            let enc = zeroize::Zeroizing::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
            ));
            headers.insert(AUTHORIZATION, sensitive(&enc)?);
        }
        AuthStyle::Query { name } => {
            url.query_pairs_mut().append_pair(name, secret.expose());
        }
    }
    Ok(())
}

/// A path below the base URL: starts with `/`, printable ASCII, no `?`, `#`, `\`, no dot
/// segments (also percent-encoded ones, which URL parsers treat as dots).
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must start with '/'"));
    }
    if path
        .bytes()
        .any(|b| !(0x21..0x7f).contains(&b) || b == b'?' || b == b'#' || b == b'\\')
    {
        return Err(format!(
            "path {path:?} must be percent-encoded ASCII without '?', '#' or '\\'"
        ));
    }
    for seg in path.split('/') {
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        if lower == "." || lower == ".." {
            return Err(format!("path {path:?} contains a dot segment"));
        }
    }
    Ok(())
}

/// Where the total deadline struck.
#[derive(Clone, Copy)]
enum Stage {
    /// Connecting, sending, or waiting for the response head.
    Head,
    /// Reading the response body.
    Body,
}

enum Failure {
    Refused,
    Ssrf(String),
    Connect,
    Other,
}

fn classify(e: &hyper_util::client::legacy::Error) -> Failure {
    let mut refused = false;
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(err) = source {
        if let Some(s) = err.downcast_ref::<SsrfRefused>() {
            return Failure::Ssrf(s.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(s) = io.get_ref().and_then(|i| i.downcast_ref::<SsrfRefused>()) {
                return Failure::Ssrf(s.to_string());
            }
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                refused = true;
            }
        }
        source = err.source();
    }
    if !e.is_connect() {
        Failure::Other
    } else if refused {
        Failure::Refused
    } else {
        Failure::Connect
    }
}

/// The error and its causes, each shown once. None of hyper's, hyper-util's or rustls's errors
/// carries the request URI (which may hold a query-injected credential); callers still scrub.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(e);
    while let Some(err) = source {
        let s = err.to_string();
        if !parts.last().is_some_and(|p| p.contains(&s)) {
            parts.push(s);
        }
        source = err.source();
    }
    parts.join(": ")
}

/// rustls as reqwest's `rustls-tls` set it up: a process-wide default provider if one is
/// installed, else ring; TLS 1.2 and 1.3; the webpki root store; ALPN left to the connector
/// (HTTP/1.1 only, so none).
fn tls_config(
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::ClientConfig, ForwardError> {
    let cannot = |e: rustls::Error| ForwardError::NotSent {
        detail: format!("cannot build the TLS configuration: {e}"),
    };
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots.add(root.clone()).map_err(cannot)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(cannot)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The HTTPS-or-HTTP connector with the connector's connect timeout over the whole of it
/// (resolve, TCP, TLS handshake), as reqwest's `connect_timeout` had it.
#[derive(Clone)]
struct TimedConnector {
    inner: HttpsConnector<HttpConnector<GuardedResolver>>,
    timeout: Duration,
}

type Connecting = Pin<
    Box<
        dyn Future<Output = Result<MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>, BoxError>>
            + Send,
    >,
>;

impl tower_service::Service<Uri> for TimedConnector {
    type Response = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(r) => r,
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connect timed out after {} ms", timeout.as_millis()),
                )) as BoxError),
            }
        })
    }
}
