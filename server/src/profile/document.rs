//! Reading an uploaded OpenAPI document: JSON or YAML bytes → one JSON value, local `$ref`s
//! only, `servers` checked.
//!
//! Guarantees: a document with a remote `$ref` (anything not starting with `#/`) is refused; a
//! `servers` URL that is not plain public `http(s)` (private, loopback or link-local address,
//! `localhost`, userinfo, host variables, another scheme) is refused; `$ref` chains are
//! followed at most [`MAX_REF_HOPS`] times, so a cycle can never loop.

use std::net::IpAddr;

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Largest document accepted (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;
/// Longest `$ref` → `$ref` chain followed before giving up (a cycle of references).
pub const MAX_REF_HOPS: usize = 32;
/// Deepest YAML nesting accepted.
const MAX_YAML_DEPTH: usize = 256;

/// Parse JSON (when the first non-blank byte is `{`) or YAML into a JSON value.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return serde_json::from_slice(bytes)
            .map_err(|e| format!("the document is not valid JSON: {e}"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the document is not UTF-8".to_string())?;
    // The loader expands aliases by copying the anchored node, so a few lines of nested
    // aliases can grow to gigabytes ("billion laughs"): refuse them before loading.
    let mut scan = AliasScan(0);
    yaml_rust2::parser::Parser::new_from_str(text)
        .load(&mut scan, true)
        .map_err(|e| format!("the document is not valid YAML: {e}"))?;
    if scan.0 > 0 {
        return Err(
            "YAML aliases (*name) are refused: they can expand without bound; expand them or upload JSON"
                .into(),
        );
    }
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| format!("the document is not valid YAML: {e}"))?;
    let mut docs = docs.into_iter();
    let doc = docs
        .next()
        .ok_or_else(|| "the document is empty".to_string())?;
    if docs.next().is_some() {
        return Err("the YAML stream holds more than one document".into());
    }
    yaml_to_json(doc, 0)
}

/// Counts alias events.
struct AliasScan(usize);

impl yaml_rust2::parser::EventReceiver for AliasScan {
    fn on_event(&mut self, ev: yaml_rust2::Event) {
        if matches!(ev, yaml_rust2::Event::Alias(_)) {
            self.0 += 1;
        }
    }
}

fn yaml_to_json(y: Yaml, depth: usize) -> Result<Value, String> {
    if depth > MAX_YAML_DEPTH {
        return Err("the YAML document is nested too deeply".into());
    }
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Number(Number::from(i)),
        Yaml::Real(s) => {
            let f: f64 = s
                .parse()
                .map_err(|_| format!("YAML number {s:?} is not finite"))?;
            Value::Number(
                Number::from_f64(f).ok_or_else(|| format!("YAML number {s:?} is not finite"))?,
            )
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| yaml_to_json(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Real(s) => s,
                    Yaml::Null => "null".into(),
                    _ => return Err("a YAML mapping key is not a scalar".into()),
                };
                if m.insert(key.clone(), yaml_to_json(v, depth + 1)?).is_some() {
                    return Err(format!("duplicate YAML key {key:?}"));
                }
            }
            Value::Object(m)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
        Yaml::BadValue => return Err("the YAML document holds an invalid value".into()),
    })
}

/// Every `$ref` must be local (`#/…`); returns the first remote one.
pub fn check_refs(v: &Value) -> Result<(), String> {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    if !r.starts_with("#/") && r != "#" {
                        return Err(format!(
                            "remote $ref {:?} is refused: only local references (#/…) are followed",
                            cut(r)
                        ));
                    }
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    Ok(())
}

/// The value at a local reference `#/a/b` (RFC 6901 escapes), if any.
pub fn pointer<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    let p = r.strip_prefix('#')?;
    let decoded = percent_decode(p);
    doc.pointer(&decoded)
}

/// Follow `$ref`s from `v` until a value without one (at most [`MAX_REF_HOPS`]).
pub fn resolve<'a>(doc: &'a Value, v: &'a Value) -> Result<&'a Value, String> {
    let mut cur = v;
    for _ in 0..MAX_REF_HOPS {
        match cur.get("$ref").and_then(Value::as_str) {
            None => return Ok(cur),
            Some(r) => {
                cur = pointer(doc, r)
                    .ok_or_else(|| format!("$ref {:?} points at nothing", cut(r)))?;
            }
        }
    }
    Err("a $ref chain is too long or cyclic".into())
}

/// Decode `%XX` escapes (invalid UTF-8 is replaced).
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes: Vec<u8> = percent_bytes(s);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn percent_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| {
                char::from(c)
                    .to_digit(16)
                    .and_then(|d| u8::try_from(d).ok())
            };
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Check a `servers[].url` (only a hint: the base URL comes from the tenant's connector).
/// Relative URLs (`/api/v3`) are accepted.
pub fn check_server_url(u: &str) -> Result<(), String> {
    if u.contains('{') || u.contains('}') {
        return Err(format!(
            "server URL {:?} uses variables: the host must be fixed",
            cut(u)
        ));
    }
    if u.starts_with('/') && !u.starts_with("//") {
        return Ok(());
    }
    let url = url::Url::parse(u).map_err(|_| format!("server URL {:?} is not a URL", cut(u)))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("server URL {:?} is not http(s)", cut(u)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("server URL {:?} carries userinfo", cut(u)));
    }
    let bad = match url.host() {
        None => true,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local")
        }
        Some(url::Host::Ipv4(a)) => !crate::forward::ssrf::is_public(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => !crate::forward::ssrf::is_public(IpAddr::V6(a)),
    };
    if bad {
        return Err(format!(
            "server URL {:?} points at a private, loopback or link-local host",
            cut(u)
        ));
    }
    Ok(())
}

/// Cut a string from the document for an error message.
pub fn cut(s: &str) -> String {
    match s.char_indices().nth(120) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}
