//! Properties of strict parsing + RFC 8785 over generated strict-valid values.

use intentrail_core::hash::{payload_hash, payload_hash_bytes};
use intentrail_core::jcs::{canonicalize, canonicalize_bytes, format_number, write_string};
use intentrail_core::json::{number_value, parse_strict, MAX_SAFE_INTEGER};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Doubles in `[2^53, 1e21)` in magnitude: RFC 8785 / ECMAScript print them as plain
/// integer literals (`-291756837070280000`), which `parse_strict` refuses as integers outside
/// ±(2^53−1). So their canonical text does not re-parse: see
/// `large_integral_floats_are_refused_so_canonical_text_always_reparses`. The round-trip properties exclude them.
fn prints_as_unsafe_integer(f: f64) -> bool {
    (2f64.powi(53)..1e21).contains(&f.abs())
}

/// Finite doubles, normalized like the parser does (integral and safe => integer).
fn float() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>(),
        -1e6..1e6f64,
        (-1000i64..1000).prop_map(|i| i as f64 / 8.0),
        Just(1e21),
        Just(-1e21),
        Just(5e-324),
    ]
    .prop_filter("finite", |f| f.is_finite())
    .prop_filter("prints as an unsafe integer", |f| {
        !prints_as_unsafe_integer(*f)
    })
    .prop_map(number_value)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).prop_map(Value::from),
        (-100i64..100).prop_map(Value::from),
        float(),
        any::<String>().prop_map(Value::String),
        "[a-c\u{e9}\u{1F600}\u{FB33}\"\\\\\n\u{1}]{0,6}".prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-d\u{e9}\u{1F600}\u{FB33}\u{7f}]{0,4}"]
}

/// Strict-valid values: I-JSON numbers, any strings, nesting well under the depth limit.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A tiny deterministic generator for the "noisy" writer's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ws(r: &mut Rng, out: &mut String) {
    for _ in 0..r.pick(3) {
        out.push([' ', '\n', '\t', '\r'][r.pick(4) as usize]);
    }
}

/// Write `s` as a JSON string with random (valid) escaping choices.
fn noisy_string(s: &str, r: &mut Rng, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match (c, r.pick(4)) {
            ('"', _) => out.push_str("\\\""),
            ('\\', _) => out.push_str("\\\\"),
            (c, _) if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            ('/', 0) => out.push_str("\\/"),
            (c, 0) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            (c, _) => out.push(c),
        }
    }
    out.push('"');
}

/// Another valid JSON text of the same value: members in another order, whitespace between
/// tokens, other escapes, other number spellings (`5.0`, `5e0`, Rust's float format).
fn noisy(v: &Value, r: &mut Rng, out: &mut String) {
    ws(r, out);
    match v {
        Value::Null | Value::Bool(_) => out.push_str(&v.to_string()),
        Value::Number(n) => match (n.as_i64(), r.pick(3)) {
            (Some(i), 0) => out.push_str(&format!("{i}.0")),
            (Some(i), 1) => out.push_str(&format!("{i}e0")),
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, k) => {
                let f = n.as_f64().expect("a float");
                if k == 0 {
                    out.push_str(&format!("{f:e}"));
                } else {
                    out.push_str(&format_number(f));
                }
            }
        },
        Value::String(s) => noisy_string(s, r, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                noisy(x, r, out);
            }
            ws(r, out);
            out.push(']');
        }
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            // A random permutation (Fisher–Yates).
            for i in (1..entries.len()).rev() {
                let j = r.pick(i as u64 + 1) as usize;
                entries.swap(i, j);
            }
            out.push('{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(r, out);
                noisy_string(k, r, out);
                ws(r, out);
                out.push(':');
                noisy(x, r, out);
            }
            ws(r, out);
            out.push('}');
        }
    }
    ws(r, out);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn canonicalize_is_idempotent(v in value()) {
        let c = canonicalize(&v).expect("strict-valid values canonicalize");
        prop_assert_eq!(canonicalize_bytes(&c).expect("canonical text re-parses"), c);
    }

    #[test]
    fn parse_of_canonical_is_the_value(v in value()) {
        let c = canonicalize(&v).expect("canonicalize");
        prop_assert_eq!(parse_strict(&c).expect("canonical text re-parses"), v);
    }

    #[test]
    fn hash_is_stable_under_reordering_whitespace_and_spelling(v in value(), seed in 1u64..) {
        let mut text = String::new();
        noisy(&v, &mut Rng(seed), &mut text);
        let (canonical, h) = payload_hash_bytes(text.as_bytes()).expect("noisy text parses");
        prop_assert_eq!(&canonical, &canonicalize(&v).expect("canonicalize"));
        prop_assert_eq!(h, payload_hash(&v).expect("hash"));
    }

    #[test]
    fn canonical_strings_round_trip(s in any::<String>()) {
        let mut out = Vec::new();
        write_string(&s, &mut out);
        prop_assert_eq!(parse_strict(&out).expect("parses"), Value::String(s));
    }
}

/// Pinned current behaviour (reported, not fixed here): a double such as 1e16, accepted when
/// written `1e16`, canonicalizes to `10000000000000000`, an integer literal the strict parser
/// refuses. Canonical output is therefore not always strict input. If the parser's rule is
/// refined, update this test and drop the generator's exclusion.
#[test]
fn large_integral_floats_are_refused_so_canonical_text_always_reparses() {
    let e = canonicalize_bytes(b"[1e16,1e21]").expect_err("1e16 prints as an unsafe integer");
    assert!(e.detail().starts_with("integer_out_of_range"), "{e}");
    let c = canonicalize_bytes(b"[1.5,1e21]").expect("accepted");
    assert_eq!(c, b"[1.5,1e+21]");
    assert_eq!(canonicalize_bytes(&c).expect("reparses"), c);
    assert!(intentrail_core::jcs::canonicalize(&serde_json::json!(1e16)).is_err());
}
