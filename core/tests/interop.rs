//! Interop with an independent JOSE implementation (`jsonwebtoken` 10.x, RustCrypto backend):
//! our permits verify there, and its EdDSA tokens with our header verify here. jsonwebtoken
//! checks time against the system clock, so these tests use the real time.

use std::collections::HashMap;

use intentrail_core::permit::{self, PermitClaims, VerifyOptions, PERMIT_TYP};
use intentrail_core::{ErrorKind, SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

const ISS: &str = "https://rail.example/tenants/a";
const AUD: &str = "intentrail-gateway";

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_secs()).expect("fits")
}

fn claims(now: i64) -> PermitClaims {
    PermitClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: "agent-1".into(),
        tnt: "tenant-a".into(),
        act: "money.refund".into(),
        ph: "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into(),
        jti: "01J9Z8Q6X4N0000000000000".into(),
        iat: now,
        nbf: now,
        exp: now + 60,
        pol: "sha256:policy".into(),
        idk: None,
        prv: Some("3".into()),
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

/// Validation with every field set explicitly (its defaults are lax: 60 s leeway, nbf off).
fn strict_validation() -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.algorithms = vec![Algorithm::EdDSA];
    v.leeway = 5;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_audience(&[AUD]);
    v.set_issuer(&[ISS]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
    v
}

/// PKCS#8 v1 DER of an Ed25519 private key (RFC 8410 §7): fixed prefix, then the 32-byte seed.
fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

#[test]
fn our_permit_verifies_in_jsonwebtoken() {
    let k = key();
    let t = now();
    let token = permit::issue(&claims(t), &k).expect("issue");
    let dk = DecodingKey::from_ed_components(&k.jwk().x()).expect("x");
    let data = jsonwebtoken::decode::<PermitClaims>(&token, &dk, &strict_validation())
        .expect("jsonwebtoken accepts our permit");
    assert_eq!(data.claims, claims(t));
    assert_eq!(data.header.alg, Algorithm::EdDSA);
    assert_eq!(data.header.typ.as_deref(), Some(PERMIT_TYP));
    assert_eq!(data.header.kid.as_deref(), Some(k.kid()));
    // The raw-bytes constructor agrees.
    let dk = DecodingKey::from_ed_der(k.verifying_key().as_bytes());
    jsonwebtoken::decode::<PermitClaims>(&token, &dk, &strict_validation()).expect("raw key");
    // And a wrong key fails there too (the check is real).
    let other = SigningKey::from_bytes(&[0x43; 32]);
    let dk = DecodingKey::from_ed_components(&other.jwk().x()).expect("x");
    assert!(jsonwebtoken::decode::<PermitClaims>(&token, &dk, &strict_validation()).is_err());
}

#[test]
fn jsonwebtoken_permit_with_our_header_verifies_here() {
    let k = key();
    let t = now();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(PERMIT_TYP.to_string());
    header.kid = Some(k.kid().to_string());
    let ek = EncodingKey::from_ed_der(&pkcs8(&k.to_bytes()));
    let token = jsonwebtoken::encode(&header, &claims(t), &ek).expect("encode");
    let resolver: HashMap<String, VerifyingKey> =
        HashMap::from([(k.kid().to_string(), k.verifying_key())]);
    let opts = VerifyOptions {
        issuer: ISS,
        audience: AUD,
        now: t,
    };
    let got = permit::verify(&token, &resolver, &opts).expect("core accepts it");
    assert_eq!(got, claims(t));

    // Its default header (typ "JWT", no kid) is refused here.
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims(t), &ek).expect("encode");
    let e = permit::verify(&token, &resolver, &opts).expect_err("typ JWT refused");
    assert_eq!(e.kind(), ErrorKind::PermitInvalid);
    assert!(e.detail().starts_with("typ"), "{e}");
}
