//! Our golden vectors in `tests/vectors/*.jsonl`, replayed. The committed files are the
//! reference that the Python and Node SDKs replay too; they are never edited to pass.
//!
//! Regenerate ONLY deliberately, after a reviewed change of the canonical form or the permit
//! format: `INTENTRAIL_REGEN_VECTORS=1 cargo test -p intentrail-core --test golden`, then
//! review the diff of `tests/vectors/`.

mod common;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use intentrail_core::hash::{payload_hash_bytes, sha256_tagged};
use intentrail_core::jcs::canonicalize;
use intentrail_core::json::parse_strict;
use intentrail_core::permit::{self, PermitClaims, VerifyOptions, PERMIT_TYP};
use intentrail_core::{ErrorKind, Jwks, SigningKey};
use serde_json::{json, Value};

const REGEN_VAR: &str = "INTENTRAIL_REGEN_VECTORS";

// ---------------------------------------------------------------- generators (test-only)

/// (name, raw JSON text) for `canonical.jsonl`.
fn canonical_cases() -> Vec<(&'static str, String)> {
    let v: Vec<(&str, &str)> = vec![
        ("empty_object", "{}"),
        ("empty_array", "[]"),
        ("literals", "[true,false,null]"),
        ("key_order", r#"{"b":2,"a":1,"c":3}"#),
        ("whitespace", "  { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } }\r\n"),
        (
            "nested",
            r#"{"z":{"y":{"x":[{"b":1,"a":2},[],{}]}},"a":[[[[]]]]}"#,
        ),
        (
            "refund_params",
            r#"{"payment_id":"pay_1","amount":5000,"currency":"usd"}"#,
        ),
        (
            "integers",
            "[0,-0,1,-1,42,9007199254740991,-9007199254740991]",
        ),
        (
            "floats",
            "[1.5,0.1,-2.25,0.30000000000000004,123456789.123456789,4.50,2e-3]",
        ),
        (
            "float_exponents",
            "[1e-6,1e-7,1e15,1e21,1E30,-1e-300,5e-324,1.7976931348623157e308]",
        ),
        (
            "integral_spellings",
            "[5.0,5e0,50e-1,0.5e1,-0.0,1.0e2,100E-2]",
        ),
        ("large_float", "[1.5e15,-2.5e-17,1e21]"),
        ("escapes", r#"["\"\\\/\b\f\n\r\t"]"#),
        ("control_chars", r#"["\u0000\u0001\u001f\u007f\u0080"]"#),
        ("unicode_escaped", r#"["\u00e9\u20AC\ud83d\ude00"]"#),
        ("unicode_raw", "{\"é\":\"€\",\"😀\":\"x\",\"a\":\"日本語\"}"),
        ("line_separators", r#"["\u2028\u2029"]"#),
        (
            "key_sort_utf16",
            "{\"\\ufb33\":1,\"\\ud83d\\ude00\":2,\"a\":3,\"é\":4,\"\\u007f\":5}",
        ),
        ("key_case", r#"{"B":1,"a":2,"A":3,"b":4,"aa":5,"":6}"#),
        ("html", r#"{"</script>":"<&>'"}"#),
        (
            "mixed",
            r#"{"amount":1999,"metadata":{"order":"o_9","tags":["vip","é"],"ratio":0.25},"refund":true,"note":null}"#,
        ),
    ];
    v.into_iter().map(|(n, s)| (n, s.to_string())).collect()
}

/// (name, input bytes, rule) for `rejects.jsonl`.
fn reject_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let t = |s: &str| s.as_bytes().to_vec();
    vec![
        ("duplicate_key", t(r#"{"a":1,"a":2}"#), "duplicate_key"),
        (
            "duplicate_key_nested",
            t(r#"{"x":[{"k":1,"k":1}]}"#),
            "duplicate_key",
        ),
        (
            "duplicate_key_after_unescape",
            t(r#"{"a":1,"\u0061":2}"#),
            "duplicate_key",
        ),
        ("lone_high_surrogate", t(r#"["\ud800"]"#), "lone_surrogate"),
        ("lone_low_surrogate", t(r#"["\udc00"]"#), "lone_surrogate"),
        (
            "high_surrogate_then_bmp",
            t(r#"["\ud800\u0041"]"#),
            "lone_surrogate",
        ),
        ("invalid_utf8_byte", vec![b'"', 0xff, b'"'], "invalid_utf8"),
        (
            "invalid_utf8_overlong",
            vec![b'"', 0xc0, 0xaf, b'"'],
            "invalid_utf8",
        ),
        (
            "invalid_utf8_truncated",
            vec![b'"', 0xe2, 0x82, b'"'],
            "invalid_utf8",
        ),
        (
            "invalid_utf8_encoded_surrogate",
            vec![b'"', 0xed, 0xa0, 0x80, b'"'],
            "invalid_utf8",
        ),
        ("bom", vec![0xef, 0xbb, 0xbf, b'{', b'}'], "bom"),
        (
            "integer_2_pow_53",
            t("9007199254740992"),
            "integer_out_of_range",
        ),
        (
            "integer_minus_2_pow_53",
            t(r#"{"n":-9007199254740992}"#),
            "integer_out_of_range",
        ),
        (
            "integer_2_pow_53_plus_1",
            t("[9007199254740993]"),
            "integer_out_of_range",
        ),
        (
            "integer_huge",
            t("123456789012345678901234567890"),
            "integer_out_of_range",
        ),
        (
            "integral_float_beyond_2_pow_53",
            t("[1e16,-2.5e17]"),
            "integer_out_of_range",
        ),
        ("number_overflow", t("[1e400]"), "non_finite_number"),
        ("number_overflow_negative", t("-1e309"), "non_finite_number"),
        (
            "too_deep",
            t(&("[".repeat(65) + &"]".repeat(65))),
            "too_deep",
        ),
        ("empty", t(""), "syntax"),
        ("only_whitespace", t(" \n"), "syntax"),
        ("unclosed_object", t("{"), "syntax"),
        ("trailing_comma", t("[1,]"), "syntax"),
        ("nan", t("NaN"), "syntax"),
        ("infinity", t("[Infinity]"), "syntax"),
        ("leading_zero", t("01"), "syntax"),
        ("leading_plus", t("+1"), "syntax"),
        ("bare_dot", t("1."), "syntax"),
        ("single_quotes", t("{'a':1}"), "syntax"),
        ("missing_colon", t(r#"{"a" 1}"#), "syntax"),
        ("two_values", t("{} {}"), "syntax"),
        ("raw_newline_in_string", t("\"a\nb\""), "syntax"),
        ("raw_tab_in_string", t("\"a\tb\""), "syntax"),
        ("bad_escape", t(r#""\x41""#), "syntax"),
        ("bad_unicode_escape", t(r#""\u12g4""#), "syntax"),
        ("comment", t("/*c*/1"), "syntax"),
        ("unquoted_key", t("{a:1}"), "syntax"),
    ]
}

/// The fixed test key of `permits.jsonl`: seed bytes 0x00..=0x1f. A TEST key, public here.
fn golden_seed() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn other_seed() -> [u8; 32] {
    [0xee; 32]
}

const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const ISS: &str = "https://rail.example/t/acme";
const AUD: &str = "https://rail.example/gateway";

fn golden_claims() -> PermitClaims {
    PermitClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: "refund-agent".into(),
        tnt: "acme".into(),
        act: "money.refund".into(),
        ph: payload_hash_bytes(br#"{"payment_id":"pay_1","amount":5000,"currency":"usd"}"#)
            .expect("hash")
            .1,
        jti: "0195f3a2-7c1e-7d3a-9b2e-3f4a5b6c7d8e".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 60,
        pol: sha256_tagged(b"permit(principal, action, resource);"),
        idk: None,
        prv: None,
    }
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn generate_permits() -> Vec<Value> {
    let key = SigningKey::from_bytes(&golden_seed());
    let other = SigningKey::from_bytes(&other_seed());
    let jwks =
        serde_json::to_value(Jwks::from_verifying_keys([&key.verifying_key()]).expect("jwks"))
            .expect("json");
    let base = golden_claims();
    let issue = |c: &PermitClaims, k: &SigningKey| permit::issue(c, k).expect("issue");
    let verify = |now: i64, aud: &str| json!({"issuer": ISS, "audience": aud, "now": now});
    let mut lines = Vec::new();
    let mut ok = |name: &str, c: PermitClaims| {
        lines.push(json!({
            "name": name, "seed_hex": hex::encode(golden_seed()), "kid": key.kid(),
            "jwks": jwks, "claims": c, "permit": issue(&c, &key),
            "verify": verify(NOW + 1, AUD), "expect": "ok",
        }));
    };
    ok("basic", base.clone());
    ok(
        "with_idempotency_key",
        PermitClaims {
            idk: Some("idem-2026-01-01-001".into()),
            ..base.clone()
        },
    );
    ok(
        "with_profile_version",
        PermitClaims {
            act: "github.repos/create-release".into(),
            prv: Some("sha256:profile-v3".into()),
            ..base.clone()
        },
    );
    ok(
        "unicode_claims",
        PermitClaims {
            sub: "agent-é-😀".into(),
            jti: "ünïcode\u{2028}jti".into(),
            ..base.clone()
        },
    );
    ok(
        "max_lifetime",
        PermitClaims {
            exp: NOW + 300,
            ..base.clone()
        },
    );
    let good = issue(&base, &key);
    let segs: Vec<&str> = good.split('.').collect();
    let signed = |header: &str, claims: &str, k: &SigningKey| {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        format!("{input}.{}", b64(&k.sign(input.as_bytes())))
    };
    let claims_text =
        String::from_utf8(canonicalize(&serde_json::to_value(&base).expect("json")).expect("jcs"))
            .expect("utf8");
    let header = |alg: &str| {
        format!(
            r#"{{"alg":"{alg}","kid":"{}","typ":"{PERMIT_TYP}"}}"#,
            key.kid()
        )
    };
    let mut bad = |name: &str, token: String, now: i64, aud: &str, expect: ErrorKind| {
        lines.push(json!({
            "name": name, "kid": key.kid(), "jwks": jwks, "permit": token,
            "verify": verify(now, aud), "expect": expect.code(),
        }));
    };
    bad(
        "expired",
        good.clone(),
        NOW + 60 + 5,
        AUD,
        ErrorKind::PermitExpired,
    );
    bad(
        "not_yet_valid",
        good.clone(),
        NOW - 6,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "wrong_audience",
        good.clone(),
        NOW + 1,
        "https://other.example",
        ErrorKind::PermitInvalid,
    );
    bad(
        "tampered_claims",
        format!(
            "{}.{}.{}",
            segs[0],
            b64(claims_text
                .replace("money.refund", "money.transfer")
                .as_bytes()),
            segs[2]
        ),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "other_key",
        issue(&base, &other),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "other_key_under_our_kid",
        signed(&header("EdDSA"), &claims_text, &other),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "alg_none",
        format!("{}.{}.", b64(header("none").as_bytes()), segs[1]),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "crit_header",
        signed(
            &format!(
                r#"{{"alg":"EdDSA","crit":["exp"],"kid":"{}","typ":"{PERMIT_TYP}"}}"#,
                key.kid()
            ),
            &claims_text,
            &key,
        ),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "duplicate_claim",
        signed(
            &header("EdDSA"),
            &claims_text.replacen('{', r#"{"aud":"https://other.example","#, 1),
            &key,
        ),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "lifetime_over_300",
        signed(
            &header("EdDSA"),
            &claims_text.replace(
                &format!(r#""exp":{}"#, NOW + 60),
                &format!(r#""exp":{}"#, NOW + 301),
            ),
            &key,
        ),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "padded_signature",
        format!("{good}=="),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    bad(
        "four_segments",
        format!("{good}.{}", segs[2]),
        NOW + 1,
        AUD,
        ErrorKind::PermitInvalid,
    );
    lines
}

fn jsonl(lines: &[Value]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&String::from_utf8(canonicalize(l).expect("jcs")).expect("utf8"));
        out.push('\n');
    }
    out
}

fn generate() -> [(&'static str, String); 3] {
    let canonical: Vec<Value> = canonical_cases()
        .into_iter()
        .map(|(name, input)| {
            let (c, h) = payload_hash_bytes(input.as_bytes()).expect("golden input is valid");
            json!({"name": name, "input": input,
                   "canonical": String::from_utf8(c).expect("utf8"), "hash": h})
        })
        .collect();
    let rejects: Vec<Value> = reject_cases()
        .into_iter()
        .map(|(name, input, rule)| match std::str::from_utf8(&input) {
            Ok(text) => json!({"name": name, "input": text, "rule": rule}),
            Err(_) => json!({"name": name, "input_hex": hex::encode(&input), "rule": rule}),
        })
        .collect();
    [
        ("canonical.jsonl", jsonl(&canonical)),
        ("permits.jsonl", jsonl(&generate_permits())),
        ("rejects.jsonl", jsonl(&rejects)),
    ]
}

// ---------------------------------------------------------------- replay

static REGEN: std::sync::Once = std::sync::Once::new();

fn read_lines(name: &str) -> Vec<Value> {
    REGEN.call_once(|| {
        if std::env::var(REGEN_VAR).as_deref() == Ok("1") {
            std::fs::create_dir_all(common::own_vectors()).expect("mkdir tests/vectors");
            for (file, text) in generate() {
                std::fs::write(common::own_vectors().join(file), text).expect("write vectors");
            }
        }
    });
    let path = common::own_vectors().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with {REGEN_VAR}=1)", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            parse_strict(l.as_bytes()).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1))
        })
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn canonical_vectors_replay() {
    let lines = read_lines("canonical.jsonl");
    assert!(lines.len() >= 20, "only {} canonical vectors", lines.len());
    for l in &lines {
        let name = s(l, "name");
        let (c, h) = payload_hash_bytes(s(l, "input").as_bytes())
            .unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        assert_eq!(
            String::from_utf8(c).expect("utf8"),
            s(l, "canonical"),
            "{name}"
        );
        assert_eq!(h, s(l, "hash"), "{name}");
    }
}

#[test]
fn reject_vectors_replay() {
    let lines = read_lines("rejects.jsonl");
    assert!(lines.len() >= 30, "only {} reject vectors", lines.len());
    for l in &lines {
        let name = s(l, "name");
        let input = match (l.get("input"), l.get("input_hex")) {
            (Some(Value::String(t)), None) => t.as_bytes().to_vec(),
            (None, Some(Value::String(h))) => common::hex(h),
            _ => panic!("{name}: exactly one of input / input_hex"),
        };
        let e = parse_strict(&input).expect_err(name);
        assert_eq!(e.kind(), ErrorKind::InvalidJson, "{name}");
        let rule = s(l, "rule");
        assert!(
            e.detail().starts_with(&format!("{rule} at ")),
            "{name}: want rule {rule}, got {e}"
        );
    }
}

#[test]
fn permit_vectors_replay() {
    let lines = read_lines("permits.jsonl");
    assert!(lines.len() >= 10, "only {} permit vectors", lines.len());
    let (mut oks, mut bads) = (0, 0);
    for l in &lines {
        let name = s(l, "name");
        let jwks = Jwks::parse(l["jwks"].to_string().as_bytes()).expect("jwks parses");
        assert_eq!(jwks.keys()[0].kid(), s(l, "kid"), "{name}");
        let v = &l["verify"];
        let opts = VerifyOptions {
            issuer: s(v, "issuer"),
            audience: s(v, "audience"),
            now: v["now"].as_i64().expect("now"),
        };
        let got = permit::verify(s(l, "permit"), &jwks, &opts);
        match s(l, "expect") {
            "ok" => {
                oks += 1;
                let claims: PermitClaims =
                    serde_json::from_value(l["claims"].clone()).expect("claims");
                assert_eq!(got.expect(name), claims, "{name}");
                let seed: [u8; 32] = common::hex(s(l, "seed_hex")).try_into().expect("32 bytes");
                let key = SigningKey::from_bytes(&seed);
                assert_eq!(key.kid(), s(l, "kid"), "{name}");
                assert_eq!(
                    permit::issue(&claims, &key).expect("issue"),
                    s(l, "permit"),
                    "{name}"
                );
            }
            code => {
                bads += 1;
                let e = got.expect_err(name);
                assert_eq!(e.code(), code, "{name}: {e}");
            }
        }
    }
    assert!(oks >= 4 && bads >= 8, "{oks} ok / {bads} refused vectors");
}

#[test]
fn generator_reproduces_the_committed_files() {
    for (file, text) in generate() {
        let path = common::own_vectors().join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} differs from the generator; if the change is intended, regenerate with {REGEN_VAR}=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn resolver_map_agrees_with_jwks() {
    let key = SigningKey::from_bytes(&golden_seed());
    let map = HashMap::from([(key.kid().to_string(), key.verifying_key())]);
    let t = permit::issue(&golden_claims(), &key).expect("issue");
    let opts = VerifyOptions {
        issuer: ISS,
        audience: AUD,
        now: NOW,
    };
    assert_eq!(
        permit::verify(&t, &map, &opts).expect("ok"),
        golden_claims()
    );
}
