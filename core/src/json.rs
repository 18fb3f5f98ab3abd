//! Strict I-JSON (RFC 7493) parsing into a [`serde_json::Value`].
//!
//! Guarantees: two different byte strings the rail accepts never parse to values that a
//! lenient parser would merge. Rejected, never normalized: duplicate keys (any depth), lone
//! surrogates, invalid UTF-8, a byte order mark, integer literals outside ±(2^53−1),
//! non-finite numbers, nesting deeper than [`MAX_DEPTH`], input larger than [`MAX_INPUT_BYTES`].
//! Every rejection is [`ErrorKind::InvalidJson`] whose detail names the rule and the JSON
//! pointer where it was found: `"<rule> at \"<pointer>\": <explanation>"`.
//!
//! Numbers: an integral value within ±(2^53−1) (written `5`, `5.0` or `5e0`) becomes an
//! integer `Value`; everything else an `f64`. Both serialize identically under RFC 8785.

use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Result};

/// Deepest nesting of arrays/objects accepted (the top-level container is depth 1).
pub const MAX_DEPTH: usize = 64;
/// Largest input accepted, in bytes (1 MiB).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Largest magnitude of an integer literal: 2^53 − 1 (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Limits applied by [`parse_strict_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting accepted.
    pub max_depth: usize,
    /// Largest input in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_bytes: MAX_INPUT_BYTES,
        }
    }
}

/// The rule a rejected input broke (the first word of the error detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Not JSON at all (unexpected character, truncated input, trailing data…).
    Syntax,
    /// The same key twice in one object.
    DuplicateKey,
    /// A `\uD800`–`\uDFFF` escape without its partner.
    LoneSurrogate,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// A leading U+FEFF byte order mark.
    Bom,
    /// An integer literal outside ±(2^53−1).
    IntegerOutOfRange,
    /// A number that overflows to ±infinity.
    NonFiniteNumber,
    /// Nesting deeper than the limit.
    TooDeep,
    /// Input larger than the limit.
    TooLarge,
}

impl Rule {
    /// The rule's stable name, as it appears in error details.
    pub const fn name(self) -> &'static str {
        match self {
            Rule::Syntax => "syntax",
            Rule::DuplicateKey => "duplicate_key",
            Rule::LoneSurrogate => "lone_surrogate",
            Rule::InvalidUtf8 => "invalid_utf8",
            Rule::Bom => "bom",
            Rule::IntegerOutOfRange => "integer_out_of_range",
            Rule::NonFiniteNumber => "non_finite_number",
            Rule::TooDeep => "too_deep",
            Rule::TooLarge => "too_large",
        }
    }
}

/// Parse `input` strictly with the default [`Limits`].
pub fn parse_strict(input: &[u8]) -> Result<Value> {
    parse_strict_with(input, Limits::default())
}

/// Parse `input` strictly with explicit limits.
pub fn parse_strict_with(input: &[u8], limits: Limits) -> Result<Value> {
    if input.len() > limits.max_bytes {
        return Err(json_error(
            Rule::TooLarge,
            "",
            &format!(
                "input is {} bytes, the limit is {}",
                input.len(),
                limits.max_bytes
            ),
        ));
    }
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(json_error(
            Rule::Bom,
            "",
            "input starts with a UTF-8 byte order mark",
        ));
    }
    let mut p = Parser {
        s: input,
        i: 0,
        path: Vec::new(),
        limits,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(p.err(Rule::Syntax, "trailing data after the JSON value"));
    }
    Ok(v)
}

