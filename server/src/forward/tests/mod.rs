//! Forwarder tests against real TCP servers on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use intentrail_core::error::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::model::Outcome;

mod config;
mod faults;

impl Forwarder {
    /// [`Forwarder::send_with_extra`] for a connector without extra credentials.
    async fn send(
        &self,
        connector: &ConnectorConfig,
        req: Outbound,
        credential: Option<&Secret>,
    ) -> Result<DownstreamResponse, ForwardError> {
        self.send_with_extra(connector, req, credential, &[]).await
    }
}
use crate::secret::Secret;

/// A fake downstream key (never printed: assertions compare without formatting it).
const KEY: &str = "sk_live_canary_Zq81+/x=9";
const KEY_URLSAFE: &str = "sk_live_canary_Zq81x9";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
}

#[derive(Clone, Default)]
struct Downstream {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Downstream {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn handler(State(d): State<Downstream>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    d.seen.lock().expect("lock").push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    match parts.uri.path() {
        "/redirect" => (StatusCode::FOUND, [("location", "/target")], "moved").into_response(),
        "/fail" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "/big" => vec![b'a'; MAX_RESPONSE_BYTES + 1].into_response(),
        "/echo" => {
            // A careless downstream that echoes the credential in every form.
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let key = parts
                .headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
            let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key);
            let pct: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
            let pct_strict = mapping::encode_segment(&key);
            let json = serde_json::json!({ "you_sent": key, "auth": auth }).to_string();
            let body = format!(
                "raw={key} b64={b64} b64url={b64url} pct={pct} strict={pct_strict} json={json}"
            );
            Response::builder()
                .status(200)
                .header("x-echo", format!("key {key}"))
                .header("x-echo-b64", b64)
                .header("set-cookie", "session=abc")
                .header("x-kept", "ok")
                .body(Body::from(body))
                .expect("response")
        }
        _ => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"ok\":true}",
        )
            .into_response(),
    }
}

async fn downstream() -> (Downstream, String) {
    let d = Downstream::default();
    let app = axum::Router::new().fallback(handler).with_state(d.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (d, format!("http://{addr}"))
}

/// A raw TCP server: counts connections, reads one request head, then runs `behave`.
async fn raw_server<F, Fut>(behave: F) -> (Arc<AtomicUsize>, std::net::SocketAddr)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let behave = Arc::new(behave);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let behave = behave.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                behave(sock).await;
            });
        }
    });
    (count, addr)
}

fn connector(base_url: &str, auth: AuthStyle, credential: Option<&str>) -> ConnectorConfig {
    ConnectorConfig {
        name: "test".into(),
        base_url: base_url.into(),
        credential: credential.map(str::to_owned),
        auth,
        connect_timeout_ms: 1000,
        timeout_ms: 3000,
        allow_private: true,
        idempotency_header: Some("Idempotency-Key".into()),
        extra_credentials: vec![],
        cache_ttl_ms: 0,
    }
}

fn get(path: &str) -> Outbound {
    Outbound {
        method: "GET".into(),
        path: path.into(),
        query: vec![],
        headers: vec![],
        body: None,
        idempotency_key: None,
    }
}

fn header<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn each_auth_style_reaches_the_downstream() {
    let (d, base) = downstream().await;
    let f = Forwarder::new();
    let key = Secret::new(KEY.into());
    let cred = Some("env:TEST_KEY");

    let c = connector(&base, AuthStyle::Bearer, cred);
    f.send(&c, get("/a"), Some(&key)).await.expect("bearer");
    let c = connector(
        &base,
        AuthStyle::Header {
            name: "X-Api-Key".into(),
        },
        cred,
    );
    f.send(&c, get("/b"), Some(&key)).await.expect("header");
    let c = connector(
        &base,
        AuthStyle::Basic {
            username: "acct_1".into(),
        },
        cred,
    );
    f.send(&c, get("/c"), Some(&key)).await.expect("basic");
    let c = connector(
        &base,
        AuthStyle::Query {
            name: "api_key".into(),
        },
        cred,
    );
    let mut q = get("/d");
    q.query = vec![("limit".into(), "10".into())];
    let r = f.send(&c, q, Some(&key)).await.expect("query");

    let seen = d.seen();
    assert_eq!(seen.len(), 4);
    assert!(header(&seen[0], "authorization") == Some(&format!("Bearer {KEY}")));
    assert!(header(&seen[1], "x-api-key") == Some(KEY));
    assert!(header(&seen[1], "authorization").is_none());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("acct_1:{KEY}"));
    assert!(header(&seen[2], "authorization") == Some(&format!("Basic {basic}")));
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(seen[3].query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    assert!(
        pairs
            == [
                ("limit".to_string(), "10".to_string()),
                ("api_key".into(), KEY.into())
            ]
    );
    assert!(header(&seen[3], "authorization").is_none());
    // The reported URL never holds the credential.
    assert_eq!(r.url, format!("{base}/d?limit=10"));
    assert_eq!(r.method, "GET");
    for s in &seen {
        assert!(header(s, "cookie").is_none());
        assert!(header(s, "proxy-authorization").is_none());
    }
}

