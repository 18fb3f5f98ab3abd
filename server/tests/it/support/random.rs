//! Random test values: API keys of the rail's own format, and hex strings.

use intentrail_server::auth::generate_key;
use intentrail_server::credentials::sigv4;

/// A new key with `prefix` (`AGENT_KEY_PREFIX`, `ADMIN_KEY_PREFIX`, or "" for random text).
pub fn key(prefix: &str) -> String {
    generate_key(prefix).unwrap().to_string()
}

/// A random lowercase-hex string of `n` bytes of entropy.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    sigv4::hex(&b)
}
