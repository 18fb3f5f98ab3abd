//! Tenant signing keys, key ids and JWKS.
//!
//! Guarantees: a [`SigningKey`] wipes its secret on drop and never prints it; a key id is the
//! RFC 7638 JWK thumbprint of the public key, so a `kid` names exactly one key; a [`Jwk`] or
//! [`Jwks`] value is valid by construction (RFC 8037 OKP / Ed25519, 32-byte `x`, `kid` equal
//! to the thumbprint, no private members). Core has no randomness: callers supply the seed.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// JWK `kty` of an Ed25519 key (RFC 8037 §2).
pub const KTY_OKP: &str = "OKP";
/// JWK `crv` of an Ed25519 key (RFC 8037 §2).
pub const CRV_ED25519: &str = "Ed25519";
/// JWS / JWK `alg` for Ed25519 (RFC 8037 §3.1).
pub const ALG_EDDSA: &str = "EdDSA";
/// JWK `use` of a signature key.
pub const USE_SIG: &str = "sig";

/// An Ed25519 signing key with its key id. The secret is zeroized on drop; `Debug` prints
/// only the `kid`. Not `Clone`: copy it deliberately with [`SigningKey::to_bytes`].
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    kid: String,
}

impl SigningKey {
    /// The key whose 32-byte secret seed is `seed` (RFC 8032 private key). Core has no
    /// randomness: generate the seed with a CSPRNG (e.g. `getrandom`) in the caller.
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let kid = kid_for(&inner.verifying_key());
        SigningKey { inner, kid }
    }

    /// The secret seed, in a buffer that is wiped when dropped. Handle with care.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.to_bytes())
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.inner.verifying_key()
    }

    /// The key id: the RFC 7638 thumbprint of the public key (see [`kid_for`]).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk::from_verifying_key(&self.verifying_key())
    }

    /// The 64-byte Ed25519 signature (RFC 8032, deterministic) of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.inner.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key: base64url (no padding) of SHA-256
/// over `{"crv":"Ed25519","kty":"OKP","x":"<base64url of the 32 key bytes>"}`.
pub fn kid_for(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    // The required members in lexicographic order, no whitespace (RFC 7638 §3.2); `x` is
    // base64url, so it needs no escaping.
    let json = format!(r#"{{"crv":"{CRV_ED25519}","kty":"{KTY_OKP}","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()))
}

fn jwks_error(detail: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidRequest,
        format!("jwks: {}", detail.into()),
    )
}

/// One Ed25519 public key as a JWK (RFC 8037 OKP): always valid, see [`Jwk::from_verifying_key`]
/// and [`Jwks::parse`]. Serializes as `{"kty":"OKP","crv":"Ed25519","x",…,"kid",…,"alg":"EdDSA","use":"sig"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JwkRepr", into = "JwkRepr")]
pub struct Jwk {
    key: VerifyingKey,
    kid: String,
}

impl Jwk {
    /// The JWK of `key` (its `kid` is the thumbprint).
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        Jwk {
            key: *key,
            kid: kid_for(key),
        }
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The `x` member: base64url of the 32 public key bytes.
    pub fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.as_bytes())
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("x", &self.x())
            .finish()
    }
}

/// The wire form of a [`Jwk`]. Unknown members are refused: our JWKS is produced by the rail,
/// and a member such as `d` would be a private key that must never be published.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwkRepr {
    kty: String,
    crv: String,
    x: String,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
}

impl From<Jwk> for JwkRepr {
    fn from(j: Jwk) -> Self {
        JwkRepr {
            kty: KTY_OKP.to_string(),
            crv: CRV_ED25519.to_string(),
            x: j.x(),
            kid: j.kid,
            alg: Some(ALG_EDDSA.to_string()),
            use_: Some(USE_SIG.to_string()),
        }
    }
}

impl TryFrom<JwkRepr> for Jwk {
    type Error = Error;

    fn try_from(r: JwkRepr) -> Result<Jwk> {
        if r.kty != KTY_OKP {
            return Err(jwks_error("kty must be \"OKP\""));
        }
        if r.crv != CRV_ED25519 {
            return Err(jwks_error("crv must be \"Ed25519\""));
        }
        if r.alg.as_deref().is_some_and(|a| a != ALG_EDDSA) {
            return Err(jwks_error("alg must be \"EdDSA\" when present"));
        }
        if r.use_.as_deref().is_some_and(|u| u != USE_SIG) {
            return Err(jwks_error("use must be \"sig\" when present"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(r.x.as_bytes())
            .map_err(|_| jwks_error("x is not canonical unpadded base64url"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| jwks_error("x is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| jwks_error("x is not a valid Ed25519 point"))?;
        let kid = kid_for(&key);
        if r.kid != kid {
            return Err(jwks_error("kid is not the RFC 7638 thumbprint of the key"));
        }
        Ok(Jwk { key, kid })
    }
}

/// A JWK Set (`{"keys":[…]}`) of Ed25519 keys with distinct `kid`s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwksRepr {
    keys: Vec<Jwk>,
}

impl<'de> Deserialize<'de> for Jwks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let r = JwksRepr::deserialize(d)?;
        Jwks::from_keys(r.keys).map_err(serde::de::Error::custom)
    }
}

impl Jwks {
    /// A set of the given keys; fails if two share a `kid`.
    pub fn from_keys(keys: Vec<Jwk>) -> Result<Jwks> {
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(jwks_error(format!("kid {} appears twice", k.kid)));
            }
        }
        Ok(Jwks { keys })
    }

    /// The set of the public keys of `keys`.
    pub fn from_verifying_keys<'a>(
        keys: impl IntoIterator<Item = &'a VerifyingKey>,
    ) -> Result<Jwks> {
        Jwks::from_keys(keys.into_iter().map(Jwk::from_verifying_key).collect())
    }