/// Check that a value built in memory (not parsed) obeys the numeric rules of I-JSON that
/// [`parse_strict`] enforces: integers within ±(2^53−1). `serde_json` cannot hold
/// non-finite floats, duplicate keys or lone surrogates, so nothing else can be wrong.
pub fn check_value(v: &Value) -> Result<()> {
    fn walk(v: &Value, path: &mut Vec<String>, depth: usize) -> Result<()> {
        match v {
            Value::Number(n) => {
                let ok = if let Some(i) = n.as_i64() {
                    (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i)
                } else if n.as_u64().is_some() {
                    false
                } else {
                    n.as_f64()
                        .is_some_and(|f| f.is_finite() && !prints_as_unsafe_integer(f))
                };
                if ok {
                    Ok(())
                } else {
                    Err(json_error(
                        Rule::IntegerOutOfRange,
                        &pointer(path),
                        "integer outside ±(2^53−1)",
                    ))
                }
            }
            Value::Array(a) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(json_error(
                        Rule::TooDeep,
                        &pointer(path),
                        "nesting too deep",
                    ));
                }
                for (i, x) in a.iter().enumerate() {
                    path.push(i.to_string());
                    walk(x, path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Object(m) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(json_error(
                        Rule::TooDeep,
                        &pointer(path),
                        "nesting too deep",
                    ));
                }
                for (k, x) in m {
                    path.push(k.clone());
                    walk(x, path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(v, &mut Vec::new(), 0)
}

fn json_error(rule: Rule, pointer: &str, msg: &str) -> Error {
    Error::new(
        ErrorKind::InvalidJson,
        format!("{} at \"{}\": {}", rule.name(), pointer, msg),
    )
}

/// RFC 6901 pointer of a path.
fn pointer(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        for c in seg.chars() {
            match c {
                '~' => out.push_str("~0"),
                '/' => out.push_str("~1"),
                c => out.push(c),
            }
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Path of the value being parsed (for error pointers).
    path: Vec<String>,
    limits: Limits,
}

impl Parser<'_> {
    fn err(&self, rule: Rule, msg: &str) -> Error {
        json_error(rule, &pointer(&self.path), msg)
    }

    fn syntax(&self, what: &str) -> Error {
        let msg = match self.s.get(self.i) {
            Some(b) if b.is_ascii_graphic() => {
                format!("{what}, found '{}' at byte {}", *b as char, self.i)
            }
            Some(b) => format!("{what}, found byte 0x{b:02x} at byte {}", self.i),
            None => format!("{what}, found the end of the input"),
        };
        self.err(Rule::Syntax, &msg)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        match self.s.get(self.i) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.syntax("expected true, false or null"))
        }
    }

    fn enter(&self, depth: usize) -> Result<()> {
        if depth > self.limits.max_depth {
            Err(self.err(
                Rule::TooDeep,
                &format!("nesting deeper than {}", self.limits.max_depth),
            ))
        } else {
            Ok(())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        self.enter(depth)?;
        self.i += 1; // '{'
        let mut map = Map::new();
        self.skip_ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.syntax("expected ':'"));
            }
            self.i += 1;
            self.skip_ws();
            self.path.push(key);
            let key_ref = self.path.last().map(String::as_str).unwrap_or_default();
            if map.contains_key(key_ref) {
                return Err(self.err(Rule::DuplicateKey, "the key appears twice in one object"));
            }
            let v = self.value(depth)?;
            let key = self.path.pop().unwrap_or_default();
            map.insert(key, v);
            self.skip_ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        self.enter(depth)?;
        self.i += 1; // '['
        let mut out = Vec::new();
        self.skip_ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Array(out));
        }
        loop {
            self.skip_ws();
            self.path.push(out.len().to_string());
            let v = self.value(depth)?;
            self.path.pop();
            out.push(v);
            self.skip_ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(out));
                }
                _ => return Err(self.syntax("expected ',' or ']'")),
            }
        }
    }

    /// Parse a string starting at the opening quote.
    fn string(&mut self) -> Result<String> {
        self.i += 1; // '"'
        let mut out: Vec<u8> = Vec::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let run = &self.s[start..self.i];
            if let Err(e) = std::str::from_utf8(run) {
                self.i = start + e.valid_up_to();
                return Err(self.err(
                    Rule::InvalidUtf8,
                    &format!("invalid UTF-8 at byte {}", self.i),
                ));
            }
            out.extend_from_slice(run);
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    // Every run was checked and escapes push whole chars: this cannot fail.
                    return String::from_utf8(out)
                        .map_err(|_| self.err(Rule::InvalidUtf8, "invalid UTF-8"));
                }
                Some(b'\\') => {
                    self.i += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.syntax("unescaped control character in a string")),
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let c = match self.s.get(self.i) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                let hi = self.hex4()?;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    if self.s.get(self.i) == Some(&b'\\') && self.s.get(self.i + 1) == Some(&b'u') {
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(self.err(
                                Rule::LoneSurrogate,
                                &format!("high surrogate \\u{hi:04x} not followed by a low one"),
                            ));
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        return Err(self.err(
                            Rule::LoneSurrogate,
                            &format!("high surrogate \\u{hi:04x} not followed by a low one"),
                        ));
                    }
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.err(
                        Rule::LoneSurrogate,
                        &format!("low surrogate \\u{hi:04x} without a high one"),
                    ));
                } else {
                    hi
                };
                let ch = char::from_u32(c)
                    .ok_or_else(|| self.err(Rule::LoneSurrogate, "invalid code point"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(self.syntax("invalid escape")),
        };
        self.i += 1;
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.s.get(self.i) {
                Some(b @ b'0'..=b'9') => u32::from(b - b'0'),
                Some(b @ b'a'..=b'f') => u32::from(b - b'a' + 10),
                Some(b @ b'A'..=b'F') => u32::from(b - b'A' + 10),
                _ => return Err(self.syntax("expected 4 hex digits after \\u")),
            };
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.s.get(self.i) {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.s.get(self.i) {
                    return Err(self.syntax("leading zeros are not allowed"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("expected a digit")),
        }
        let mut integral_literal = true;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            integral_literal = false;
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            integral_literal = false;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit in the exponent"));
            }
        }
        // The slice is ASCII by construction.
        let text = std::str::from_utf8(&self.s[start..self.i])
            .map_err(|_| self.err(Rule::Syntax, "invalid number"))?;
        if integral_literal {
            let digits = text.trim_start_matches('-').len();
            let parsed = if digits <= 16 {
                text.parse::<i64>().ok()
            } else {
                None
            };
            return match parsed {
                Some(v) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) => {
                    Ok(Value::Number(Number::from(v)))
                }
                _ => Err(self.err(
                    Rule::IntegerOutOfRange,
                    &format!("integer {text} is outside ±(2^53−1)"),
                )),
            };
        }
        let f: f64 = text
            .parse()
            .map_err(|_| self.err(Rule::Syntax, "invalid number"))?;
        if !f.is_finite() {
            return Err(self.err(
                Rule::NonFiniteNumber,
                &format!("number {text} is not finite as a double"),
            ));
        }
        if prints_as_unsafe_integer(f) {
            return Err(self.err(
                Rule::IntegerOutOfRange,
                &format!("number {text} is an integer outside ±(2^53−1)"),
            ));
        }
        Ok(number_value(f))
    }
}

