//! Payload hashes: `sha256:` + base64url (no padding) of SHA-256 over canonical bytes.
//!
//! The same params give the same hash in every language, whatever their key order or
//! whitespace, because the hash is always taken over the RFC 8785 form.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::jcs::{canonicalize, canonicalize_bytes};

/// The prefix of every hash string.
pub const PREFIX: &str = "sha256:";

/// `sha256:<base64url>` of arbitrary bytes.
pub fn sha256_tagged(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(PREFIX.len() + 43);
    s.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(digest, &mut s);
    s
}

/// The payload hash of a value: `sha256_tagged(canonicalize(v))`.
pub fn payload_hash(v: &Value) -> Result<String> {
    Ok(sha256_tagged(&canonicalize(v)?))
}

/// Strictly parse JSON bytes, canonicalize and hash them. Returns `(canonical, hash)`.
pub fn payload_hash_bytes(input: &[u8]) -> Result<(Vec<u8>, String)> {
    let canonical = canonicalize_bytes(input)?;
    let h = sha256_tagged(&canonical);
    Ok((canonical, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_of_known_bytes() {
        // SHA-256("") = e3b0c442…; base64url of that digest.
        assert_eq!(
            sha256_tagged(b""),
            "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn order_and_whitespace_do_not_change_the_hash() {
        let (_, a) = payload_hash_bytes(br#"{"b":1,"a":2}"#).expect("ok");
        let (_, b) = payload_hash_bytes(b" { \"a\" : 2 ,\n \"b\" : 1 } ").expect("ok");
        assert_eq!(a, b);
        let (_, c) = payload_hash_bytes(br#"{"a":2,"b":2}"#).expect("ok");
        assert_ne!(a, c);
    }
}
