//! Helpers shared by the integration tests: locating the vectors the repository carries.

#![allow(dead_code)]

use std::path::PathBuf;

/// The folder of the external vectors: `<repo>/tests/vectors/external` (RFC 8785 reference
/// data, Wycheproof; sources and licences in its README), or `$INTENTRAIL_EXTERNAL_VECTORS`
/// when set (another copy of the same layout). Panics when the folder does not exist: a vector
/// test that finds no vectors must fail, not pass.
pub fn external_vectors() -> PathBuf {
    let p = match std::env::var_os("INTENTRAIL_EXTERNAL_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => own_vectors().join("external"),
    };
    assert!(
        p.is_dir(),
        "external vectors: {} is not a directory",
        p.display()
    );
    p
}

/// The repo's own golden vectors folder (`<repo>/tests/vectors`).
pub fn own_vectors() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors"))
}

/// Decode lowercase/uppercase hex.
pub fn hex(s: &str) -> Vec<u8> {
    ::hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}