    /// Strictly parse a JWKS document: I-JSON first ([`crate::json::parse_strict`], so
    /// duplicate members are refused), then every key checked (`kty` `OKP`, `crv` `Ed25519`,
    /// 32-byte `x`, `kid` = thumbprint, `alg`/`use` right when present, no other members).
    pub fn parse(bytes: &[u8]) -> Result<Jwks> {
        let v = crate::json::parse_strict(bytes)?;
        serde_json::from_value(v).map_err(|e| jwks_error(e.to_string()))
    }

    /// The keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The key with this `kid`, if any.
    pub fn get(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Serialize as JSON text (RFC 8785 canonical form).
    pub fn to_json(&self) -> Result<String> {
        let v = serde_json::to_value(self)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("jwks: {e}")))?;
        let bytes = crate::jcs::canonicalize(&v)?;
        String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::Internal, "jwks: not UTF-8"))
    }
}

/// Looks up a verification key by `kid`. Verification never hard-wires keys: a JWKS fetched
/// over HTTP, a file, and a test map are all resolvers.
pub trait KeyResolver {
    /// The key whose id is `kid`, or `None` when unknown (the caller then rejects).
    fn resolve(&self, kid: &str) -> Option<VerifyingKey>;
}

impl KeyResolver for Jwks {
    fn resolve(&self, kid: &str) -> Option<VerifyingKey> {
        self.get(kid).map(Jwk::verifying_key)
    }
}

impl KeyResolver for HashMap<String, VerifyingKey> {
    fn resolve(&self, kid: &str) -> Option<VerifyingKey> {
        self.get(kid).copied()
    }
}

impl<R: KeyResolver + ?Sized> KeyResolver for &R {
    fn resolve(&self, kid: &str) -> Option<VerifyingKey> {
        (**self).resolve(kid)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn debug_redacts_the_secret() {
        let k = key(7);
        let d = format!("{k:?}");
        assert!(d.contains("[redacted]"));
        assert!(!d.contains("7, 7"), "{d}");
        assert_eq!(*k.to_bytes(), [7u8; 32]);
    }

    #[test]
    fn jwks_round_trip_and_resolve() {
        let (a, b) = (key(1), key(2));
        let set = Jwks::from_verifying_keys([&a.verifying_key(), &b.verifying_key()]).unwrap();
        let text = set.to_json().unwrap();
        let back = Jwks::parse(text.as_bytes()).unwrap();
        assert_eq!(back, set);
        assert_eq!(back.resolve(a.kid()), Some(a.verifying_key()));
        assert_eq!(back.resolve("nope"), None);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let k0 = &v["keys"][0];
        assert_eq!(k0["kty"], "OKP");
        assert_eq!(k0["crv"], "Ed25519");
        assert_eq!(k0["alg"], "EdDSA");
        assert_eq!(k0["use"], "sig");
    }

    #[test]
    fn jwks_parse_rejects_bad_keys() {
        let k = key(3);
        let x = k.jwk().x();
        let kid = k.kid().to_string();
        let good =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"{kid}"}}]}}"#);
        assert!(Jwks::parse(good.as_bytes()).is_ok());
        let short_x = URL_SAFE_NO_PAD.encode([1u8; 31]);
        let other_kid = key(4).kid().to_string();
        let bad = [
            good.replace("OKP", "EC"),
            good.replace("Ed25519", "X25519"),
            good.replace(&x, &short_x),
            good.replace(&kid, &other_kid),
            good.replace(r#""kty""#, r#""d":"AAAA","kty""#),
            good.replace(r#""kty":"OKP""#, r#""kty":"OKP","kty":"OKP""#),
            format!(r#"{{"keys":[{k},{k}]}}"#, k = &good[9..good.len() - 2]),
            good.replace(r#""keys""#, r#""extra":1,"keys""#),
            "[]".to_string(),
        ];
        for b in bad {
            let e = Jwks::parse(b.as_bytes()).expect_err(&b);
            assert!(
                matches!(e.kind(), ErrorKind::InvalidRequest | ErrorKind::InvalidJson),
                "{e}"
            );
        }
    }
}
