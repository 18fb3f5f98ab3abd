//! Redaction of downstream responses before anything reaches the agent, a log or a receipt.
//!
//! Guarantees: every occurrence of each secret of at least [`MIN_SECRET_LEN`] bytes — raw,
//! JSON-escaped, percent-encoded (upper- and lower-case hex, and form style), base64 and
//! base64url (padded or not, and embedded in a longer base64 text such as
//! `Basic base64(user:secret)`) — is replaced by [`REDACTED`] in header values and the body;
//! a header whose *name* contains one is dropped; the headers in [`DROPPED_HEADERS`] (and any
//! named by `Connection`) are dropped.
//!
//! Secrets shorter than [`MIN_SECRET_LEN`] bytes are skipped: replacing every `ab` in a body
//! would destroy it and protect nothing (such a secret is guessable anyway).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::DownstreamResponse;
use crate::secret::Secret;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this many bytes are not redacted (see the module docs).
pub const MIN_SECRET_LEN: usize = 4;

/// Shortest run of secret bytes whose base64 is searched inside longer base64 text
/// (shorter runs would match unrelated base64 by chance).
const MIN_EMBEDDED_BYTES: usize = 6;

/// Response headers never returned to the agent: hop-by-hop headers (RFC 9110 §7.6.1 and the
/// legacy ones), cookies (the downstream session belongs to the rail's credential, not to the
/// agent), and `content-length` (redaction can change the body length; the rail recomputes it).
pub const DROPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
    "set-cookie2",
    "content-length",
];

/// Redact `resp` in place: drop [`DROPPED_HEADERS`] and headers named by `Connection`, then
/// replace every encoded form of each secret in header values and the body by [`REDACTED`].
/// Idempotent; safe to call again with more secrets.
pub fn redact(resp: &mut DownstreamResponse, secrets: &[&Secret]) {
    let connection_named: Vec<String> = resp
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .filter(|t| !t.is_empty())
        .collect();
    let patterns = patterns(secrets);
    resp.headers.retain(|(k, _)| {
        let lower = k.to_ascii_lowercase();
        !DROPPED_HEADERS.contains(&lower.as_str())
            && !connection_named.contains(&lower)
            && find_all(k.as_bytes(), &patterns).is_empty()
    });
    for (_, v) in resp.headers.iter_mut() {
        if let Some(out) = redact_with(v.as_bytes(), &patterns) {
            *v = String::from_utf8_lossy(&out).into_owned();
        }
    }
    if let Some(out) = redact_with(&resp.body, &patterns) {
        resp.body = bytes::Bytes::from(out);
    }
}

/// Redact a string (an error detail, a log line) the same way as a response body.
pub fn redact_str(s: &str, secrets: &[&Secret]) -> String {
    match redact_with(s.as_bytes(), &patterns(secrets)) {
        Some(out) => String::from_utf8_lossy(&out).into_owned(),
        None => s.to_owned(),
    }
}

type Pattern = Zeroizing<Vec<u8>>;

/// Every searched form of every secret, longest first, without duplicates.
fn patterns(secrets: &[&Secret]) -> Vec<Pattern> {
    let mut out: Vec<Pattern> = Vec::new();
    let mut push = |p: Vec<u8>| {
        let p = Zeroizing::new(p);
        if p.len() >= MIN_SECRET_LEN && !out.iter().any(|q| **q == *p) {
            out.push(p);
        }
    };
    for s in secrets {
        let raw = s.expose().as_bytes();
        if raw.len() < MIN_SECRET_LEN {
            continue;
        }
        push(raw.to_vec());
        if let Ok(json) = serde_json::to_string(s.expose()) {
            let json = Zeroizing::new(json);
            push(json.as_bytes()[1..json.len() - 1].to_vec());
        }
        let upper = Zeroizing::new(percent_encode(raw));
        push(lower_hex(&upper));
        push(upper.to_vec());
        push(
            form_urlencoded::byte_serialize(raw)
                .collect::<String>()
                .into_bytes(),
        );
        for engine in [&STANDARD, &URL_SAFE] {
            push(engine.encode(raw).into_bytes());
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            push(engine.encode(raw).into_bytes());
            // The secret inside longer base64 text starts at one of three alignments; the
            // whole 3-byte groups from that point encode to a fixed string.
            for skip in 0..3 {
                let rest = &raw[skip.min(raw.len())..];
                let whole = rest.len() / 3 * 3;
                if whole >= MIN_EMBEDDED_BYTES {
                    push(engine.encode(&rest[..whole]).into_bytes());
                }
            }
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    out
}

/// Lower-case the two hex digits after each `%`.
fn lower_hex(encoded: &[u8]) -> Vec<u8> {
    let mut out = encoded.to_vec();
    let mut i = 0;
    while i + 2 < out.len() {
        if out[i] == b'%' {
            out[i + 1] = out[i + 1].to_ascii_lowercase();
            out[i + 2] = out[i + 2].to_ascii_lowercase();
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// RFC 3986 percent-encoding of everything but unreserved characters, upper-case hex.
fn percent_encode(raw: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(raw.len() * 3);
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out
}

/// Sorted, merged byte ranges where any pattern occurs.
fn find_all(hay: &[u8], patterns: &[Pattern]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for p in patterns {
        let (first, n) = (p[0], p.len());
        let mut i = 0;
        while i + n <= hay.len() {
            match hay[i..=hay.len() - n].iter().position(|&b| b == first) {
                None => break,
                Some(off) => {
                    let at = i + off;
                    if hay[at..at + n] == p[..] {
                        ranges.push((at, at + n));
                        i = at + n;
                    } else {
                        i = at + 1;
                    }
                }
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// `Some(redacted)` when anything matched.
fn redact_with(hay: &[u8], patterns: &[Pattern]) -> Option<Vec<u8>> {
    if patterns.is_empty() {
        return None;
    }
    let ranges = find_all(hay, patterns);
    if ranges.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut pos = 0;
    for (s, e) in ranges {
        out.extend_from_slice(&hay[pos..s]);
        out.extend_from_slice(REDACTED.as_bytes());
        pos = e;
    }
    out.extend_from_slice(&hay[pos..]);
    Some(out)
}

#[cfg(test)]
mod tests;
