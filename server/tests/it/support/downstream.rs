//! What the rails forward to: a downstream that records every request ([`Log`]) and answers
//! by the first segment of the path ([`downstream`]), so a test picks the answer with the
//! refund path (`refund_path: "/fail"`) or, with [`Options::routed`], the payment id; a
//! downstream that breaks its answer off; and addresses that refuse or never answer.
//!
//! [`Options::routed`]: super::Options::routed

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the downstream received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Request {
    /// The value of header `name` (lossy UTF-8).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn authorization(&self) -> Option<String> {
        self.header("authorization")
    }

    pub fn idempotency_key(&self) -> Option<String> {
        self.header("idempotency-key")
    }
}

/// Every request a downstream received, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Request>>>);

impl Log {
    pub fn all(&self) -> Vec<Request> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The value of header `name` in request `i`.
    pub fn header(&self, i: usize, name: &str) -> Option<String> {
        self.0.lock().unwrap().get(i).and_then(|r| r.header(name))
    }
}

/// The value of header `n`, if it is visible ASCII.
pub fn header(h: &HeaderMap, n: &str) -> Option<String> {
    h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Serve `app` on 127.0.0.1 (a free port) for the rest of the test.
pub async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

/// How a recording downstream answers: by [`route`], or with a test's own function.
#[derive(Clone, Copy)]
enum Answer {
    Routes,
    With(fn(&Request) -> Response),
}

/// The recording downstream, answering by route:
///
/// | first path segment | answer |
/// | --- | --- |
/// | `echo` | 200, every request header echoed (raw, base64, base64url, URL-encoded) in the body and as `x-echo-*` headers |
/// | `escaped` | 200, every header value in the spellings of [`escaped_forms`], written by hand |
/// | `gzip`, `deflate` | the echo, compressed with that coding |
/// | `brotli` | the echo as it is, labelled `br` (a coding the rail cannot decode) |
/// | `fail` | 500 with the echo |
/// | `slow` | 200 after 3 s |
/// | `declined` | 402 `card_declined` |
/// | anything else | 200 `{"id": "re_1", "status": "succeeded", "received": <the JSON body>}` |
pub async fn downstream() -> (SocketAddr, Log) {
    start(Answer::Routes).await
}

/// A recording downstream that answers with `answer` (a vendor's own shapes, say).
pub async fn downstream_answering(answer: fn(&Request) -> Response) -> (SocketAddr, Log) {
    start(Answer::With(answer)).await
}

async fn start(answer: Answer) -> (SocketAddr, Log) {
    let log = Log::default();
    let app = Router::new()
        .fallback(record)
        .with_state((log.clone(), answer));
    (serve(app).await, log)
}

async fn record(
    State((log, answer)): State<(Log, Answer)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method: method.to_string(),
        path: uri.path().to_owned(),
        path_and_query: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.0.lock().unwrap().push(request.clone());
    match answer {
        Answer::Routes => route(&request).await,
        Answer::With(f) => f(&request),
    }
}

async fn route(r: &Request) -> Response {
    let first = r
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    match first {
        "echo" => echo(r).into_response(),
        "escaped" => escaped_echo(r),
        "gzip" | "deflate" | "brotli" => compressed_echo(r, first),
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, echo(r)).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({"late": true})).into_response()
        }
        "declined" => (
            StatusCode::PAYMENT_REQUIRED,
            Json(json!({"error": "card_declined"})),
        )
            .into_response(),
        _ => Json(json!({
            "id": "re_1",
            "status": "succeeded",
            "received": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
        }))
        .into_response(),
    }
}

