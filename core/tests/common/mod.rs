//! Helpers shared by the integration tests: locating the external vectors.

#![allow(dead_code)]

use std::path::PathBuf;

/// The folder of the external vectors (`shared/vectors`). Order: `$INTENTRAIL_SHARED_VECTORS`;
/// `<repo>/../shared/vectors` (CI clones the repo with `shared/` beside it); then the nearest
/// `shared/vectors` in an ancestor of the repo (a git worktree lives deeper than the clone).
/// Panics when none exists: a vector test that finds no vectors must fail, not pass.
pub fn shared_vectors() -> PathBuf {
    if let Ok(p) = std::env::var("INTENTRAIL_SHARED_VECTORS") {
        let p = PathBuf::from(p);
        assert!(
            p.is_dir(),
            "INTENTRAIL_SHARED_VECTORS={} is not a directory",
            p.display()
        );
        return p;
    }
    let primary = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors"));
    if primary.is_dir() {
        return primary;
    }
    let repo = std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .expect("the repo root exists");
    for dir in repo.ancestors().skip(1) {
        let p = dir.join("shared/vectors");
        if p.is_dir() {
            return p;
        }
    }
    panic!(
        "shared vectors not found: set INTENTRAIL_SHARED_VECTORS or put shared/ beside the repo ({} does not exist)",
        primary.display()
    );
}

/// The repo's own golden vectors folder (`<repo>/tests/vectors`).
pub fn own_vectors() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors"))
}

/// Decode lowercase/uppercase hex.
pub fn hex(s: &str) -> Vec<u8> {
    ::hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}
