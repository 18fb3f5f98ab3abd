//! Receipt signing in runs, the rule both backends share (see [`intentrail_core::batch`]):
//! receipts stored in one transaction are signed together, ONE signature per run of
//! consecutive seqs of one tenant under one key, over the Merkle root of the run's hashes, each
//! receipt with its own proof. A run of one receipt is signed the plain way (no proof).
//!
//! Where the signatures go is the backend's part: SQLite stores one `receipt_batches` row per
//! run, PostgreSQL writes each signature and proof into the receipt's stored body.

use std::ops::Range;

use intentrail_core::batch::{self, BatchProof};

use super::SigningKey;

/// A stored receipt waiting for its signature.
pub(super) struct Unsigned<'a> {
    /// Its tenant.
    pub tenant: &'a str,
    /// Its seq in the tenant's chain.
    pub seq: u64,
    /// Its hash (what is signed).
    pub hash: &'a str,
    /// The key to sign it with.
    pub key: &'a SigningKey,
}

/// The signature of one run of receipts.
pub(super) struct SignedRun {
    /// The run: these positions of the input.
    pub range: Range<usize>,
    /// The signature (base64url), shared by the run's receipts.
    pub sig: String,
    /// Each receipt's proof, in run order (`None` for a run of one).
    pub proofs: Vec<Option<BatchProof>>,
}

/// Split `items` (in chain order: grouped by tenant, seqs ascending) into runs of consecutive
/// seqs of one tenant under one key, and sign each run once.
pub(super) fn sign_runs(items: &[Unsigned<'_>]) -> Vec<SignedRun> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let first = &items[start];
        let mut end = start + 1;
        while end < items.len()
            && items[end].tenant == first.tenant
            && items[end].seq == items[end - 1].seq + 1
            && items[end].key.kid() == first.key.kid()
        {
            end += 1;
        }
        let hashes: Vec<&str> = items[start..end].iter().map(|u| u.hash).collect();
        if let Some((sig, proofs)) = batch::sign(first.key, &hashes) {
            runs.push(SignedRun {
                range: start..end,
                sig,
                proofs,
            });
        }
        start = end;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_break_at_a_tenant_a_seq_gap_and_a_key_change() {
        let (k1, k2) = (
            SigningKey::from_bytes(&[1u8; 32]),
            SigningKey::from_bytes(&[2u8; 32]),
        );
        let item = |tenant, seq, hash, key| Unsigned {
            tenant,
            seq,
            hash,
            key,
        };
        let items = [
            item("a", 1, "h1", &k1),
            item("a", 2, "h2", &k1),
            item("a", 4, "h4", &k1),
            item("a", 5, "h5", &k2),
            item("b", 6, "h6", &k2),
        ];
        let runs = sign_runs(&items);
        let ranges: Vec<_> = runs.iter().map(|r| r.range.clone()).collect();
        assert_eq!(ranges, [0..2, 2..3, 3..4, 4..5]);
        assert!(runs[0].proofs.iter().all(Option::is_some));
        assert_eq!(
            runs[1].proofs,
            [None],
            "a run of one is signed the plain way"
        );
    }
}
