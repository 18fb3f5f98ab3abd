//! Signed receipt batches: one Ed25519 signature over a Merkle tree of several receipts.
//!
//! The rail commits receipts in groups (one durable transaction answers many requests). Rather
//! than signing each receipt, it may sign once per group: the leaves are the receipts' `hash`
//! strings (ASCII bytes) in chain order, the tree is the Merkle tree of RFC 9162 §2.1.1
//! (leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right), split at the largest
//! power of two below the size), and the signature covers the ASCII bytes of
//! [`statement`]`(size, root)`. Each receipt then carries its own inclusion proof
//! ([`BatchProof`]: size, index, audit path), so every receipt still verifies on its own:
//! recompute the root from its `hash` and the path (RFC 9162 §2.1.3.2), then check the one
//! signature. A one-receipt group is signed the plain way (the signature over the `hash`
//! itself) and carries no proof.
//!
//! Domain separation: a plain signature is over a string starting `sha256:`, a batch signature
//! over one starting [`STATEMENT_PREFIX`], so neither can stand in for the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::PREFIX;
use crate::keys::SigningKey;

/// The start of every signed batch statement.
pub const STATEMENT_PREFIX: &str = "intentrail-receipt-batch:v1:";

/// Where a receipt sits in a signed batch: enough to recompute the batch's Merkle root from
/// the receipt's own `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchProof {
    /// Number of receipts in the batch (at least 2).
    pub size: u64,
    /// This receipt's position in the batch, from 0.
    pub index: u64,
    /// The RFC 9162 audit path, leaf to root, each node as `sha256:` + base64url.
    pub path: Vec<String>,
}

type Node = [u8; 32];

