//! `permit::verify` is total: it never panics on any string. And it accepts nothing but the
//! issuer's own bytes: the fuzzer cannot forge Ed25519, so an accepted token must be exactly
//! what `permit::issue` produces for its claims (seed the corpus with an issued permit; any
//! re-spelling of it that still verifies is a finding).
#![no_main]

use std::collections::HashMap;

use intentrail_core::permit::{self, VerifyOptions};
use intentrail_core::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let key = SigningKey::from_bytes(&[7; 32]);
    let resolver = HashMap::from([(key.kid().to_string(), key.verifying_key())]);
    let opts = VerifyOptions {
        issuer: "iss",
        audience: "aud",
        now: 1_000,
    };
    let _ = permit::decode_unverified(token);
    if let Ok(claims) = permit::verify(token, &resolver, &opts) {
        let reissued = permit::issue(&claims, &key).expect("verified claims can be issued");
        assert_eq!(
            reissued, token,
            "a verified token that the issuer would not produce"
        );
    }
});
