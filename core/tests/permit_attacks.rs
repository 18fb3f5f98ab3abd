//! The attack table: hand-built tokens (base64url of chosen JSON, real signatures where the
//! attack needs one) that `permit::verify` must refuse with the right kind and a detail naming
//! the check, plus the positive cases it must accept.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use intentrail_core::permit::{self, PermitClaims, VerifyOptions, PERMIT_TYP};
use intentrail_core::{ErrorKind, SigningKey, VerifyingKey};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://rail.example/tenants/a";
const AUD: &str = "intentrail-gateway";

fn tenant_a() -> SigningKey {
    SigningKey::from_bytes(&[0xA1; 32])
}

fn tenant_b() -> SigningKey {
    SigningKey::from_bytes(&[0xB2; 32])
}

/// A resolver that knows only tenant A's key.
fn resolver_a() -> HashMap<String, VerifyingKey> {
    let a = tenant_a();
    HashMap::from([(a.kid().to_string(), a.verifying_key())])
}

fn claims() -> PermitClaims {
    PermitClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: "agent-1".into(),
        tnt: "tenant-a".into(),
        act: "money.refund".into(),
        ph: "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into(),
        jti: "01J9Z8Q6X4N0000000000000".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 60,
        pol: "sha256:policy".into(),
        idk: Some("idem-1".into()),
        prv: None,
    }
}

