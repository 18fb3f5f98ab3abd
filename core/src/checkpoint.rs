//! Signed checkpoints: the head of a tenant's receipt chain, signed by the tenant key.
//!
//! A chain alone cannot show that receipts were cut from its end: what remains still verifies.
//! A checkpoint states "at `at_ms`, the chain of `tenant` reached `seq` with head `head`"; an
//! auditor or a witness keeps it, and a later export that does not reach `seq`, or holds
//! another receipt there, fails [`Checkpoint::check`].
//!
//! The signature is Ed25519 (`verify_strict`) under `kid` over the RFC 8785 form of the
//! checkpoint without `sig` (its `typ` member, [`CHECKPOINT_TYP`], keeps it apart from every
//! other signed object of the rail).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::{KeyResolver, SigningKey};
use crate::receipt::ChainReport;

/// The `typ` of a checkpoint.
pub const CHECKPOINT_TYP: &str = "intentrail-checkpoint/v1";

/// A signed statement of a chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_TYP`].
    pub typ: String,
    /// The tenant whose chain this is.
    pub tenant: String,
    /// The seq of the chain's last receipt (0: the chain was empty).
    pub seq: u64,
    /// That receipt's `hash` ([`crate::GENESIS_PREV`] when the chain was empty).
    pub head: String,
    /// When the rail signed it (ms since the Unix epoch).
    pub at_ms: u64,
    /// The tenant key that signed it.
    pub kid: String,
    /// base64url Ed25519 signature over the canonical form without `sig`.
    pub sig: String,
}

impl Checkpoint {
    /// Sign the head `(seq, head)` of `tenant`'s chain at `at_ms`.
    pub fn sign(
        tenant: &str,
        seq: u64,
        head: &str,
        at_ms: u64,
        key: &SigningKey,
    ) -> Result<Checkpoint> {
        let mut cp = Checkpoint {
            typ: CHECKPOINT_TYP.to_owned(),
            tenant: tenant.to_owned(),
            seq,
            head: head.to_owned(),
            at_ms,
            kid: key.kid().to_owned(),
            sig: String::new(),
        };
        cp.sig = URL_SAFE_NO_PAD.encode(key.sign(&cp.signed_bytes()?));
        Ok(cp)
    }

    /// Parse a checkpoint (strict JSON, no unknown members).
    pub fn parse(bytes: &[u8]) -> Result<Checkpoint> {
        let v = crate::json::parse_strict(bytes)?;
        serde_json::from_value(v)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, format!("not a checkpoint: {e}")))
    }

    /// The bytes the signature covers: RFC 8785 of every member but `sig`.
    fn signed_bytes(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_value(self)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.remove("sig");
        }
        crate::jcs::canonicalize(&v)
    }

    /// Check the signature under `kid` (resolved by `keys`).
    pub fn verify(&self, keys: &dyn KeyResolver) -> Result<()> {
        let bad = |d: &str| Error::new(ErrorKind::ReceiptInvalid, format!("checkpoint: {d}"));
        if self.typ != CHECKPOINT_TYP {
            return Err(bad("typ is not intentrail-checkpoint/v1"));
        }
        let key = keys
            .resolve(&self.kid)
            .ok_or_else(|| bad("signed by a key the JWKS does not hold"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(&self.sig)
            .map_err(|_| bad("the signature is not base64url"))?;
        crate::permit::verify_ed25519(key.as_bytes(), &self.signed_bytes()?, &sig)
            .map_err(|_| bad("bad signature"))
    }

    /// Check that a verified chain (its receipts and [`crate::verify_chain`]'s report, from
    /// seq 1) reaches this checkpoint and holds its head at its seq.
    pub fn check(&self, receipts: &[Value], report: &ChainReport) -> Result<()> {
        expect_head(receipts, report, self.seq, &self.head)
    }
}

/// Check that a verified chain (from seq 1) reaches `seq` and that the receipt there has
/// `head` as its hash: an export cut short, or rewritten before `seq`, fails.
pub fn expect_head(receipts: &[Value], report: &ChainReport, seq: u64, head: &str) -> Result<()> {
    let bad = |d: String| Error::new(ErrorKind::ReceiptInvalid, d);
    if report.last_seq < seq {
        return Err(bad(format!(
            "the chain ends at seq {} but reached seq {seq} before: receipts were removed from its end",
            report.last_seq
        )));
    }
    let found = if seq == 0 {
        Some(crate::GENESIS_PREV)
    } else {
        usize::try_from(seq - 1)
            .ok()
            .and_then(|i| receipts.get(i))
            .and_then(|r| r.get("hash"))
            .and_then(Value::as_str)
    };
    if found != Some(head) {
        return Err(bad(format!(
            "the receipt at seq {seq} is not the head that was recorded: the chain was rewritten"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::keys::Jwks;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_checkpoint_verifies_under_its_key_only() {
        let k = key(7);
        let cp = Checkpoint::sign("acme", 12, "sha256:abc", 1_700_000_000_000, &k).unwrap();
        let jwks = Jwks::from_verifying_keys([&k.verifying_key()]).unwrap();
        cp.verify(&jwks).unwrap();
        let text = serde_json::to_vec(&cp).unwrap();
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
        let other = Jwks::from_verifying_keys([&key(8).verifying_key()]).unwrap();
        assert!(cp.verify(&other).is_err());
        for edit in [
            |c: &mut Checkpoint| c.seq -= 1,
            |c: &mut Checkpoint| c.head = "sha256:abd".into(),
            |c: &mut Checkpoint| c.tenant = "globex".into(),
            |c: &mut Checkpoint| c.at_ms += 1,
        ] {
            let mut c = cp.clone();
            edit(&mut c);
            assert!(c.verify(&jwks).is_err(), "{c:?}");
        }
        // No unknown members.
        let mut v = serde_json::to_value(&cp).unwrap();
        v["extra"] = serde_json::json!(1);
        assert!(Checkpoint::parse(&serde_json::to_vec(&v).unwrap()).is_err());
    }

    #[test]
    fn a_chain_cut_short_or_rewritten_fails_its_head() {
        let receipts: Vec<Value> = (1..=5)
            .map(|i| serde_json::json!({"seq": i, "hash": format!("sha256:h{i}")}))
            .collect();
        let report = |n: usize| ChainReport {
            count: n,
            last_seq: n as u64,
            last_hash: format!("sha256:h{n}"),
        };
        expect_head(&receipts, &report(5), 5, "sha256:h5").unwrap();
        expect_head(&receipts, &report(5), 3, "sha256:h3").unwrap();
        expect_head(&receipts, &report(5), 0, crate::GENESIS_PREV).unwrap();
        let cut = expect_head(&receipts[..3], &report(3), 5, "sha256:h5").unwrap_err();
        assert!(cut.detail().contains("removed from its end"), "{cut}");
        let none = expect_head(&[], &report(0), 1, "sha256:h1").unwrap_err();
        assert!(none.detail().contains("removed"), "{none}");
        let rewritten = expect_head(&receipts, &report(5), 4, "sha256:other").unwrap_err();
        assert!(rewritten.detail().contains("rewritten"), "{rewritten}");
    }
}
