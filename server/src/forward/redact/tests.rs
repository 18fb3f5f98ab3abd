use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use super::*;

const KEY: &str = "sk_live_canary/Zq+8 x=";

fn resp(headers: &[(&str, &str)], body: &str) -> DownstreamResponse {
    DownstreamResponse {
        status: 200,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: bytes::Bytes::from(body.to_owned()),
        latency_ms: 1,
        url: "https://x.example/".into(),
        method: "GET".into(),
    }
}

fn text(r: &DownstreamResponse) -> String {
    format!("{} {:?}", String::from_utf8_lossy(&r.body), r.headers)
}

#[test]
fn every_encoded_form_is_redacted_in_body_and_headers() {
    let key = Secret::new(KEY.into());
    let pct_upper = percent_encode(KEY.as_bytes());
    let pct_upper = String::from_utf8(pct_upper).expect("ascii");
    let pct_lower = String::from_utf8(lower_hex(pct_upper.as_bytes())).expect("ascii");
    let form: String = form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    let json = serde_json::to_string(KEY).expect("json");
    let forms = [
        KEY.to_string(),
        STANDARD.encode(KEY),
        URL_SAFE_NO_PAD.encode(KEY),
        pct_upper,
        pct_lower,
        form,
        json[1..json.len() - 1].to_string(),
        STANDARD.encode(format!("user:{KEY}")),
        STANDARD.encode(format!("ab:{KEY}")),
        URL_SAFE_NO_PAD.encode(format!("x{KEY}y")),
    ];
    for f in &forms {
        let mut r = resp(
            &[("x-echo", &format!("token={f};")), ("x-other", "fine")],
            &format!("<{f}>"),
        );
        redact(&mut r, &[&key]);
        let shown = text(&r);
        assert!(!shown.contains("canary"), "a form of the key survived");
        assert!(String::from_utf8_lossy(&r.body).starts_with("<"));
        assert!(r.headers.iter().any(|(k, v)| k == "x-other" && v == "fine"));
        assert!(r.headers[0].1.contains(REDACTED));
    }
}

#[test]
fn embedded_base64_leaves_at_most_edge_characters() {
    // Basic auth echo: everything that depends only on the key's bytes is gone.
    let key = Secret::new("0123456789abcdefXYZ".into());
    let basic = STANDARD.encode("someone:0123456789abcdefXYZ");
    let mut r = resp(&[], &format!("Basic {basic}"));
    redact(&mut r, &[&key]);
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.contains(REDACTED));
    let left = body.replace(REDACTED, "");
    // "Basic " + at most the user part, 3 boundary chars and padding.
    assert!(left.len() <= "Basic ".len() + STANDARD.encode("someone:").len() + 3 + 2);
}

#[test]
fn short_secrets_are_skipped_and_nothing_else_changes() {
    let short = Secret::new("abc".into());
    let mut r = resp(&[("x", "abc")], "abcabc");
    let before = r.clone();
    redact(&mut r, &[&short]);
    assert_eq!(r, before);
    let four = Secret::new("abcd".into());
    redact(&mut r, &[&four]);
    assert_eq!(r.body.as_ref(), b"abcabc");
    let mut r = resp(&[], "xabcdx");
    redact(&mut r, &[&four]);
    assert_eq!(r.body.as_ref(), b"x[REDACTED]x");
}

#[test]
fn overlapping_and_multiple_secrets_are_merged() {
    let a = Secret::new("secret-one".into());
    let b = Secret::new("one-and-two".into());
    let mut r = resp(&[], "[secret-one-and-two] secret-one one-and-two");
    redact(&mut r, &[&a, &b]);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "[[REDACTED]] [REDACTED] [REDACTED]"
    );
    // Idempotent.
    let again = r.clone();
    redact(&mut r, &[&a, &b]);
    assert_eq!(r, again);
}

#[test]
fn hop_by_hop_and_cookie_headers_are_dropped() {
    let mut r = resp(
        &[
            ("Connection", "keep-alive, X-Hop"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-hop", "1"),
            ("Set-Cookie", "sid=1"),
            ("set-cookie", "sid=2"),
            ("content-length", "10"),
            ("upgrade", "h2c"),
            ("trailer", "x"),
            ("te", "trailers"),
            ("proxy-authenticate", "Basic"),
            ("content-type", "application/json"),
            ("x-request-id", "r1"),
        ],
        "{}",
    );
    redact(&mut r, &[]);
    let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["content-type", "x-request-id"]);
}

