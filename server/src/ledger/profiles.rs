//! The profile versioning rule both backends apply under their upload lock: a document whose
//! hash is the newest version's keeps that version; any other becomes newest + 1 (1 for the
//! first). Versions are never changed or deleted.

use super::clock::now_ms;
use super::ProfileRow;

/// The newest stored version of a profile: (version, hash, created_at_ms).
pub(super) type Head = (i64, String, i64);

/// What an upload of `hash` does, given the newest stored version.
pub(super) enum Upload {
    /// The newest version already has this document: nothing is stored.
    Unchanged(ProfileRow),
    /// Store this new version.
    New(ProfileRow),
}

/// Decide the upload of `hash` as a version of (tenant, name) on top of `head`.
pub(super) fn upload(tenant: &str, name: &str, hash: &str, head: Option<Head>) -> Upload {
    let row = |version, hash: &str, created_at_ms| ProfileRow {
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        version,
        hash: hash.to_owned(),
        created_at_ms,
    };
    match head {
        Some((v, old, at)) if old == hash => Upload::Unchanged(row(v, &old, at)),
        head => Upload::New(row(head.map_or(1, |h| h.0 + 1), hash, now_ms())),
    }
}
