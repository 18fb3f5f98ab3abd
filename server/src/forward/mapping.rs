//! Deterministic mapping of a native action's canonical params to the downstream request.
//!
//! Guarantees: the same params always give the same bytes; a JSON body is exactly
//! `jcs::canonicalize` of the params left after path substitution (so with no path params it
//! is byte for byte what the permit's `ph` hashes); path params are percent-encoded and can
//! never add a path segment, a dot segment, a query or a fragment.

use intentrail_core::jcs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Outbound;

/// Content type of JSON bodies.
pub const JSON: &str = "application/json";
/// Content type of form bodies.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// How a connector turns an action's params into an HTTP request.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RequestTemplate {
    /// HTTP method.
    pub method: String,
    /// Path template, e.g. `/v1/payments/{payment_id}/refunds`: each `{name}` is replaced by
    /// the top-level string or integer param `name`, percent-encoded, and that param is
    /// removed from the body.
    pub path: String,
    /// Where the remaining params go.
    #[serde(default)]
    pub body: BodyEncoding,
}

/// Where the params left after path substitution go.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// RFC 8785 canonical JSON body (`application/json`).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` body, Stripe style (see [`form_pairs`]).
    Form,
    /// The query string, encoded like a form (for `GET` actions); no body.
    Query,
    /// No body; every param must be used by the path.
    None,
}

/// Build the request for `params` (a JSON object, already strictly parsed and validated).
/// `idempotency_key` is what the pipeline sends as the idempotency header (the permit id).
pub fn build(
    template: &RequestTemplate,
    params: &Value,
    idempotency_key: Option<String>,
) -> Result<Outbound, String> {
    let obj = params
        .as_object()
        .ok_or_else(|| "params must be a JSON object".to_string())?;
    let method = template.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("invalid method {:?}", template.method));
    }
    let (path, used) = expand_path(&template.path, obj)?;
    let mut rest = obj.clone();
    for name in &used {
        rest.remove(name);
    }
    let rest = Value::Object(rest);
    let mut query = Vec::new();
    let body = match template.body {
        BodyEncoding::Json => {
            let bytes = jcs::canonicalize(&rest).map_err(|e| e.to_string())?;
            Some((bytes::Bytes::from(bytes), JSON))
        }
        BodyEncoding::Form => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.extend_pairs(form_pairs(&rest)?);
            Some((bytes::Bytes::from(ser.finish().into_bytes()), FORM))
        }
        BodyEncoding::Query => {
            query = form_pairs(&rest)?;
            None
        }
        BodyEncoding::None => {
            if let Some(m) = rest.as_object().filter(|m| !m.is_empty()) {
                let names: Vec<&str> = m.keys().map(String::as_str).collect();
                return Err(format!(
                    "params {names:?} have no place in the request (body is none)"
                ));
            }
            None
        }
    };
    Ok(Outbound {
        method,
        path,
        query,
        headers: Vec::new(),
        body,
        idempotency_key,
    })
}

/// Expand `{name}` placeholders; returns the path and the names used.
fn expand_path(
    template: &str,
    params: &Map<String, Value>,
) -> Result<(String, Vec<String>), String> {
    if !template.starts_with('/') {
        return Err(format!("path template {template:?} must start with '/'"));
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut used = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        let (lit, tail) = rest.split_at(open);
        check_literal(lit, template)?;
        out.push_str(lit);
        if tail.starts_with('}') {
            return Err(format!("unbalanced '}}' in path template {template:?}"));
        }
        let close = tail
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in path template {template:?}"))?;
        let name = &tail[1..close];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "bad placeholder {{{name}}} in path template {template:?}"
            ));
        }
        let value = match params.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            Some(_) => {
                return Err(format!(
                    "path parameter {name:?} must be a string or an integer"
                ))
            }
            None => return Err(format!("path parameter {name:?} is missing")),
        };
        if value.is_empty() || value == "." || value == ".." {
            return Err(format!(
                "path parameter {name:?} must not be empty, '.' or '..'"
            ));
        }
        out.push_str(&encode_segment(&value));
        if !used.iter().any(|u| u == name) {
            used.push(name.to_owned());
        }
        rest = &tail[close + 1..];
    }
    check_literal(rest, template)?;
    out.push_str(rest);
    Ok((out, used))
}

fn check_literal(lit: &str, template: &str) -> Result<(), String> {
    let ok = lit.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~' | b':' | b'@')
    });
    if !ok {
        return Err(format!(
            "path template {template:?} may only contain unreserved characters, '/', ':' and '@'"
        ));
    }
    if lit.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("path template {template:?} contains a dot segment"));
    }
    Ok(())
}

/// Percent-encode everything except RFC 3986 unreserved characters (so `/`, `?`, `#`, `%`
/// and spaces in a param can never change the request's structure).
pub fn encode_segment(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// Flatten an object to form pairs, Stripe style, in canonical (RFC 8785) key order:
/// nested objects as `a[b]`, arrays as `a[0]`, booleans `true`/`false`, integers as is, other
/// numbers in their JCS form, `null` as an empty value. Empty arrays and objects produce no
/// pair. Keys containing `[` or `]` are refused (they would be ambiguous).
pub fn form_pairs(v: &Value) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in sorted(m) {
                check_key(k)?;
                flatten(k.clone(), x, &mut out)?;
            }
        }
        _ => return Err("form params must be a JSON object".into()),
    }
    Ok(out)
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| jcs::utf16_cmp(a.0, b.0));
    entries
}

fn check_key(k: &str) -> Result<(), String> {
    if k.is_empty() || k.contains(['[', ']']) {
        return Err(format!(
            "form key {k:?} must be non-empty and contain no '[' or ']'"
        ));
    }
    Ok(())
}

fn flatten(prefix: String, v: &Value, out: &mut Vec<(String, String)>) -> Result<(), String> {
    match v {
        Value::Null => out.push((prefix, String::new())),
        Value::Bool(b) => out.push((prefix, b.to_string())),
        Value::Number(n) => {
            let s = if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                let f = n
                    .as_f64()
                    .ok_or_else(|| format!("number at {prefix} is not representable"))?;
                jcs::format_number(f)
            };
            out.push((prefix, s));
        }
        Value::String(s) => out.push((prefix, s.clone())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(format!("{prefix}[{i}]"), x, out)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in sorted(m) {
                check_key(k)?;
                flatten(format!("{prefix}[{k}]"), x, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