#[test]
fn header_named_after_a_secret_is_dropped_and_strings_redact() {
    let key = Secret::new("tok_abcdef".into());
    let mut r = resp(&[("x-tok_abcdef", "1"), ("x-ok", "1")], "");
    redact(&mut r, &[&key]);
    assert_eq!(r.headers.len(), 1);
    assert_eq!(
        redact_str("failed for tok_abcdef!", &[&key]),
        "failed for [REDACTED]!"
    );
}

#[test]
fn large_bodies_are_redacted() {
    let key = Secret::new("sk_live_canary_big".into());
    let mut body = "x".repeat(super::super::MAX_RESPONSE_BYTES - 100);
    body.push_str("sk_live_canary_big");
    let mut r = resp(&[], &body);
    let t0 = std::time::Instant::now();
    redact(&mut r, &[&key]);
    assert!(!String::from_utf8_lossy(&r.body).contains("canary"));
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
}

/// Every character of `s` as a JSON `\uXXXX` escape (upper- or lower-case hex).
fn json_u(s: &str, upper: bool) -> String {
    s.encode_utf16()
        .map(|u| {
            if upper {
                format!("\\u{u:04X}")
            } else {
                format!("\\u{u:04x}")
            }
        })
        .collect()
}

/// Every other character of `s` escaped by `f`, the rest as they are.
fn mixed(s: &str, f: impl Fn(char) -> String) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| if i % 2 == 0 { f(c) } else { c.to_string() })
        .collect()
}

#[test]
fn escaped_spellings_of_a_secret_are_redacted() {
    let key = Secret::new(KEY.into());
    let json = serde_json::to_string(KEY).expect("json");
    let json = &json[1..json.len() - 1];
    let b64 = STANDARD.encode(KEY);
    let forms = [
        // JSON: `\/` for `/`, every character as \uXXXX, mixed, both hex cases.
        json.replace('/', "\\/"),
        json_u(KEY, true),
        json_u(KEY, false),
        mixed(KEY, |c| json_u(&c.to_string(), false)),
        // Base64 whose `/` and `+` are escaped.
        b64.replace('/', "\\/").replace('+', "\\u002b"),
        // Percent-encoding of every byte, mixed hex case, and of unreserved characters.
        KEY.bytes().map(|b| format!("%{b:02x}")).collect(),
        KEY.bytes()
            .enumerate()
            .map(|(i, b)| {
                if i % 2 == 0 {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect(),
        mixed(KEY, |c| format!("%{:02X}", c as u32)),
        // HTML numeric character references, decimal and hex.
        KEY.chars().map(|c| format!("&#{};", c as u32)).collect(),
        mixed(KEY, |c| format!("&#x{:x};", c as u32)),
        // Nested: percent-encoded JSON escapes, and JSON-escaped percent signs.
        KEY.chars()
            .map(|c| format!("%5Cu{:04x}", c as u32))
            .collect(),
        KEY.bytes().map(|b| format!("\\u0025{b:02x}")).collect(),
    ];
    for f in &forms {
        assert!(!f.contains(KEY), "the form itself must be escaped: {f}");
        let mut r = resp(&[("x-echo", f)], &format!("{{\"a\":\"<{f}>\",\"{f}\":1}}"));
        redact(&mut r, &[&key]);
        let body: serde_json::Value =
            serde_json::from_slice(&r.body).expect("still JSON after redaction");
        let decoded = format!("{body} {:?}", r.headers);
        assert!(
            !decoded.contains("canary"),
            "a spelling survived: {f} → {decoded}"
        );
        assert_eq!(body["a"], format!("<{REDACTED}>"), "{f}");
        assert!(body.get(REDACTED).is_some(), "the key is redacted too: {f}");
    }
}

#[test]
fn non_bmp_secrets_are_redacted_as_surrogate_pairs() {
    let secret = "tok-😀-canary-🔑";
    let key = Secret::new(secret.into());
    for f in [json_u(secret, false), json_u(secret, true)] {
        assert!(f.contains("\\ud83d") || f.contains("\\uD83D"));
        let mut r = resp(&[], &format!("[\"{f}\"]"));
        redact(&mut r, &[&key]);
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
        assert_eq!(body, serde_json::json!([REDACTED]));
    }
}

#[test]
fn escapes_that_do_not_spell_a_secret_are_left_alone() {
    let key = Secret::new(KEY.into());
    let body = r#"{"url":"https:\/\/x.example\/a%20b?c=1&amp;d=&#38;","emoji":"\ud83d\ude00","s":"sk_live_canar"}"#;
    let mut r = resp(&[], body);
    redact(&mut r, &[&key]);
    assert_eq!(String::from_utf8_lossy(&r.body), body);
}
