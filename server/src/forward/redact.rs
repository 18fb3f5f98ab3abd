//! Redaction of downstream responses before anything reaches the agent, a log or a receipt.
//!
//! Guarantees: every occurrence of each secret of at least [`MIN_SECRET_LEN`] bytes — raw,
//! JSON-escaped, percent-encoded (upper- and lower-case hex, and form style), base64 and
//! base64url (padded or not, and embedded in a longer base64 text such as
//! `Basic base64(user:secret)`) — is replaced by [`REDACTED`] in header values and the body;
//! so is every spelling a reader can decode back into one of those forms with escapes: JSON
//! backslash escapes (`\/`, `\uXXXX` for any character, surrogate pairs), percent-encoding of
//! any byte in any hex case, and HTML numeric character references, mixed freely and nested
//! up to [`DECODE_ROUNDS`] deep (the whole escape is replaced, so JSON stays JSON). A header
//! whose *name* contains one is dropped; the headers in [`DROPPED_HEADERS`] (and any named by
//! `Connection`) are dropped. Compressed bodies are decoded before they get here
//! (`forward::client`).
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

/// How many layers of escapes are decoded (e.g. `%5Cu0073`: a percent-encoded JSON escape).
pub const DECODE_ROUNDS: usize = 3;

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
    merge(ranges)
}

/// `Some(redacted)` when anything matched.
fn redact_with(hay: &[u8], patterns: &[Pattern]) -> Option<Vec<u8>> {
    if patterns.is_empty() {
        return None;
    }
    let mut ranges = find_all(hay, patterns);
    ranges.extend(find_decoded(hay, patterns));
    if ranges.is_empty() {
        return None;
    }
    let ranges = merge(ranges);
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

/// Ranges of `hay` that decode (through up to [`DECODE_ROUNDS`] layers of escapes) into text
/// where a pattern occurs.
fn find_decoded(hay: &[u8], patterns: &[Pattern]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    // Each layer's view, with the map from its positions to the layer below.
    let mut layers: Vec<Decoded> = Vec::new();
    for _ in 0..DECODE_ROUNDS {
        let below: &[u8] = layers.last().map_or(hay, |l| &l.text);
        let Some(view) = Decoded::new(below) else {
            break;
        };
        for (mut s, mut e) in find_all(&view.text, patterns) {
            // Down through every layer to `hay`.
            for layer in std::iter::once(&view).chain(layers.iter().rev()) {
                (s, e) = layer.source(s, e);
            }
            found.push((s, e));
        }
        layers.push(view);
    }
    found
}

/// Sorted, merged ranges.
fn merge(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
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

/// One layer of escapes decoded. `escapes` holds, in order, each decoded escape as
/// (start in `text`, its length in `text`, start in the source, its length in the source);
/// every other byte maps one to one.
struct Decoded {
    text: Zeroizing<Vec<u8>>,
    escapes: Vec<(usize, usize, usize, usize)>,
}

impl Decoded {
    /// `None` when `src` holds no escape.
    fn new(src: &[u8]) -> Option<Decoded> {
        let first = src.iter().position(|&b| matches!(b, b'\\' | b'%' | b'&'))?;
        let mut text = Zeroizing::new(Vec::with_capacity(src.len()));
        text.extend_from_slice(&src[..first]);
        let mut escapes = Vec::new();
        let mut i = first;
        while i < src.len() {
            match unescape(&src[i..]) {
                Some((len, ch)) => {
                    let mut buf = [0u8; 4];
                    let bytes: &[u8] = match ch {
                        Unescaped::Byte(b) => {
                            buf[0] = b;
                            &buf[..1]
                        }
                        Unescaped::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
                    };
                    escapes.push((text.len(), bytes.len(), i, len));
                    text.extend_from_slice(bytes);
                    i += len;
                }
                None => {
                    text.push(src[i]);
                    i += 1;
                }
            }
        }
        (!escapes.is_empty()).then_some(Decoded { text, escapes })
    }

    /// The source range that `text[s..e]` came from (`s < e`).
    fn source(&self, s: usize, e: usize) -> (usize, usize) {
        (self.position(s).0, self.position(e - 1).1)
    }

    /// The source span of the byte at `p` of `text`.
    fn position(&self, p: usize) -> (usize, usize) {
        let k = self.escapes.partition_point(|&(t, ..)| t <= p);
        if k == 0 {
            return (p, p + 1);
        }
        let (t, tlen, src, slen) = self.escapes[k - 1];
        if p < t + tlen {
            (src, src + slen)
        } else {
            let at = src + slen + (p - t - tlen);
            (at, at + 1)
        }
    }
}

/// What one escape decodes to.
enum Unescaped {
    Byte(u8),
    Char(char),
}

/// The escape at the start of `s`, if it is one: (its length, what it decodes to).
fn unescape(s: &[u8]) -> Option<(usize, Unescaped)> {
    let hex = |b: &[u8]| -> Option<u32> {
        let t = std::str::from_utf8(b).ok()?;
        if t.bytes().all(|c| c.is_ascii_hexdigit()) {
            u32::from_str_radix(t, 16).ok()
        } else {
            None
        }
    };
    match *s.first()? {
        b'%' => Some((3, Unescaped::Byte(u8::try_from(hex(s.get(1..3)?)?).ok()?))),
        b'\\' => match *s.get(1)? {
            b'"' | b'\\' | b'/' => Some((2, Unescaped::Byte(s[1]))),
            b'b' => Some((2, Unescaped::Byte(8))),
            b'f' => Some((2, Unescaped::Byte(12))),
            b'n' => Some((2, Unescaped::Byte(b'\n'))),
            b'r' => Some((2, Unescaped::Byte(b'\r'))),
            b't' => Some((2, Unescaped::Byte(b'\t'))),
            b'u' => {
                let hi = hex(s.get(2..6)?)?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A surrogate pair: `\uD83D\uDE00`.
                    if s.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let lo = hex(s.get(8..12)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    Some((12, Unescaped::Char(char::from_u32(c)?)))
                } else {
                    Some((6, Unescaped::Char(char::from_u32(hi)?)))
                }
            }
            _ => None,
        },
        b'&' => {
            // `&#115;` or `&#x73;`, at most 7 digits.
            let rest = s.strip_prefix(b"&#")?;
            let (radix, digits) = match rest.first()? {
                b'x' | b'X' => (16, &rest[1..]),
                _ => (10, rest),
            };
            let n = digits.iter().take(8).position(|&b| b == b';')?;
            if n == 0 {
                return None;
            }
            let t = std::str::from_utf8(&digits[..n]).ok()?;
            let c = u32::from_str_radix(t, radix).ok()?;
            let len = 2 + usize::from(radix == 16) + n + 1;
            Some((len, Unescaped::Char(char::from_u32(c)?)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
