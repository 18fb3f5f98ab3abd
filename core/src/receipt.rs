//! Signed, hash-chained receipts and the offline chain verifier.
//!
//! Guarantees: a sealed receipt's `hash` is `sha256:` over RFC 8785 of the receipt without
//! `hash`, `sig` and `batch`; each receipt's `prev` is the previous receipt's `hash`. Its
//! `sig` is Ed25519 under the `kid`'s key either over the ASCII bytes of `hash` (no `batch`
//! member) or, for a receipt signed together with others of one commit, over the batch
//! statement whose Merkle root the receipt's `batch` proof leads to (see [`crate::batch`]).
//! Either way each receipt verifies on its own. [`verify_chain`] works on the raw JSON, so any
//! edited, added, dropped or reordered field or receipt is reported with the first bad `seq`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::batch::BatchProof;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{KeyResolver, SigningKey};

/// The `prev` of the first receipt of a chain: `sha256:` + base64url of 32 zero bytes.
pub const GENESIS_PREV: &str = "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// What a receipt records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// A policy decision (allow, deny, approval required, rejected request).
    Decision,
    /// A forwarded (or refused) execution.
    Execution,
    /// A recovery record written after a crash left an execution's outcome open.
    Recovery,
}

/// The downstream call an execution made (no secrets: URL from config, no credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downstream {
    /// HTTP method.
    pub method: String,
    /// The URL called (never carries credentials).
    pub url: String,
    /// The downstream's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `sha256:` hash of the response body, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_hash: Option<String>,
    /// Time from sending to the answer (or to giving up), in milliseconds.
    pub latency_ms: u64,
}

/// How a call reached the rail when not through its JSON API: the protocol and, for MCP, the
/// session and the JSON-RPC request id (as the client sent them; never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Via {
    /// `mcp`.
    pub protocol: String,
    /// The client's session (`Mcp-Session-Id`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The request id, as JSON text of the id (`1`, `"abc"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// One receipt of a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Receipt id.
    pub id: String,
    /// Position in the tenant's chain, from 1.
    pub seq: u64,
    /// The previous receipt's `hash` ([`GENESIS_PREV`] for seq 1).
    pub prev: String,
    /// Time, Unix milliseconds.
    pub ts: i64,
    /// Tenant id.
    pub tenant: String,
    /// Agent id.
    pub agent: String,
    /// What this receipt records.
    pub kind: ReceiptKind,
    /// The action name.
    pub action: String,
    /// `allow`, `deny`, `approval_required` or `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// `success`, `downstream_error`, `unknown`, `not_forwarded` or `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The error code, when the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A human reason (e.g. the rule that denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The permit's `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit_id: Option<String>,
    /// The payload hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
    /// The policy set hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// The profile version of a mirrored action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_version: Option<String>,
    /// The downstream call, for executions that were forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Downstream>,
    /// How the call reached the rail, when not through its JSON API (an MCP tool call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// The id of the key that signed this receipt (set by [`Receipt::seal`]).
    pub kid: String,
    /// `sha256:` over RFC 8785 of this receipt without `hash` and `sig` (set by `seal`).
    pub hash: String,
    /// base64url Ed25519 signature: over the ASCII bytes of `hash` when `batch` is absent,
    /// else over the batch statement (set by `seal`, or by the ledger for a signed batch).
    pub sig: String,
    /// Where this receipt sits in a signed batch (absent when it was signed alone). Not
    /// covered by `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchProof>,
}

impl Receipt {
    /// A receipt of `kind` for `action` by `agent` in `tenant` at `ts` (Unix ms), with every
    /// optional member absent; `seq` and `prev` are the ledger's to set when it appends it,
    /// `kid`, `hash` and `sig` [`Receipt::seal`]'s.
    pub fn draft(
        id: impl Into<String>,
        ts: i64,
        tenant: impl Into<String>,
        agent: impl Into<String>,
        kind: ReceiptKind,
        action: impl Into<String>,
    ) -> Receipt {
        Receipt {
            id: id.into(),
            seq: 0,
            prev: String::new(),
            ts,
            tenant: tenant.into(),
            agent: agent.into(),
            kind,
            action: action.into(),
            decision: None,
            outcome: None,
            code: None,
            reason: None,
            permit_id: None,
            payload_hash: None,
            policy_hash: None,
            profile_version: None,
            downstream: None,
            via: None,
            kid: String::new(),
            hash: String::new(),
            sig: String::new(),
            batch: None,
        }
    }

