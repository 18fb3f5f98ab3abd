//! TEMPORARY stand-ins for `intentrail_core::receipt::{Receipt, GENESIS_PREV}` and
//! `intentrail_core::keys::SigningKey`, which are being written on another branch. Only the
//! names and fields the ledger touches are here; `seal` computes the real `hash` (SHA-256 over
//! JCS of the receipt without `hash` and `sig`) but leaves `sig` empty. Delete this file when
//! core lands (see the `pub use` in `ledger/mod.rs`).

use serde::{Deserialize, Serialize};

/// The `prev` of a chain's first receipt.
pub const GENESIS_PREV: &str = "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A tenant signing key (stand-in: only its key id).
#[derive(Debug, Clone)]
pub struct SigningKey {
    kid: String,
}

impl SigningKey {
    /// A stand-in key with this key id.
    pub fn new_for_shim(kid: &str) -> Self {
        SigningKey { kid: kid.into() }
    }
}

/// A receipt (stand-in with the fields the ledger uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Receipt id.
    pub id: String,
    /// Position in the tenant's chain, from 1.
    pub seq: u64,
    /// `hash` of the previous receipt, or [`GENESIS_PREV`].
    pub prev: String,
    /// Time (ms since the epoch).
    pub ts: i64,
    /// Tenant id.
    pub tenant: String,
    /// Agent id.
    pub agent: String,
    /// Decision / execution kind.
    pub kind: String,
    /// Action name.
    pub action: String,
    /// Signing key id.
    pub kid: String,
    /// SHA-256 over JCS of the receipt without `hash` and `sig`.
    pub hash: String,
    /// Signature over `hash` (empty in the stand-in).
    pub sig: String,
}

impl Receipt {
    /// Fill `kid` and `hash` (the stand-in leaves `sig` empty).
    pub fn seal(&mut self, key: &SigningKey) -> intentrail_core::Result<()> {
        use intentrail_core::{Error, ErrorKind};
        self.kid = key.kid.clone();
        let mut v = serde_json::to_value(&*self)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            o.remove("hash");
            o.remove("sig");
        }
        let canonical = intentrail_core::jcs::canonicalize(&v)?;
        self.hash = intentrail_core::hash::sha256_tagged(&canonical);
        self.sig = String::new();
        Ok(())
    }
}
