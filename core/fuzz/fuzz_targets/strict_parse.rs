//! Strict parsing never panics; whatever it accepts canonicalizes, and the canonical form of
//! an accepted value is stable (except doubles printed as integers beyond 2^53, which the
//! strict parser refuses by rule: see core/tests/properties.rs).
#![no_main]

use intentrail_core::{jcs, json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = json::parse_strict(data) {
        let c = jcs::canonicalize(&v).expect("accepted values canonicalize");
        if let Ok(again) = jcs::canonicalize_bytes(&c) {
            assert_eq!(again, c, "canonical form is a fixed point");
            assert_eq!(json::parse_strict(&c).expect("re-parses"), v);
        }
    }
});