#[tokio::test]
async fn body_query_and_idempotency_key_are_sent_exactly() {
    let (d, base) = downstream().await;
    let f = Forwarder::new();
    let body = bytes::Bytes::from_static(br#"{"amount":5000,"currency":"usd"}"#);
    let req = Outbound {
        method: "post".into(),
        path: "/v1/refunds".into(),
        query: vec![("expand[]".into(), "charge x".into())],
        headers: vec![],
        body: Some((body.clone(), "application/json")),
        idempotency_key: Some("019237f0-permit".into()),
    };
    let c = connector(&format!("{base}/api/"), AuthStyle::None, None);
    let r = f.send(&c, req.clone(), None).await.expect("send");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), b"{\"ok\":true}");
    assert_eq!(
        r.url,
        format!("{base}/api/v1/refunds?expand%5B%5D=charge+x")
    );

    let mut custom = c.clone();
    custom.idempotency_header = Some("X-Request-Id".into());
    f.send(&custom, req.clone(), None).await.expect("custom");
    let mut none = c.clone();
    none.idempotency_header = None;
    f.send(&none, req, None).await.expect("none");

    let seen = d.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/api/v1/refunds");
    assert_eq!(seen[0].body, body);
    assert_eq!(header(&seen[0], "content-type"), Some("application/json"));
    assert_eq!(header(&seen[0], "idempotency-key"), Some("019237f0-permit"));
    assert_eq!(header(&seen[1], "x-request-id"), Some("019237f0-permit"));
    assert_eq!(header(&seen[1], "idempotency-key"), None);
    assert_eq!(header(&seen[2], "idempotency-key"), None);
    assert!(header(&seen[0], "user-agent").is_some_and(|u| u.starts_with("intentrail/")));
    assert_eq!(header(&seen[0], "accept-encoding"), Some("identity"));
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (d, base) = downstream().await;
    let r = Forwarder::new()
        .send(
            &connector(&base, AuthStyle::None, None),
            get("/redirect"),
            None,
        )
        .await
        .expect("send");
    assert_eq!(r.status, 302);
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "location" && v == "/target"));
    let seen = d.seen();
    assert_eq!(seen.len(), 1, "the redirect was followed");
}

#[tokio::test]
async fn downstream_500_is_an_answer_not_an_error() {
    let (_d, base) = downstream().await;
    let r = Forwarder::new()
        .send(&connector(&base, AuthStyle::None, None), get("/fail"), None)
        .await
        .expect("500 is a response");
    assert_eq!(r.status, 500);
    assert_eq!(r.body.as_ref(), b"boom");
}

#[tokio::test]
async fn literal_private_targets_are_refused_before_sending() {
    let (count, addr) = raw_server(|_s| async {}).await;
    let f = Forwarder::new();
    for base in [
        format!("https://127.0.0.1:{}", addr.port()),
        format!("https://127.1:{}", addr.port()),
        format!("https://[::ffff:127.0.0.1]:{}", addr.port()),
        format!("https://[::1]:{}", addr.port()),
        format!("http://127.0.0.1:{}", addr.port()),
    ] {
        let mut c = connector(&base, AuthStyle::None, None);
        c.allow_private = false;
        let e = f.send(&c, get("/x"), None).await.expect_err("refused");
        assert!(matches!(e, ForwardError::NotSent { .. }), "{base}: {e}");
        assert_eq!(e.outcome(), Outcome::NotForwarded);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "a connection was made");
    assert_eq!(f.attempts(), 0);
}

#[tokio::test]
async fn hostname_resolving_to_loopback_is_refused_in_the_resolver() {
    let (count, addr) = raw_server(|_s| async {}).await;
    let f = Forwarder::new();
    let mut c = connector(
        &format!("https://localhost:{}", addr.port()),
        AuthStyle::Bearer,
        Some("env:K"),
    );
    c.allow_private = false;
    assert_eq!(
        validate_connector(&c),
        Ok(()),
        "a hostname passes config checks"
    );
    let key = Secret::new(KEY.into());
    let e = f
        .send(&c, get("/x"), Some(&key))
        .await
        .expect_err("refused");
    assert!(matches!(e, ForwardError::NotSent { .. }));
    assert!(e.detail().contains("resolves to non-public address"), "{e}");
    assert!(!e.detail().contains(KEY));
    assert_eq!(f.attempts(), 1, "refused once, not retried");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "a connection was made");
}

