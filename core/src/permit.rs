//! Permits: compact JWS (RFC 7515) signed with Ed25519 (`alg` `EdDSA`, RFC 8037).
//!
//! Guarantees: [`issue`] writes the header `{"alg":"EdDSA","kid":…,"typ":"intentrail-permit+jwt"}`
//! and RFC 8785 claims, so the same claims and key always give the same token. [`verify`] is
//! strict and total: any input either yields claims that passed every check below, or an
//! [`ErrorKind::PermitInvalid`] / [`ErrorKind::PermitExpired`] error naming the failed check
//! (never echoing the token); it never panics.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::{KeyResolver, SigningKey, ALG_EDDSA};

/// The JWS `typ` header of a permit.
pub const PERMIT_TYP: &str = "intentrail-permit+jwt";
/// Longest lifetime (`exp - iat`) a permit may have, in seconds.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `nbf`, `iat` and `exp`, in seconds.
pub const LEEWAY_SECS: i64 = 5;
/// Longest token [`verify`] looks at, in bytes (a real permit is well under 1 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The claims of a permit. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitClaims {
    /// The rail's issuer id for the tenant.
    pub iss: String,
    /// The rail's gateway audience.
    pub aud: String,
    /// The agent id.
    pub sub: String,
    /// The tenant id.
    pub tnt: String,
    /// The canonical action name.
    pub act: String,
    /// The payload hash: `sha256:` + base64url(SHA-256(JCS(params))).
    pub ph: String,
    /// The unique permit id (single use).
    pub jti: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Hash of the policy set that allowed the action.
    pub pol: String,
    /// The agent's idempotency key, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idk: Option<String>,
    /// The version of the profile the action came from, when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prv: Option<String>,
}

/// What [`verify`] checks the claims against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions<'a> {
    /// The expected `iss`.
    pub issuer: &'a str,
    /// The expected `aud`.
    pub audience: &'a str,
    /// The current time, Unix seconds (core has no clock).
    pub now: i64,
}

fn invalid(check: &str) -> Error {
    Error::new(ErrorKind::PermitInvalid, check.to_string())
}

/// Check the time claims' relations to each other (not to the clock).
fn check_lifetime(c: &PermitClaims) -> Result<()> {
    if c.exp <= c.iat {
        return Err(invalid("lifetime: exp must be after iat"));
    }
    if c.exp - c.iat > MAX_LIFETIME_SECS {
        return Err(invalid("lifetime: exp - iat is above 300 s"));
    }
    if c.nbf > c.exp {
        return Err(invalid("lifetime: nbf is after exp"));
    }
    Ok(())
}

/// Sign `claims` into a compact JWS with `key`. Refuses claims that [`verify`] would refuse
/// whatever the time (`exp <= iat`, lifetime above [`MAX_LIFETIME_SECS`], `nbf > exp`) with
/// [`ErrorKind::InvalidRequest`].
pub fn issue(claims: &PermitClaims, key: &SigningKey) -> Result<String> {
    check_lifetime(claims).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("refusing to issue: {}", e.detail()),
        )
    })?;
    let header = serde_json::json!({"alg": ALG_EDDSA, "kid": key.kid(), "typ": PERMIT_TYP});
    let header = crate::jcs::canonicalize(&header)?;
    let claims = serde_json::to_value(claims)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("permit claims: {e}")))?;
    let claims = crate::jcs::canonicalize(&claims)?;
    let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
    let sig = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut token);
    Ok(token)
}

/// Verify an Ed25519 signature strictly (RFC 8032 with `verify_strict`: canonical `S`, no
/// small-order `R` or key). This is the signature check [`verify`] uses. `public_key` must be
/// 32 bytes and `sig` 64 bytes.
pub fn verify_ed25519(public_key: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
    let pk: &[u8; 32] = public_key
        .try_into()
        .map_err(|_| invalid("signature: public key is not 32 bytes"))?;
    let pk = VerifyingKey::from_bytes(pk)
        .map_err(|_| invalid("signature: public key is not a valid Ed25519 point"))?;
    let sig: &[u8; 64] = sig
        .try_into()
        .map_err(|_| invalid("signature: not 64 bytes"))?;
    pk.verify_strict(msg, &Signature::from_bytes(sig))
        .map_err(|_| invalid("signature: does not verify"))
}

/// Decode one base64url segment strictly: only `A–Z a–z 0–9 - _`, no padding, no
/// whitespace, no non-zero trailing bits (one encoding per byte string).
fn b64_segment(seg: &str, name: &str) -> Result<Vec<u8>> {
    if !seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(&format!("{name}: not unpadded base64url")));
    }
    URL_SAFE_NO_PAD
        .decode(seg)
        .map_err(|_| invalid(&format!("{name}: not canonical base64url")))
}

/// A compact JWS split and decoded.
struct Parts<'a> {
    /// `header.claims`, the bytes the signature covers.
    signing_input: &'a str,
    header: Vec<u8>,
    claims: Vec<u8>,
    sig: Vec<u8>,
}

/// Split and decode a compact JWS.
fn split(token: &str) -> Result<Parts<'_>> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("format: token too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("format: not exactly 3 segments"));
    };
    let signing_input = &token[..h.len() + 1 + c.len()];
    Ok(Parts {
        signing_input,
        header: b64_segment(h, "header")?,
        claims: b64_segment(c, "claims")?,
        sig: b64_segment(s, "signature")?,
    })
}