fn claims_json() -> Value {
    serde_json::to_value(claims()).expect("claims serialize")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn header_a() -> String {
    format!(
        r#"{{"alg":"EdDSA","typ":"{PERMIT_TYP}","kid":"{}"}}"#,
        tenant_a().kid()
    )
}

/// `b64(header).b64(claims).b64(sig by key over the first two)`, from raw JSON texts.
fn signed(header: &str, claims: &str, key: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// Tenant A's header and key, claims JSON with `patch` merged in.
fn with_claims(patch: Value) -> String {
    let mut c = claims_json();
    for (k, v) in patch.as_object().expect("patch is an object") {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    signed(&header_a(), &c.to_string(), &tenant_a())
}

fn with_header(header: &str) -> String {
    signed(header, &claims_json().to_string(), &tenant_a())
}

fn opts(now: i64) -> VerifyOptions<'static> {
    VerifyOptions {
        issuer: ISS,
        audience: AUD,
        now,
    }
}

fn good() -> String {
    permit::issue(&claims(), &tenant_a()).expect("issue")
}

/// HMAC-SHA256 (RFC 2104) keyed with `key`, via jsonwebtoken's HS256 signer.
fn hs256_token(header: &str, claims: &str, key: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(key),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("hmac");
    format!("{input}.{sig}")
}

/// Change the last character of a segment so the decoded bytes stay the same but the unused
/// trailing bits are no longer zero (a second encoding of the same signature).
fn non_canonical_tail(token: &str) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut t = token.as_bytes().to_vec();
    let last = t.len() - 1;
    let v = ALPHA.iter().position(|&c| c == t[last]).expect("b64 char");
    // 64 bytes = 86 chars: the last char carries 2 data bits and 4 unused bits.
    assert_eq!(v & 0x0f, 0, "a canonical tail has zero unused bits");
    t[last] = ALPHA[v | 0x01];
    String::from_utf8(t).expect("ascii")
}

struct Case {
    name: &'static str,
    token: String,
    now: i64,
    /// `None`: accepted. `Some((kind, words))`: refused with `kind`, detail starts with `words`.
    expect: Option<(ErrorKind, &'static str)>,
}

fn ok(name: &'static str, token: String, now: i64) -> Case {
    Case {
        name,
        token,
        now,
        expect: None,
    }
}

fn bad(name: &'static str, token: String, kind: ErrorKind, words: &'static str) -> Case {
    Case {
        name,
        token,
        now: NOW,
        expect: Some((kind, words)),
    }
}

fn bad_at(
    name: &'static str,
    token: String,
    now: i64,
    kind: ErrorKind,
    words: &'static str,
) -> Case {
    Case {
        name,
        token,
        now,
        expect: Some((kind, words)),
    }
}

fn table() -> Vec<Case> {
    use ErrorKind::{PermitExpired as Expired, PermitInvalid as Invalid};
    let a = tenant_a();
    let b = tenant_b();
    let kid_a = a.kid().to_string();
    let c = claims_json().to_string();
    let g = good();
    let segs: Vec<&str> = g.split('.').collect();
    let typ = PERMIT_TYP;
    let hdr = |alg: &str| format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid_a}"}}"#);
    vec![
        // --- accepted ---
        ok("issued permit", g.clone(), NOW),
        ok(
            "hand-built with header members in another order",
            with_header(&format!(
                r#"{{"kid":"{kid_a}","typ":"{typ}","alg":"EdDSA"}}"#
            )),
            NOW,
        ),
        ok("exp - 4 s: inside leeway", g.clone(), NOW + 60 + 4),
        ok(
            "nbf exactly at the leeway",
            with_claims(json!({"nbf": NOW + 5})),
            NOW,
        ),
        ok(
            "lifetime exactly 300 s",
            with_claims(json!({"exp": NOW + 300})),
            NOW,
        ),
        ok(
            "unknown extra claim is ignored (signed by the issuer)",
            with_claims(json!({"zzz": 1})),
            NOW,
        ),
        // --- algorithm ---
        bad(
            "alg none, empty signature",
            format!("{}.{}.", b64(hdr("none").as_bytes()), b64(c.as_bytes())),
            Invalid,
            "alg",
        ),
        bad(
            "alg None, empty signature",
            format!("{}.{}.", b64(hdr("None").as_bytes()), b64(c.as_bytes())),
            Invalid,
            "alg",
        ),
        bad(
            "alg none, real Ed25519 signature",
            with_header(&hdr("none")),
            Invalid,
            "alg",
        ),
        bad(
            "alg HS256, HMAC keyed with the public key",
            hs256_token(&hdr("HS256"), &c, a.verifying_key().as_bytes()),
            Invalid,
            "alg",
        ),
        bad(
            "alg HS256, HMAC keyed with the base64url public key",
            hs256_token(
                &hdr("HS256"),
                &c,
                b64(a.verifying_key().as_bytes()).as_bytes(),
            ),
            Invalid,
            "alg",
        ),
        bad(
            "alg RS256 over a valid Ed25519 signature",
            with_header(&hdr("RS256")),
            Invalid,
            "alg",
        ),
        bad(
            "alg RS256, 256-byte signature",
            format!(
                "{}.{}.{}",
                b64(hdr("RS256").as_bytes()),
                b64(c.as_bytes()),
                b64(&[7u8; 256])
            ),
            Invalid,
            "alg",
        ),
        bad("alg ES256", with_header(&hdr("ES256")), Invalid, "alg"),
        bad(
            "alg lowercase eddsa",
            with_header(&hdr("eddsa")),
            Invalid,
            "alg",
        ),
        bad(
            "alg Ed25519 (RFC 9864 name, not ours)",
            with_header(&hdr("Ed25519")),
            Invalid,
            "alg",
        ),
        bad(
            "alg missing",
            with_header(&format!(r#"{{"typ":"{typ}","kid":"{kid_a}"}}"#)),
            Invalid,
            "alg",
        ),
        bad(
            "alg not a string",
            with_header(&format!(
                r#"{{"alg":["EdDSA"],"typ":"{typ}","kid":"{kid_a}"}}"#
            )),
            Invalid,
            "alg",
        ),
        bad(
            "alg twice (duplicate header member)",
            with_header(&format!(
                r#"{{"alg":"EdDSA","alg":"none","typ":"{typ}","kid":"{kid_a}"}}"#
            )),
            Invalid,
            "header: duplicate_key",
        ),
        // --- typ ---
        bad(
            "typ missing",
            with_header(&format!(r#"{{"alg":"EdDSA","kid":"{kid_a}"}}"#)),
            Invalid,
            "typ",
        ),
        bad(
            "typ JWT",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid_a}"}}"#)),
            Invalid,
            "typ",
        ),
        bad(
            "typ other case",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"Intentrail-Permit+JWT","kid":"{kid_a}"}}"#
            )),
            Invalid,
            "typ",
        ),
        bad(
            "typ null",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":null,"kid":"{kid_a}"}}"#)),
            Invalid,
            "typ",
        ),
        // --- kid ---
        bad(
            "kid missing",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}"}}"#)),
            Invalid,
            "kid",
        ),
        bad(
            "kid unknown",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}","kid":"nope"}}"#)),
            Invalid,
            "kid: unknown",
        ),
        bad(
            "kid path injection ../x",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}","kid":"../x"}}"#)),
            Invalid,
            "kid",
        ),
        bad(
            "kid empty",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}","kid":""}}"#)),
            Invalid,
            "kid",
        ),
        bad(
            "kid SQL-ish",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"x' OR '1'='1"}}"#
            )),
            Invalid,
            "kid",
        ),
        bad(
            "kid a number",
            with_header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}","kid":1}}"#)),
            Invalid,
            "kid",
        ),
        bad(
            "kid too long",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{}"}}"#,
                "A".repeat(129)
            )),
            Invalid,
            "kid",
        ),
        // --- extra header members ---
        bad(
            "crit header",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{kid_a}","crit":["exp"]}}"#
            )),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "embedded jwk header (attacker key, attacker signature)",
            signed(
                &format!(
                    r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{}","jwk":{}}}"#,
                    b.kid(),
                    serde_json::to_string(&b.jwk()).expect("jwk")
                ),
                &c,
                &b,
            ),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "embedded jwk header (right key)",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{kid_a}","jwk":{}}}"#,
                serde_json::to_string(&a.jwk()).expect("jwk")
            )),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "jku header",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{kid_a}","jku":"https://evil.example/jwks.json"}}"#
            )),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "x5u header",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{kid_a}","x5u":"https://evil.example/c.pem"}}"#
            )),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "x5c header",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{kid_a}","x5c":["MIIB"]}}"#
            )),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "b64 false header",
            with_header(&format!(
                r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{kid_a}","b64":false}}"#
            )),
            Invalid,
            "header: unexpected member",
        ),
        bad(
            "header not an object",
            with_header(r#"["EdDSA"]"#),
            Invalid,
            "header: not a JSON object",
        ),
        bad(
            "header not JSON",
            with_header("alg=EdDSA"),
            Invalid,
            "header: syntax",
        ),
        // --- keys and signatures ---
        bad(
            "signed by another tenant's key (its own kid)",
            permit::issue(&claims(), &b).expect("issue"),
            Invalid,
            "kid: unknown",
        ),
        bad(
            "signed by another tenant's key under tenant A's kid",
            signed(&header_a(), &c, &b),
            Invalid,
            "signature",
        ),
        bad(
            "claims changed after signing",
            format!(
                "{}.{}.{}",
                segs[0],
                b64(c.replace("money.refund", "money.transfer").as_bytes()),
                segs[2]
            ),
            Invalid,
            "signature",
        ),
        bad(
            "signature of another token",
            format!(
                "{}.{}.{}",
                segs[0],
                segs[1],
                permit::issue(
                    &PermitClaims {
                        jti: "other".into(),
                        ..claims()
                    },
                    &a
                )
                .expect("issue")
                .split('.')
                .nth(2)
                .expect("sig")
            ),
            Invalid,
            "signature",
        ),
        bad(
            "signature 63 bytes",
            format!(
                "{}.{}.{}",
                segs[0],
                segs[1],
                b64(&URL_SAFE_NO_PAD.decode(segs[2]).expect("b64")[..63])
            ),
            Invalid,
            "signature: not 64 bytes",
        ),
        bad(
            "signature empty",
            format!("{}.{}.", segs[0], segs[1]),
            Invalid,
            "signature: not 64 bytes",
        ),
        // --- encoding ---
        bad(
            "2 segments",
            format!("{}.{}", segs[0], segs[1]),
            Invalid,
            "format",
        ),
        bad("4 segments", format!("{g}.{}", segs[2]), Invalid, "format"),
        bad(
            "5 segments (JWE shape)",
            format!("{g}.x.y"),
            Invalid,
            "format",
        ),
        bad("empty token", String::new(), Invalid, "format"),
        bad(
            "padding on the signature",
            format!("{g}=="),
            Invalid,
            "signature: not unpadded base64url",
        ),
        bad(
            "padding on the header",
            format!("{}=.{}.{}", segs[0], segs[1], segs[2]),
            Invalid,
            "header: not unpadded base64url",
        ),
        bad(
            "standard base64 alphabet",
            format!(
                "{}.{}.{}",
                segs[0],
                segs[1],
                STANDARD
                    .encode(URL_SAFE_NO_PAD.decode(segs[2]).expect("b64"))
                    .trim_end_matches('=')
            ),
            Invalid,
            "signature",
        ),
        bad(
            "leading space",
            format!(" {g}"),
            Invalid,
            "header: not unpadded base64url",
        ),
        bad(
            "trailing newline",
            format!("{g}\n"),
            Invalid,
            "signature: not unpadded base64url",
        ),
        bad(
            "newline inside a segment",
            format!(
                "{}.{}\n{}.{}",
                segs[0],
                &segs[1][..10],
                &segs[1][10..],
                segs[2]
            ),
            Invalid,
            "claims: not unpadded base64url",
        ),
        bad(
            "non-canonical trailing bits",
            non_canonical_tail(&g),
            Invalid,
            "signature: not canonical base64url",
        ),
        bad(
            "non-ASCII in a segment",
            format!("{}.{}é.{}", segs[0], segs[1], segs[2]),
            Invalid,
            "claims: not unpadded base64url",
        ),
        bad(
            "oversized token",
            format!("{}.{}.{}", segs[0], "A".repeat(10_000), segs[2]),
            Invalid,
            "format: token too long",
        ),
        // --- claims ---
        bad(
            "duplicate claim keys",
            signed(
                &header_a(),
                &c.replacen('{', &format!(r#"{{"aud":"{AUD}","#), 1)
                    .replacen(&format!(r#""aud":"{AUD}""#), r#""aud":"someone-else""#, 1),
                &a,
            ),
            Invalid,
            "claims: duplicate_key",
        ),
        bad(
            "duplicate exp (last one later)",
            signed(
                &header_a(),
                &c.replacen('}', &format!(r#","exp":{}}}"#, NOW + 100_000), 1),
                &a,
            ),
            Invalid,
            "claims: duplicate_key",
        ),
        bad(
            "exp as string",
            with_claims(json!({"exp": (NOW + 60).to_string()})),
            Invalid,
            "claims",
        ),
        bad(
            "exp as fractional float",
            with_claims(json!({"exp": (NOW + 60) as f64 + 0.5})),
            Invalid,
            "claims",
        ),
        bad(
            "exp 1e30",
            signed(
                &header_a(),
                &c.replace(&format!(r#""exp":{}"#, NOW + 60), r#""exp":1e30"#),
                &a,
            ),
            Invalid,
            "claims",
        ),
        bad(
            "exp beyond 2^53 as an integer literal",
            signed(
                &header_a(),
                &c.replace(
                    &format!(r#""exp":{}"#, NOW + 60),
                    r#""exp":9007199254740993"#,
                ),
                &a,
            ),
            Invalid,
            "claims: integer_out_of_range",
        ),
        bad(
            "exp null",
            signed(
                &header_a(),
                &c.replace(&format!(r#""exp":{}"#, NOW + 60), r#""exp":null"#),
                &a,
            ),
            Invalid,
            "claims",
        ),
        bad(
            "exp missing",
            with_claims(json!({"exp": null})),
            Invalid,
            "claims",
        ),
        bad(
            "jti missing",
            with_claims(json!({"jti": null})),
            Invalid,
            "claims",
        ),
        bad(
            "sub a number",
            with_claims(json!({"sub": 7})),
            Invalid,
            "claims",
        ),
        bad(
            "claims not an object",
            signed(&header_a(), "[1,2]", &a),
            Invalid,
            "claims: not a JSON object",
        ),
        bad(
            "claims not JSON",
            signed(&header_a(), "{\"iss\":", &a),
            Invalid,
            "claims: syntax",
        ),
        bad(
            "claims with a lone surrogate",
            signed(&header_a(), &c.replace("agent-1", "agent-\\ud800"), &a),
            Invalid,
            "claims: lone_surrogate",
        ),
        bad(
            "wrong aud",
            with_claims(json!({"aud": "other-gateway"})),
            Invalid,
            "aud",
        ),
        bad(
            "wrong iss",
            with_claims(json!({"iss": "https://rail.example/tenants/b"})),
            Invalid,
            "iss",
        ),
        bad(
            "aud as an array holding ours",
            with_claims(json!({"aud": [AUD]})),
            Invalid,
            "claims",
        ),
        // --- time ---
        bad_at(
            "expired by 1 s beyond leeway",
            g.clone(),
            NOW + 60 + 5 + 1,
            Expired,
            "exp",
        ),
        bad_at(
            "expired exactly at the leeway",
            g.clone(),
            NOW + 60 + 5,
            Expired,
            "exp",
        ),
        bad_at("expired by 30 s", g.clone(), NOW + 60 + 30, Expired, "exp"),
        bad_at("now at i64::MAX", g.clone(), i64::MAX, Expired, "exp"),
        bad(
            "nbf 1 s beyond leeway",
            with_claims(json!({"nbf": NOW + 6})),
            Invalid,
            "nbf",
        ),
        bad_at(
            "whole permit in the future",
            g.clone(),
            NOW - 10,
            Invalid,
            "nbf",
        ),
        bad(
            "iat in the future",
            with_claims(json!({"iat": NOW + 6, "nbf": NOW, "exp": NOW + 60})),
            Invalid,
            "iat",
        ),
        bad(
            "lifetime 301 s",
            with_claims(json!({"exp": NOW + 301})),
            Invalid,
            "lifetime",
        ),
        bad(
            "lifetime a year",
            with_claims(json!({"exp": NOW + 365 * 86_400})),
            Invalid,
            "lifetime",
        ),
        bad(
            "exp equal to iat",
            with_claims(json!({"exp": NOW})),
            Invalid,
            "lifetime",
        ),
        bad(
            "exp before iat",
            with_claims(json!({"exp": NOW - 1})),
            Invalid,
            "lifetime",
        ),
        bad(
            "nbf after exp",
            with_claims(json!({"nbf": NOW + 61})),
            Invalid,
            "lifetime",
        ),
        bad(
            "iat far in the past, huge negative",
            with_claims(json!({"iat": -9_007_199_254_740_991_i64})),
            Invalid,
            "lifetime",
        ),
    ]
}

#[test]
fn attack_table() {
    let resolver = resolver_a();
    let cases = table();
    assert!(cases.len() > 60, "the table shrank to {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let got = permit::verify(&case.token, &resolver, &opts(case.now));
        match (&case.expect, got) {
            (None, Ok(_)) => {}
            (None, Err(e)) => failures.push(format!("{}: refused: {e}", case.name)),
            (Some((kind, _)), Ok(_)) => {
                failures.push(format!("{}: ACCEPTED (want {kind})", case.name))
            }
            (Some((kind, words)), Err(e)) => {
                if e.kind() != *kind || !e.detail().starts_with(words) {
                    failures.push(format!("{}: got {e}, want {kind}: {words}…", case.name));
                }
                if case.token.len() > 20 && e.detail().contains(&case.token) {
                    failures.push(format!("{}: the detail echoes the token", case.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn accepted_permit_returns_the_claims() {
    let got = permit::verify(&good(), &resolver_a(), &opts(NOW)).expect("accepted");
    assert_eq!(got, claims());
    // decode_unverified reads the claims of a token that would be refused, and only that.
    let other = permit::issue(&claims(), &tenant_b()).expect("issue");
    assert_eq!(
        permit::decode_unverified(&other).expect("decodes"),
        claims()
    );
}

/// An integral exp written `1700000060.0` is the same JSON number as `1700000060` under the
/// strict parser (RFC 8785 prints both the same), so it is accepted as that integer.
#[test]
fn integral_float_exp_is_the_same_number() {
    let c = claims_json().to_string().replace(
        &format!(r#""exp":{}"#, NOW + 60),
        &format!(r#""exp":{}.0"#, NOW + 60),
    );
    let t = signed(&header_a(), &c, &tenant_a());
    let got = permit::verify(&t, &resolver_a(), &opts(NOW)).expect("accepted");
    assert_eq!(got.exp, NOW + 60);
}

/// A signature by a small-order ("weak") key: R = identity, S = 0 satisfies the cofactorless
/// equation for the identity public key with any message. ed25519-dalek's lenient `verify`
/// accepts it; `verify_strict` (ours) must not. Wycheproof alone does not tell the two apart.
#[test]
fn weak_key_signature_is_refused_although_lenient_verify_accepts_it() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = VerifyingKey::from_bytes(&identity).expect("the identity point decodes");
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&identity);
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"EdDSA","typ":"{PERMIT_TYP}","kid":"weak"}}"#).as_bytes()),
        b64(claims_json().to_string().as_bytes())
    );
    let lenient = ed25519_dalek::Verifier::verify(
        &weak,
        input.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    );
    assert!(
        lenient.is_ok(),
        "precondition: the lenient check accepts the forgery"
    );
    let e = permit::verify_ed25519(&identity, input.as_bytes(), &sig).expect_err("strict refuses");
    assert_eq!(e.kind(), ErrorKind::PermitInvalid);
    let token = format!("{input}.{}", b64(&sig));
    let resolver = HashMap::from([("weak".to_string(), weak)]);
    let e = permit::verify(&token, &resolver, &opts(NOW)).expect_err("refused");
    assert!(e.detail().starts_with("signature"), "{e}");
}

#[test]
fn verify_never_panics_on_truncations_of_a_good_token() {
    let g = good();
    let resolver = resolver_a();
    for i in 0..g.len() {
        assert!(
            permit::verify(&g[..i], &resolver, &opts(NOW)).is_err(),
            "prefix {i}"
        );
    }
}