    /// Set `kid`, then `hash` and `sig` with `key`. Fails (`invalid_json`) only when a number
    /// is outside ±(2^53−1), which RFC 8785 cannot represent exactly.
    pub fn seal(&mut self, key: &SigningKey) -> Result<()> {
        self.seal_unsigned(key.kid())?;
        self.sig = URL_SAFE_NO_PAD.encode(key.sign(self.hash.as_bytes()));
        Ok(())
    }

    /// Set `kid` and `hash`, leaving `sig` empty and `batch` unset: for a receipt that will be
    /// signed together with others ([`crate::batch::sign`]). Fails like [`Receipt::seal`].
    pub fn seal_unsigned(&mut self, kid: &str) -> Result<()> {
        kid.clone_into(&mut self.kid);
        self.sig.clear();
        self.batch = None;
        self.hash = crate::hash::sha256_tagged(&self.canonical_unsigned()?);
        Ok(())
    }

    /// RFC 8785 of this receipt without `hash`, `sig` and `batch`, written straight from the
    /// fields (the members in their fixed sorted order, `None` fields left out as serde
    /// leaves them out): the same bytes as canonicalizing its JSON, without building it.
    /// Fails (`invalid_json`) when a number is outside ±(2^53−1).
    pub fn canonical_unsigned(&self) -> Result<Vec<u8>> {
        let mut o = CanonicalObject::default();
        o.string("action", &self.action);
        o.string("agent", &self.agent);
        o.optional("code", &self.code);
        o.optional("decision", &self.decision);
        if let Some(d) = &self.downstream {
            o.key("downstream");
            let mut inner = CanonicalObject::default();
            inner.int("latency_ms", i128::from(d.latency_ms))?;
            inner.string("method", &d.method);
            inner.optional("response_hash", &d.response_hash);
            if let Some(st) = d.status {
                inner.int("status", i128::from(st))?;
            }
            inner.string("url", &d.url);
            o.out.extend_from_slice(&inner.finish());
        }
        o.string("id", &self.id);
        o.string("kid", &self.kid);
        o.string(
            "kind",
            match self.kind {
                ReceiptKind::Decision => "decision",
                ReceiptKind::Execution => "execution",
                ReceiptKind::Recovery => "recovery",
            },
        );
        o.optional("outcome", &self.outcome);
        o.optional("payload_hash", &self.payload_hash);
        o.optional("permit_id", &self.permit_id);
        o.optional("policy_hash", &self.policy_hash);
        o.string("prev", &self.prev);
        o.optional("profile_version", &self.profile_version);
        o.optional("reason", &self.reason);
        o.int("seq", i128::from(self.seq))?;
        o.string("tenant", &self.tenant);
        o.int("ts", i128::from(self.ts))?;
        if let Some(v) = &self.via {
            o.key("via");
            let mut inner = CanonicalObject::default();
            inner.string("protocol", &v.protocol);
            inner.optional("request", &v.request);
            inner.optional("session", &v.session);
            o.out.extend_from_slice(&inner.finish());
        }
        Ok(o.finish())
    }

    /// This receipt as JSON (what an export holds and [`verify_chain`] checks).
    pub fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("receipt: {e}")))
    }
}

/// An RFC 8785 object written member by member; the caller gives the members in sorted order
/// (all receipt member names are ASCII, so byte order is UTF-16 order).
#[derive(Default)]
struct CanonicalObject {
    out: Vec<u8>,
}

impl CanonicalObject {
    fn key(&mut self, k: &str) {
        self.out.push(if self.out.is_empty() { b'{' } else { b',' });
        crate::jcs::write_string(k, &mut self.out);
        self.out.push(b':');
    }

    fn string(&mut self, k: &str, v: &str) {
        self.key(k);
        crate::jcs::write_string(v, &mut self.out);
    }