/// Whether RFC 8785 would print `f` as an integer literal outside ±(2^53−1): integral doubles
/// from 2^53 up to (not including) 1e21 print without an exponent. Such numbers are refused
/// wherever they are written (`1e16`, `10000000000000000.0`), so the canonical form of every
/// accepted value is itself accepted input.
pub fn prints_as_unsafe_integer(f: f64) -> bool {
    f.fract() == 0.0 && f.abs() > MAX_SAFE_INTEGER as f64 && f.abs() < 1e21
}

/// The canonical in-memory form of a finite double: an integer when it is integral and
/// within ±(2^53−1) (so `5.0` and `5` are the same value), else a float.
pub fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 {
        // Exact: integral and within the safe range. `-0.0` becomes 0 (JCS prints it as 0).
        #[allow(clippy::cast_possible_truncation)]
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(input: &str) -> String {
        match parse_strict(input.as_bytes()) {
            Ok(v) => panic!("accepted {input:?} as {v}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidJson);
                e.detail().to_string()
            }
        }
    }

    #[test]
    fn accepts_plain_json() {
        let v = parse_strict(br#" {"a": [1, 2.5, "x", true, null, {"b": -0}]} "#);
        let v = v.expect("valid json");
        assert_eq!(v["a"][1], serde_json::json!(2.5));
        assert_eq!(v["a"][5]["b"], serde_json::json!(0));
    }

    #[test]
    fn duplicate_keys_are_rejected_at_any_depth_with_a_pointer() {
        assert_eq!(
            rule_of(r#"{"a":1,"a":2}"#),
            "duplicate_key at \"/a\": the key appears twice in one object"
        );
        let d = rule_of(r#"{"x":[{"k/~":1,"k/~":2}]}"#);
        assert!(d.starts_with("duplicate_key at \"/x/0/k~1~0\""), "{d}");
        // Equal after unescaping is still a duplicate.
        assert!(rule_of(r#"{"a":1,"\u0061":2}"#).starts_with("duplicate_key"));
    }

    #[test]
    fn lone_surrogates_are_rejected() {
        assert!(rule_of(r#"{"s":"\ud800"}"#).starts_with("lone_surrogate at \"/s\""));
        assert!(rule_of(r#"["\udc00"]"#).starts_with("lone_surrogate at \"/0\""));
        assert!(rule_of(r#"["\ud800\u0041"]"#).starts_with("lone_surrogate"));
        let ok = parse_strict(br#"["\ud83d\ude00"]"#).expect("a pair is fine");
        assert_eq!(ok[0], serde_json::json!("\u{1F600}"));
    }

    #[test]
    fn invalid_utf8_and_bom_are_rejected() {
        let d = parse_strict(b"{\"a\":\"\xff\"}").expect_err("bad utf8");
        assert!(d.detail().starts_with("invalid_utf8 at \"/a\""), "{d}");
        let d = parse_strict(b"\xEF\xBB\xBF{}").expect_err("bom");
        assert!(d.detail().starts_with("bom"), "{d}");
    }

    #[test]
    fn integers_beyond_2_pow_53_are_rejected() {
        assert!(parse_strict(b"9007199254740991").is_ok());
        assert!(parse_strict(b"-9007199254740991").is_ok());
        assert!(rule_of("9007199254740992").starts_with("integer_out_of_range at \"\""));
        assert!(rule_of(r#"{"n":-9007199254740992}"#).starts_with("integer_out_of_range at \"/n\""));
        assert!(rule_of("123456789012345678901234567890").starts_with("integer_out_of_range"));
    }

    #[test]
    fn non_finite_numbers_are_rejected() {
        assert!(rule_of("[1e400]").starts_with("non_finite_number at \"/0\""));
        assert!(rule_of("-1e309").starts_with("non_finite_number"));
        assert!(rule_of("NaN").starts_with("syntax"));
        assert!(rule_of("Infinity").starts_with("syntax"));
    }

    #[test]
    fn depth_and_size_limits() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse_strict(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(rule_of(&deep).starts_with("too_deep"));
        let big = vec![b' '; MAX_INPUT_BYTES + 1];
        let e = parse_strict(&big).expect_err("too large");
        assert!(e.detail().starts_with("too_large"));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            ".5",
            "1e",
            "tru",
            "\"\\x\"",
            "\"a\nb\"",
            "{} {}",
            "[1 2]",
            "{'a':1}",
            "+1",
            "\"\\u12g4\"",
        ] {
            assert!(rule_of(bad).starts_with("syntax"), "{bad:?}");
        }
    }

    #[test]
    fn integral_floats_become_integers() {
        assert_eq!(
            parse_strict(b"[5.0, 5e0, 50e-1, 1.5]").expect("ok"),
            serde_json::json!([5, 5, 5, 1.5])
        );
        assert_eq!(parse_strict(b"1e21").expect("ok"), serde_json::json!(1e21));
        // Integral values that would print as unsafe integer literals are refused however
        // they are written, so canonical output always parses again.
        assert!(rule_of("1e16").starts_with("integer_out_of_range"));
        assert!(rule_of("-9007199254740992.0").starts_with("integer_out_of_range"));
        assert!(parse_strict(b"1.5e16").is_err());
        assert!(parse_strict(b"9007199254740991.0").is_ok());
    }

    #[test]
    fn check_value_rejects_big_integers() {
        assert!(check_value(&serde_json::json!({"a": [1, 2.5]})).is_ok());
        let e = check_value(&serde_json::json!({"a": [u64::MAX]})).expect_err("too big");
        assert!(e.detail().starts_with("integer_out_of_range at \"/a/0\""));
    }
}