fn leaf_hash(data: &[u8]) -> Node {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &Node, right: &Node) -> Node {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 MTH over leaf hashes (`leaves` not empty).
fn subtree_root(leaves: &[Node]) -> Node {
    match leaves {
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The RFC 9162 root of `leaves`, appending to `paths[m]` the audit path PATH(m, D[n]) of
/// every leaf m (leaf to root): each subtree's root is computed once, O(n) hashes in all.
fn root_and_paths(leaves: &[Node], paths: &mut [Vec<Node>]) -> Node {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = split(leaves.len());
    let (lp, rp) = paths.split_at_mut(k);
    let left = root_and_paths(&leaves[..k], lp);
    let right = root_and_paths(&leaves[k..], rp);
    lp.iter_mut().for_each(|p| p.push(right));
    rp.iter_mut().for_each(|p| p.push(left));
    node_hash(&left, &right)
}

fn tagged(n: &Node) -> String {
    let mut s = String::with_capacity(PREFIX.len() + 43);
    s.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(n, &mut s);
    s
}

fn untag(s: &str) -> Option<Node> {
    let b64 = s.strip_prefix(PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    let node: Node = bytes.try_into().ok()?;
    // One encoding per node: refuse non-canonical base64 (non-zero trailing bits).
    (URL_SAFE_NO_PAD.encode(node) == b64).then_some(node)
}

/// The Merkle root (`sha256:` + base64url) of receipt hashes, in order. `None` when empty.
pub fn root(hashes: &[&str]) -> Option<String> {
    if hashes.is_empty() {
        return None;
    }
    let leaves: Vec<Node> = hashes.iter().map(|h| leaf_hash(h.as_bytes())).collect();
    Some(tagged(&subtree_root(&leaves)))
}

/// The string a batch signature covers: [`STATEMENT_PREFIX`] + size + `:` + root.
pub fn statement(size: u64, root: &str) -> String {
    format!("{STATEMENT_PREFIX}{size}:{root}")
}

/// The proof of each of `hashes` (in order) in the batch of all of them. Empty for fewer than
/// two hashes (a lone receipt is signed plainly).
pub fn proofs(hashes: &[&str]) -> Vec<BatchProof> {
    if hashes.len() < 2 {
        return Vec::new();
    }
    tree(hashes).1
}

/// The root and every proof of a batch of at least one hash.
fn tree(hashes: &[&str]) -> (String, Vec<BatchProof>) {
    let leaves: Vec<Node> = hashes.iter().map(|h| leaf_hash(h.as_bytes())).collect();
    let size = leaves.len() as u64;
    let mut paths = vec![Vec::new(); leaves.len()];
    let root = root_and_paths(&leaves, &mut paths);
    let proofs = paths
        .iter()
        .enumerate()
        .map(|(m, path)| BatchProof {
            size,
            index: m as u64,
            path: path.iter().map(tagged).collect(),
        })
        .collect();
    (tagged(&root), proofs)
}

/// Sign receipt hashes (one tenant's, consecutive, in chain order) with one signature.
/// Returns the base64url signature and each hash's proof (`None` when there is one hash: the
/// signature is then the plain one, over the hash itself). `None` for no hashes.
pub fn sign(key: &SigningKey, hashes: &[&str]) -> Option<(String, Vec<Option<BatchProof>>)> {
    match hashes {
        [] => None,
        [one] => Some((URL_SAFE_NO_PAD.encode(key.sign(one.as_bytes())), vec![None])),
        _ => {
            let (root, proofs) = tree(hashes);
            let sig = key.sign(statement(hashes.len() as u64, &root).as_bytes());
            Some((
                URL_SAFE_NO_PAD.encode(sig),
                proofs.into_iter().map(Some).collect(),
            ))
        }
    }
}

/// The Merkle root a receipt `hash` and its proof lead to (RFC 9162 §2.1.3.2), or `None` when
/// the proof is malformed: index not below size, size below 2, a path of the wrong length or
/// a node that is not `sha256:` + canonical base64url of 32 bytes.
pub fn root_from_proof(hash: &str, proof: &BatchProof) -> Option<String> {
    if proof.size < 2 || proof.index >= proof.size {
        return None;
    }
    let mut fnode = proof.index;
    let mut snode = proof.size - 1;
    let mut r = leaf_hash(hash.as_bytes());
    for p in &proof.path {
        let p = untag(p)?;
        if snode == 0 {
            return None;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(&p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    (snode == 0).then(|| tagged(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| crate::hash::sha256_tagged(format!("receipt {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_proof_of_every_size_leads_to_the_root() {
        for n in 2..=33 {
            let hs = hashes(n);
            let refs: Vec<&str> = hs.iter().map(String::as_str).collect();
            let want = root(&refs).expect("root");
            let ps = proofs(&refs);
            assert_eq!(ps.len(), n);
            for (i, p) in ps.iter().enumerate() {
                assert_eq!(p.index, i as u64);
                assert_eq!(p.size, n as u64);
                assert_eq!(
                    root_from_proof(&hs[i], p).as_deref(),
                    Some(want.as_str()),
                    "n={n} i={i}"
                );
                // Another receipt's hash with this proof does not reach the root.
                let other = &hs[(i + 1) % n];
                assert_ne!(root_from_proof(other, p).as_deref(), Some(want.as_str()));
            }
        }
    }

    #[test]
    fn the_tree_shape_is_rfc_9162() {
        // Three leaves: MTH = H(1 ‖ H(1 ‖ L0 ‖ L1) ‖ L2), not a balanced or duplicated tree.
        let hs = hashes(3);
        let l: Vec<Node> = hs.iter().map(|h| leaf_hash(h.as_bytes())).collect();
        let want = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        let refs: Vec<&str> = hs.iter().map(String::as_str).collect();
        assert_eq!(root(&refs), Some(tagged(&want)));
        // Leaf and node hashes are domain-separated: a one-leaf tree is not the raw SHA-256.
        assert_ne!(
            root(&refs[..1]).expect("root"),
            crate::hash::sha256_tagged(refs[0].as_bytes())
        );
        assert_eq!(
            proofs(&refs)[2].path,
            vec![tagged(&node_hash(&l[0], &l[1]))]
        );
    }

    #[test]
    fn malformed_or_moved_proofs_are_refused() {
        let hs = hashes(5);
        let refs: Vec<&str> = hs.iter().map(String::as_str).collect();
        // What the signature covers: the size and the root together (a proof of the same
        // shape in a bigger tree can reach the same root; its statement still differs).
        let want = statement(5, &root(&refs).expect("root"));
        let p = proofs(&refs)[3].clone();
        let reaches = |p: &BatchProof| {
            root_from_proof(&hs[3], p).map(|r| statement(p.size, &r)) == Some(want.clone())
        };
        assert!(reaches(&p));
        for bad in [
            BatchProof {
                index: 2,
                ..p.clone()
            },
            BatchProof {
                size: 4,
                ..p.clone()
            },
            BatchProof {
                size: 6,
                ..p.clone()
            },
            BatchProof {
                index: 5,
                ..p.clone()
            },
            BatchProof {
                size: 1,
                index: 0,
                path: vec![],
            },
            BatchProof {
                path: p.path[..p.path.len() - 1].to_vec(),
                ..p.clone()
            },
            BatchProof {
                path: [p.path.clone(), vec![p.path[0].clone()]].concat(),
                ..p.clone()
            },
            BatchProof {
                path: vec!["sha256:x".into(); p.path.len()],
                ..p.clone()
            },
        ] {
            assert!(!reaches(&bad), "{bad:?}");
        }
        // A non-canonical encoding of the same node is refused (one encoding per node).
        let mut odd = p.clone();
        let last = odd.path[0].pop().expect("char");
        let twin = match last {
            'A' => 'B',
            'E' => 'F',
            c => c,
        };
        odd.path[0].push(twin);
        if twin != last {
            assert_eq!(root_from_proof(&hs[3], &odd), None);
        }
    }

    #[test]
    fn a_batch_signature_covers_the_statement_and_a_lone_receipt_is_signed_plainly() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let hs = hashes(4);
        let refs: Vec<&str> = hs.iter().map(String::as_str).collect();
        let (sig, ps) = sign(&key, &refs).expect("signed");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
        let stmt = statement(4, &root(&refs).expect("root"));
        assert!(stmt.starts_with(STATEMENT_PREFIX));
        let vk = key.verifying_key();
        crate::permit::verify_ed25519(vk.as_bytes(), stmt.as_bytes(), &sig).expect("verifies");
        assert!(crate::permit::verify_ed25519(vk.as_bytes(), refs[0].as_bytes(), &sig).is_err());
        assert!(ps.iter().all(Option::is_some));

        let (plain, ps) = sign(&key, &refs[..1]).expect("signed");
        assert_eq!(ps, vec![None]);
        let plain = URL_SAFE_NO_PAD.decode(plain).expect("b64");
        crate::permit::verify_ed25519(vk.as_bytes(), refs[0].as_bytes(), &plain).expect("plain");
        assert!(sign(&key, &[]).is_none());
    }
}