    fn optional(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.string(k, v);
        }
    }

    fn int(&mut self, k: &str, v: i128) -> Result<()> {
        let max = i128::from(crate::json::MAX_SAFE_INTEGER);
        if !(-max..=max).contains(&v) {
            return Err(Error::new(
                ErrorKind::InvalidJson,
                format!("receipt: {k} is outside the I-JSON safe integer range"),
            ));
        }
        self.key(k);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        if self.out.is_empty() {
            self.out.push(b'{');
        }
        self.out.push(b'}');
        self.out
    }
}

/// The hash of a raw receipt: `sha256:` over RFC 8785 of the object without its `hash`,
/// `sig` and `batch` members. Fails if `v` is not an object or holds an unsafe integer.
pub fn receipt_hash(v: &Value) -> Result<String> {
    let Value::Object(m) = v else {
        return Err(Error::new(
            ErrorKind::ReceiptInvalid,
            "receipt is not an object",
        ));
    };
    let mut m = m.clone();
    m.remove("hash");
    m.remove("sig");
    m.remove("batch");
    Ok(crate::hash::sha256_tagged(&crate::jcs::canonicalize(
        &Value::Object(m),
    )?))
}

/// The result of a chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Receipts checked.
    pub count: usize,
    /// `seq` of the last receipt (the start's seq, or 0, when there were none).
    pub last_seq: u64,
    /// `hash` of the last receipt (the start's hash, or [`GENESIS_PREV`], when there were none).
    pub last_hash: String,
}

/// What is wrong at a chain position.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// Not an object, or `seq`/`prev`/`hash`/`kid`/`sig` missing or of the wrong type.
    Malformed(String),
    /// This seq is absent from the chain (dropped).
    Missing,
    /// Another receipt (`found`) stands where this seq should, and this seq comes later.
    Reordered {
        /// The seq found in this position.
        found: u64,
    },
    /// An earlier receipt (`found`) appears again in this position.
    Duplicate {
        /// The seq found in this position.
        found: u64,
    },
    /// `prev` is not the previous receipt's `hash`.
    BrokenLink,
    /// The recomputed hash differs from `hash`: a field was changed, added or removed.
    Edited,
    /// The `kid` is not a key the resolver knows (signed by another key).
    WrongKey,
    /// The signature does not verify under the `kid`'s key.
    BadSignature,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Malformed(d) => write!(f, "malformed ({d})"),
            ChainProblem::Missing => f.write_str("missing"),
            ChainProblem::Reordered { found } => {
                write!(f, "reordered (seq {found} found in its place)")
            }
            ChainProblem::Duplicate { found } => {
                write!(f, "duplicate (seq {found} again in its place)")
            }
            ChainProblem::BrokenLink => f.write_str("prev does not match the previous hash"),
            ChainProblem::Edited => f.write_str("edited"),
            ChainProblem::WrongKey => f.write_str("wrong key (kid unknown)"),
            ChainProblem::BadSignature => f.write_str("bad signature"),
        }
    }
}

/// The first bad position of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    /// The seq where the chain first goes wrong (the seq expected at that position).
    pub seq: u64,
    /// What is wrong there.
    pub problem: ChainProblem,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.problem)
    }
}

impl std::error::Error for ChainError {}

impl From<ChainError> for Error {
    fn from(e: ChainError) -> Error {
        Error::new(ErrorKind::ReceiptInvalid, e.to_string())
    }
}

fn str_member<'a>(m: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match m.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{name} is not a string")),
        None => Err(format!("{name} is missing")),
    }
}

fn seq_of(v: &Value) -> Option<u64> {
    v.get("seq").and_then(Value::as_u64)
}

