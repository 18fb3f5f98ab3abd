//! RFC 8785 (JCS) canonical serialization of a [`serde_json::Value`], in one pass.
//!
//! Guarantees: object members sorted by their UTF-16 code units (§3.2.3), numbers in
//! ECMAScript `Number.prototype.toString` form (§3.2.2.3, `-0` → `0`), strings with only the
//! escapes RFC 8785 mandates, no whitespace. Integers outside ±(2^53−1) are refused rather than
//! rounded, so two distinct payloads can never share a canonical form.

use std::cmp::Ordering;

use serde_json::Value;

use crate::error::Result;
use crate::json::{check_value, parse_strict};

/// Canonical bytes of `v`. Fails with `invalid_json` only for integers outside ±(2^53−1)
/// (values from [`parse_strict`] never fail).
pub fn canonicalize(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    write_canonical(v, &mut out)?;
    Ok(out)
}

/// Strictly parse `input` and return its canonical bytes.
pub fn canonicalize_bytes(input: &[u8]) -> Result<Vec<u8>> {
    let v = parse_strict(input)?;
    let mut out = Vec::with_capacity(input.len());
    write_canonical(&v, &mut out)?;
    Ok(out)
}

/// Append the canonical bytes of `v` to `out`.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if !(-crate::json::MAX_SAFE_INTEGER..=crate::json::MAX_SAFE_INTEGER).contains(&i) {
                    return check_value(v);
                }
                let mut b = itoa::Buffer::new();
                out.extend_from_slice(b.format(i).as_bytes());
            } else if let Some(f) = n
                .as_f64()
                .filter(|f| n.as_u64().is_none() && !crate::json::prints_as_unsafe_integer(*f))
            {
                write_number(f, out);
            } else {
                return check_value(v);
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out)?;
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            // serde_json's map is usually already in UTF-8 byte order, which equals UTF-16
            // order unless supplementary characters meet U+E000..U+FFFF: check, sort if not.
            let mut sorted = true;
            let mut prev: Option<&String> = None;
            for k in m.keys() {
                if let Some(p) = prev {
                    if utf16_cmp(p, k) != Ordering::Less {
                        sorted = false;
                        break;
                    }
                }
                prev = Some(k);
            }
            if sorted {
                for (i, (k, x)) in m.iter().enumerate() {
                    member(i, k, x, out)?;
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    member(i, k, x, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn member(i: usize, k: &str, x: &Value, out: &mut Vec<u8>) -> Result<()> {
    if i > 0 {
        out.push(b',');
    }
    write_string(k, out);
    out.push(b':');
    write_canonical(x, out)
}

/// Compare two strings by their UTF-16 code units (RFC 8785 §3.2.3).
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.iter().zip(y).position(|(p, q)| p != q) {
        None => x.len().cmp(&y.len()),
        Some(mut i) => {
            // Same prefix up to i, so the char boundary before i is shared.
            while i > 0 && !a.is_char_boundary(i) {
                i -= 1;
            }
            a[i..].encode_utf16().cmp(b[i..].encode_utf16())
        }
    }
}

/// Append a finite double in ECMAScript `Number.prototype.toString` form.
pub fn write_number(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    let mut b = ryu_js::Buffer::new();
    out.extend_from_slice(b.format_finite(f).as_bytes());
}

/// The ECMAScript form of a finite double, as a `String`.
pub fn format_number(f: f64) -> String {
    let mut out = Vec::new();
    write_number(f, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` as a JCS string literal.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(v: Value) -> String {
        String::from_utf8(canonicalize(&v).expect("canonical")).expect("utf8")
    }

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        assert_eq!(
            c(json!({"b": 1, "a": [true, null]})),
            r#"{"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn utf16_order_differs_from_utf8_order() {
        // U+FB33 (one UTF-16 unit 0xFB33) sorts after U+1F600 (surrogates 0xD83D…) in UTF-16,
        // but before it in UTF-8 byte order.
        assert_eq!(utf16_cmp("\u{1F600}", "\u{FB33}"), Ordering::Less);
        assert_eq!(
            c(json!({"\u{FB33}": 1, "\u{1F600}": 2})),
            "{\"\u{1F600}\":2,\"\u{FB33}\":1}"
        );
    }

    #[test]
    fn escapes_only_what_rfc8785_requires() {
        assert_eq!(
            c(json!("a\"\\\n\u{1}\u{7f}\u{2028}é/")),
            "\"a\\\"\\\\\\n\\u0001\u{7f}\u{2028}é/\""
        );
    }

    #[test]
    fn numbers_use_ecmascript_form() {
        assert_eq!(format_number(1e21), "1e+21");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(c(json!([1.5, 100, -3])), "[1.5,100,-3]");
    }

    #[test]
    fn refuses_unsafe_integers_instead_of_rounding() {
        assert!(canonicalize(&json!(9_007_199_254_740_993_u64)).is_err());
        assert!(canonicalize(&json!(-9_007_199_254_740_993_i64)).is_err());
    }
}