#[tokio::test]
async fn hostname_is_allowed_when_the_connector_allows_private() {
    let (d, base) = downstream().await;
    let base = base.replace("127.0.0.1", "localhost");
    let r = Forwarder::new()
        .send(&connector(&base, AuthStyle::None, None), get("/ok"), None)
        .await
        .expect("allowed");
    assert_eq!(r.status, 200);
    assert_eq!(d.seen().len(), 1);
}

/// An HTTPS downstream on 127.0.0.1 (certificate for `localhost`, issued by the test CA in
/// `testdata/`, which is test-only key material): answers `<method> <uri> host=<host>`.
async fn https_downstream() -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(include_bytes!("../testdata/leaf.pem"))
        .collect::<Result<Vec<_>, _>>()
        .expect("leaf cert");
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../testdata/leaf.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let answer = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    let host = req
                        .headers()
                        .get("host")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned();
                    let text = format!("{} {} host={host}", req.method(), req.uri());
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from(text)),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), answer)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_is_verified_against_the_roots_and_then_forwarded() {
    use rustls::pki_types::pem::PemObject as _;
    let addr = https_downstream().await;
    let key = Secret::new(KEY.into());
    let c = connector(
        &format!("https://localhost:{}/api", addr.port()),
        AuthStyle::Query {
            name: "api_key".into(),
        },
        Some("env:FORWARD_TEST_KEY"),
    );

    // The rail's roots (webpki) do not know the test CA: refused in the handshake, nothing sent.
    let f = Forwarder::new();
    let e = f
        .send(&c, get("/v1/items"), Some(&key))
        .await
        .expect_err("untrusted");
    assert!(matches!(e, ForwardError::NotSent { .. }), "{e}");
    assert!(e.detail().contains("certificate"), "{e}");
    assert!(!e.detail().contains("canary"), "the credential leaked");
    assert_eq!(f.attempts(), 1);

    // Trusting the test CA: the exchange goes through TLS with the right host header.
    let ca =
        rustls::pki_types::CertificateDer::from_pem_slice(include_bytes!("../testdata/ca.pem"))
            .expect("ca");
    let f = Forwarder::with_extra_root(ca);
    let out = f
        .send(&c, get("/v1/items"), Some(&key))
        .await
        .expect("https");
    assert_eq!(out.status, 200);
    let body = String::from_utf8_lossy(&out.body);
    assert!(body.starts_with("GET /api/v1/items?api_key="), "{body}");
    assert!(
        body.ends_with(&format!(" host=localhost:{}", addr.port())),
        "{body}"
    );
    assert!(!body.contains("canary"), "the credential was not redacted");
    assert_eq!(
        out.url,
        format!("https://localhost:{}/api/v1/items", addr.port())
    );
}

#[tokio::test]
async fn echoed_credentials_are_redacted_from_the_response() {
    let (_d, base) = downstream().await;
    let f = Forwarder::new();
    let key = Secret::new(KEY.into());
    let c = connector(
        &base,
        AuthStyle::Header {
            name: "X-Api-Key".into(),
        },
        Some("env:K"),
    );
    let r = f.send(&c, get("/echo"), Some(&key)).await.expect("send");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let all = format!("{body} {:?}", r.headers);
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(KEY);
    let pct: String = form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    for (form, v) in [
        ("raw", KEY),
        ("b64", &b64),
        ("b64url", &b64url),
        ("pct", &pct),
    ] {
        assert!(!all.contains(v), "{form} form of the key leaked");
    }
    assert!(!all.contains("canary"), "part of the key leaked");
    assert!(body.contains("raw=[REDACTED] b64=[REDACTED]"));
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "x-echo" && v == "key [REDACTED]"));
    assert!(r.headers.iter().any(|(k, v)| k == "x-kept" && v == "ok"));
    assert!(!r.headers.iter().any(|(k, _)| k == "set-cookie"));
    assert!(!r.headers.iter().any(|(k, _)| k == "content-length"));

    // Basic: the key inside base64(user:key) is redacted too.
    let c = connector(
        &base,
        AuthStyle::Basic {
            username: "acct".into(),
        },
        Some("env:K"),
    );
    let safe = Secret::new(KEY_URLSAFE.into());
    let r = f.send(&c, get("/echo"), Some(&safe)).await.expect("send");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("acct:{KEY_URLSAFE}"));
    assert!(!body.contains(&basic), "basic credentials leaked");
    assert!(body.contains("[REDACTED]"));
}