/// The header's `kid`, after checking the header is exactly `{alg: "EdDSA", typ, kid}`.
fn check_header(header: &[u8]) -> Result<String> {
    let v = crate::json::parse_strict(header)
        .map_err(|e| invalid(&format!("header: {}", e.detail())))?;
    let Value::Object(mut m) = v else {
        return Err(invalid("header: not a JSON object"));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
    {
        let shown: String = k.chars().take(32).collect();
        return Err(invalid(&format!("header: unexpected member {shown:?}")));
    }
    match m.get("alg") {
        Some(Value::String(a)) if a == ALG_EDDSA => {}
        Some(_) => return Err(invalid("alg: must be EdDSA")),
        None => return Err(invalid("alg: missing")),
    }
    match m.get("typ") {
        Some(Value::String(t)) if t == PERMIT_TYP => {}
        Some(_) => return Err(invalid("typ: must be intentrail-permit+jwt")),
        None => return Err(invalid("typ: missing")),
    }
    match m.remove("kid") {
        Some(Value::String(k)) if is_key_id(&k) => Ok(k),
        Some(_) => Err(invalid("kid: not a key id")),
        None => Err(invalid("kid: missing")),
    }
}

/// A key id is 1–128 base64url characters (a thumbprint is 43).
fn is_key_id(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Type the claims JSON (strictly parsed: duplicate claims are refused).
fn parse_claims(claims: &[u8]) -> Result<PermitClaims> {
    let v = crate::json::parse_strict(claims)
        .map_err(|e| invalid(&format!("claims: {}", e.detail())))?;
    if !v.is_object() {
        return Err(invalid("claims: not a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| {
        // serde may quote a claim value: keep the detail short.
        let msg: String = e.to_string().chars().take(120).collect();
        invalid(&format!("claims: {msg}"))
    })
}

/// Verify a permit strictly and return its claims. Checks, in order: 3 segments of strict
/// base64url; header exactly `alg` = `EdDSA`, `typ` = [`PERMIT_TYP`], `kid` (no other
/// member: `crit`, `jku`, `jwk`, `x5u`, … are refused); `kid` known to `resolver`; a 64-byte
/// signature valid under [`verify_ed25519`]; claims strict I-JSON of the right types
/// (unknown claims are ignored); `iss` and `aud` equal to `opts`; `exp > iat`,
/// `exp - iat <= 300`, `nbf <= exp`; `iat` and `nbf` not after `now + 5`; and `exp` after
/// `now - 5`, else [`ErrorKind::PermitExpired`]. Every other failure is
/// [`ErrorKind::PermitInvalid`].
pub fn verify(
    token: &str,
    resolver: &dyn KeyResolver,
    opts: &VerifyOptions,
) -> Result<PermitClaims> {
    let Parts {
        signing_input,
        header,
        claims,
        sig,
    } = split(token)?;
    let kid = check_header(&header)?;
    let key = resolver
        .resolve(&kid)
        .ok_or_else(|| invalid(&format!("kid: unknown key {kid}")))?;
    verify_ed25519(key.as_bytes(), signing_input.as_bytes(), &sig)?;
    let c = parse_claims(&claims)?;
    if c.iss != opts.issuer {
        return Err(invalid("iss: wrong issuer"));
    }
    if c.aud != opts.audience {
        return Err(invalid("aud: wrong audience"));
    }
    check_lifetime(&c)?;
    let late_bound = opts.now.saturating_add(LEEWAY_SECS);
    if c.nbf > late_bound {
        return Err(invalid("nbf: not yet valid"));
    }
    if c.iat > late_bound {
        return Err(invalid("iat: issued in the future"));
    }
    if c.exp <= opts.now.saturating_sub(LEEWAY_SECS) {
        return Err(Error::new(
            ErrorKind::PermitExpired,
            "exp: the permit has expired",
        ));
    }
    Ok(c)
}

/// Decode the claims WITHOUT verifying anything (no signature, key, header, audience or time
/// check). For display and debugging only: never base a decision on the result.
pub fn decode_unverified(token: &str) -> Result<PermitClaims> {
    parse_claims(&split(token)?.claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn claims() -> PermitClaims {
        PermitClaims {
            iss: "rail".into(),
            aud: "gw".into(),
            sub: "agent".into(),
            tnt: "t1".into(),
            act: "money.refund".into(),
            ph: "sha256:x".into(),
            jti: "j1".into(),
            iat: 1000,
            nbf: 1000,
            exp: 1060,
            pol: "sha256:p".into(),
            idk: None,
            prv: None,
        }
    }

    #[test]
    fn issue_then_verify() {
        let k = SigningKey::from_bytes(&[9; 32]);
        let t = issue(&claims(), &k).unwrap();
        let mut r = HashMap::new();
        r.insert(k.kid().to_string(), k.verifying_key());
        let opts = VerifyOptions {
            issuer: "rail",
            audience: "gw",
            now: 1010,
        };
        assert_eq!(verify(&t, &r, &opts).unwrap(), claims());
        assert_eq!(decode_unverified(&t).unwrap(), claims());
        let head = URL_SAFE_NO_PAD
            .decode(t.split('.').next().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(head).unwrap(),
            format!(
                r#"{{"alg":"EdDSA","kid":"{}","typ":"intentrail-permit+jwt"}}"#,
                k.kid()
            )
        );
    }

    #[test]
    fn issue_refuses_bad_lifetimes() {
        let k = SigningKey::from_bytes(&[9; 32]);
        let mut c = claims();
        c.exp = c.iat + 301;
        assert_eq!(issue(&c, &k).unwrap_err().kind(), ErrorKind::InvalidRequest);
    }
}