/// Every header as (name, value), values as lossy UTF-8.
fn header_values(r: &Request) -> Vec<(String, String)> {
    r.headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn echo(r: &Request) -> (HeaderMap, Json<Value>) {
    let mut out_headers = HeaderMap::new();
    let mut body = serde_json::Map::new();
    for (k, v) in header_values(r) {
        let raw = v.strip_prefix("Bearer ").unwrap_or(&v);
        let b = base64::engine::general_purpose::STANDARD.encode(raw);
        let bu = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let u: String = form_urlencoded::byte_serialize(raw.as_bytes()).collect();
        body.insert(
            k.clone(),
            json!({"raw": v, "b64": b, "b64url": bu, "url": u}),
        );
        if let (Ok(n), Ok(val)) = (
            HeaderName::from_bytes(format!("x-echo-{k}").as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out_headers.insert(n, val);
        }
        if let (Ok(n), Ok(val)) = (
            HeaderName::from_bytes(format!("x-echo-b64-{k}").as_bytes()),
            HeaderValue::from_str(&b),
        ) {
            out_headers.insert(n, val);
        }
    }
    (out_headers, Json(Value::Object(body)))
}

fn compressed_echo(r: &Request, coding: &str) -> Response {
    use std::io::Write as _;
    let (_, Json(body)) = echo(r);
    let plain = serde_json::to_vec(&body).unwrap();
    let (coding, bytes) = match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            ("gzip", e.finish().unwrap())
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            ("deflate", e.finish().unwrap())
        }
        // Not brotli at all: the echo as it is, labelled with a coding the rail cannot
        // decode. It must never reach the agent.
        _ => ("br", plain),
    };
    (
        [
            (axum::http::header::CONTENT_ENCODING, coding),
            (axum::http::header::CONTENT_TYPE, "application/json"),
        ],
        bytes,
    )
        .into_response()
}

/// Every spelling of `s` a JSON reader or a browser decodes back into `s`: `\/`, every
/// character as `\uXXXX`, every other one, percent-encoding in mixed hex case, HTML character
/// references, and a percent-encoded JSON escape of each character.
pub fn escaped_forms(s: &str) -> Vec<(&'static str, String)> {
    let u = |c: char| {
        let mut b = [0u16; 2];
        c.encode_utf16(&mut b)
            .iter()
            .map(|x| format!("\\u{x:04X}"))
            .collect::<String>()
    };
    let json = serde_json::to_string(s).unwrap();
    vec![
        ("solidus", json[1..json.len() - 1].replace('/', "\\/")),
        ("unicode", s.chars().map(u).collect()),
        (
            "mixed",
            s.chars()
                .enumerate()
                .map(|(i, c)| if i % 2 == 0 { u(c) } else { c.to_string() })
                .collect(),
        ),
        (
            "percent",
            s.bytes()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        format!("%{b:02x}")
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
        ),
        (
            "html",
            s.chars().map(|c| format!("&#x{:x};", c as u32)).collect(),
        ),
        (
            "nested",
            s.chars().map(|c| format!("%5Cu{:04x}", c as u32)).collect(),
        ),
    ]
}

/// A JSON body holding each received header value in every escaped spelling (written by hand:
/// a serializer would not choose these escapes).
fn escaped_echo(r: &Request) -> Response {
    let mut members = Vec::new();
    for (k, v) in header_values(r) {
        let raw = v.strip_prefix("Bearer ").unwrap_or(&v);
        for (form, text) in escaped_forms(raw) {
            members.push(format!("\"{k} {form}\":\"{text}\""));
        }
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{{{}}}", members.join(",")),
    )
        .into_response()
}

/// A downstream that reads the request, sends half a response and resets the connection;
/// counts its connections.
pub async fn resetting_downstream() -> (SocketAddr, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0usize));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            *h.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"partial\":")
                    .await;
                drop(s);
            });
        }
    });
    (addr, hits)
}

/// A port with nothing listening. It stays bound (never listening) for the rest of the test
/// process, so no other test can start a server on it and every connect is refused.
pub async fn dead_port() -> SocketAddr {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = sock.local_addr().unwrap();
    std::mem::forget(sock);
    a
}

/// An address that accepts connections (16 at most) and never answers.
pub async fn silent_port() -> SocketAddr {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..16 {
            if let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        }
    });
    addr
}

/// A free port for a child process to listen on (released before the child binds it).
pub async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}