#[tokio::test]
async fn bad_requests_and_configs_send_nothing() {
    let (d, base) = downstream().await;
    let f = Forwarder::new();
    let c = connector(&base, AuthStyle::None, None);
    for path in [
        "x",
        "/a/../b",
        "/a/%2e%2E/b",
        "/a/./b",
        "/a?b=1",
        "/a#f",
        "/a b",
        "/a\\b",
        "/é",
    ] {
        let e = f.send(&c, get(path), None).await.expect_err(path);
        assert!(matches!(e, ForwardError::NotSent { .. }), "{path}");
    }
    let mut trace = get("/x");
    trace.method = "TRACE".into();
    assert!(f.send(&c, trace, None).await.is_err());
    // the agent cannot supply the credential's query parameter
    let q = connector(
        &base,
        AuthStyle::Query {
            name: "api_key".into(),
        },
        Some("env:K"),
    );
    let mut spoof = get("/x");
    spoof.query = vec![("api_key".into(), "agent-key".into())];
    let key = Secret::new(KEY.into());
    assert!(f.send(&q, spoof, Some(&key)).await.is_err());
    // auth needs a credential, and none must not get one
    let bearer = connector(&base, AuthStyle::Bearer, Some("env:K"));
    assert!(f.send(&bearer, get("/x"), None).await.is_err());
    assert!(f.send(&c, get("/x"), Some(&key)).await.is_err());
    // a credential that cannot be a header value
    let newline = Secret::new("abc\r\nX-Evil: 1".into());
    let e = f
        .send(&bearer, get("/x"), Some(&newline))
        .await
        .expect_err("crlf");
    assert!(!e.detail().contains("Evil"));
    assert_eq!(f.attempts(), 0);
    assert!(d.seen().is_empty());
}

/// Run [`proxy_child`] in a child process whose environment points every proxy variable at a
/// dead port: the forwarder must still reach the downstream directly.
#[test]
fn proxy_environment_is_ignored() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://127.0.0.1:{}", l.local_addr().expect("addr").port())
    };
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "forward::tests::proxy_child",
            "--ignored",
            "--test-threads=1",
        ])
        .env("IR_PROXY_CHILD", "1")
        .env("HTTP_PROXY", &dead)
        .env("http_proxy", &dead)
        .env("HTTPS_PROXY", &dead)
        .env("https_proxy", &dead)
        .env("ALL_PROXY", &dead)
        .env("all_proxy", &dead)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run by proxy_environment_is_ignored in a child process"]
async fn proxy_child() {
    assert!(
        std::env::var_os("IR_PROXY_CHILD").is_some(),
        "run via the parent test"
    );
    let (d, base) = downstream().await;
    // Control: a default client does use the dead proxy, so the environment is in effect.
    let control = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client")
        .get(format!("{base}/control"))
        .send()
        .await;
    assert!(control.is_err(), "the proxy variables were not in effect");
    let r = Forwarder::new()
        .send(
            &connector(&base, AuthStyle::None, None),
            get("/direct"),
            None,
        )
        .await
        .expect("forwarder ignores the proxy");
    assert_eq!(r.status, 200);
    let paths: Vec<String> = d.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/direct"]);
}

#[test]
fn compressed_answers_are_decoded_within_the_size_cap_and_unknown_codings_refused() {
    use std::io::Write as _;
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).expect("gzip");
        bytes::Bytes::from(e.finish().expect("gzip"))
    };
    let headers = |coding: &str| {
        let mut h = HeaderMap::new();
        h.insert("content-encoding", coding.parse().expect("header"));
        h
    };
    let (body, decoded) =
        client::decode_content(&headers("gzip"), gz(b"{\"ok\":true}")).expect("decodes");
    assert!(decoded);
    assert_eq!(&body[..], b"{\"ok\":true}");
    // A bomb: a few KB that inflate past the cap.
    let bomb = gz(&vec![0u8; client::MAX_RESPONSE_BYTES + 1]);
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    let err = client::decode_content(&headers("gzip"), bomb).expect_err("bounded");
    assert!(err.contains("too large once decoded"), "{err}");
    for coding in ["br", "zstd", "gzip, gzip"] {
        let err = client::decode_content(&headers(coding), gz(b"x")).expect_err("refused");
        assert!(err.contains("does not inspect"), "{coding}: {err}");
    }
    let (body, decoded) =
        client::decode_content(&headers("identity"), bytes::Bytes::from_static(b"plain"))
            .expect("identity");
    assert!(!decoded);
    assert_eq!(&body[..], b"plain");
}