/// Verify a chain (or a segment of one) from its raw JSON receipts, in order. `start` is
/// `(seq, hash)` of the receipt just before the first one; `None` means the chain starts at
/// seq 1 with `prev` = [`GENESIS_PREV`]. For each receipt: its seq is the next one (a lower
/// seq is a duplicate or reordering, a higher one a gap or reordering), `prev` is the previous
/// `hash`, the recomputed hash equals `hash`, `kid` resolves and `sig` verifies (over `hash`,
/// or over the batch statement its `batch` proof leads to; a malformed proof is a bad
/// signature). Parse exports with [`crate::json::parse_strict`] so duplicate members are
/// refused too. Receipts of one batch share one signature, which is checked once.
pub fn verify_chain(
    receipts: &[Value],
    resolver: &dyn KeyResolver,
    start: Option<(u64, String)>,
) -> Result<ChainReport, ChainError> {
    let (mut last_seq, mut last_hash) = start.unwrap_or_else(|| (0, GENESIS_PREV.to_string()));
    let first_seq = last_seq.saturating_add(1);
    // Hashes of the receipts verified so far, by position, to tell duplicates from reorders.
    let mut seen: Vec<String> = Vec::new();
    // The last batch signature that verified: (kid, statement, sig).
    let mut verified: Option<(String, String, String)> = None;
    for (i, v) in receipts.iter().enumerate() {
        let expected = last_seq.saturating_add(1);
        let fail = |problem| ChainError {
            seq: expected,
            problem,
        };
        let Value::Object(m) = v else {
            return Err(fail(ChainProblem::Malformed("not an object".into())));
        };
        let Some(seq) = seq_of(v) else {
            return Err(fail(ChainProblem::Malformed(
                "seq is missing or not an unsigned integer".into(),
            )));
        };
        let hash = str_member(m, "hash").map_err(|d| fail(ChainProblem::Malformed(d)))?;
        if seq > expected {
            let later = receipts[i + 1..]
                .iter()
                .any(|r| seq_of(r) == Some(expected));
            return Err(fail(if later {
                ChainProblem::Reordered { found: seq }
            } else {
                ChainProblem::Missing
            }));
        }
        if seq < expected {
            let dup = seq >= first_seq
                && usize::try_from(seq - first_seq)
                    .ok()
                    .and_then(|p| seen.get(p))
                    .is_some_and(|h| h == hash);
            return Err(fail(if dup {
                ChainProblem::Duplicate { found: seq }
            } else {
                ChainProblem::Reordered { found: seq }
            }));
        }
        let prev = str_member(m, "prev").map_err(|d| fail(ChainProblem::Malformed(d)))?;
        if prev != last_hash {
            return Err(fail(ChainProblem::BrokenLink));
        }
        let recomputed =
            receipt_hash(v).map_err(|e| fail(ChainProblem::Malformed(e.detail().to_string())))?;
        if recomputed != hash {
            return Err(fail(ChainProblem::Edited));
        }
        let kid = str_member(m, "kid").map_err(|d| fail(ChainProblem::Malformed(d)))?;
        let sig = str_member(m, "sig").map_err(|d| fail(ChainProblem::Malformed(d)))?;
        let key = resolver
            .resolve(kid)
            .ok_or_else(|| fail(ChainProblem::WrongKey))?;
        let signed = match m.get("batch") {
            None => hash.to_string(),
            Some(b) => {
                let proof =
                    BatchProof::deserialize(b).map_err(|_| fail(ChainProblem::BadSignature))?;
                let root = crate::batch::root_from_proof(hash, &proof)
                    .ok_or_else(|| fail(ChainProblem::BadSignature))?;
                crate::batch::statement(proof.size, &root)
            }
        };
        let cached = verified
            .as_ref()
            .is_some_and(|(k, st, sg)| k == kid && *st == signed && sg == sig);
        if !cached {
            let raw = URL_SAFE_NO_PAD
                .decode(sig)
                .map_err(|_| fail(ChainProblem::BadSignature))?;
            crate::permit::verify_ed25519(key.as_bytes(), signed.as_bytes(), &raw)
                .map_err(|_| fail(ChainProblem::BadSignature))?;
            if m.contains_key("batch") {
                verified = Some((kid.to_string(), signed, sig.to_string()));
            }
        }
        seen.push(hash.to_string());
        last_seq = seq;
        last_hash = hash.to_string();
    }
    Ok(ChainReport {
        count: receipts.len(),
        last_seq,
        last_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_32_zero_bytes() {
        assert_eq!(
            GENESIS_PREV,
            format!("sha256:{}", URL_SAFE_NO_PAD.encode([0u8; 32]))
        );
    }
}
