//! Moving from another ledger to PostgreSQL (`intentrail ledger copy`): what must outlive the
//! move is copied as it is, each tenant's chain checked link by link on the way.

use super::postgres::PostgresLedger;
use super::rows::to_i64;
use super::{Ledger, LedgerError, GENESIS_PREV};

/// What [`copy_into`] carried over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Receipts copied per tenant, in the order the tenants were given.
    pub receipts: Vec<(String, u64)>,
    /// Agent key / revocation rows copied.
    pub agent_keys: usize,
    /// Profile versions copied (same numbers and hashes, so receipts still name them).
    pub profile_versions: usize,
}

/// Copy what must outlive a move from `src` (e.g. the SQLite default) into the PostgreSQL
/// ledger at `dst_url`: each listed tenant's receipt chain as the same JSON values (same seq,
/// id, hash and fields, so exported chains and their signatures still verify), every agent key
/// and revocation, and every version of the tenants' mirrored profiles.
///
/// Refuses when `src` still has unfinished permits (start the old rail once so it recovers
/// them, then stop it) or when a tenant already has receipts in the target. Each tenant's chain
/// is checked link by link while copying and written in one transaction. Not copied: issued
/// permits (they live at most a few minutes; agents ask again), idempotency records and limit
/// windows (they restart from zero).
pub async fn copy_into(
    src: &dyn Ledger,
    tenants: &[String],
    dst_url: &str,
) -> Result<CopyReport, LedgerError> {
    let unfinished = src.unfinished_permits().await?;
    if !unfinished.is_empty() {
        return Err(LedgerError::Internal(format!(
            "the source ledger has {} unfinished permit(s): run the old rail once so it \
             recovers them, stop it, then copy",
            unfinished.len()
        )));
    }
    let dst = PostgresLedger::open(dst_url).await?;
    let mut report = CopyReport::default();
    for tenant in tenants {
        let rows = checked_chain(tenant, read_chain(src, tenant).await?)?;
        let n = dst.import_chain(tenant, rows).await?;
        report.receipts.push((tenant.clone(), n));
    }
    report.agent_keys = copy_agent_keys(src, &dst).await?;
    report.profile_versions = copy_profiles(src, &dst, tenants).await?;
    Ok(report)
}

/// One receipt of a checked chain, as it is stored.
#[derive(Debug)]
pub(crate) struct ChainRow {
    /// Its seq.
    pub seq: i64,
    /// Its id.
    pub id: String,
    /// Its hash.
    pub hash: String,
    /// Its JSON, as read from the source.
    pub body: String,
}

/// Every receipt of `tenant` in `src`, in seq order.
async fn read_chain(src: &dyn Ledger, tenant: &str) -> Result<Vec<serde_json::Value>, LedgerError> {
    let mut rows = Vec::new();
    let mut after = 0u64;
    loop {
        let page = src.receipts_after(tenant, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last["seq"]
            .as_u64()
            .ok_or_else(|| LedgerError::Corrupt(format!("a receipt of {tenant:?} has no seq")))?;
        rows.extend(page);
    }
    Ok(rows)
}

/// Check that `rows` are `tenant`'s whole chain (seq 1, 2, … each linked to the previous
/// hash), and turn them into rows to store.
fn checked_chain(tenant: &str, rows: Vec<serde_json::Value>) -> Result<Vec<ChainRow>, LedgerError> {
    let mut checked = Vec::with_capacity(rows.len());
    let mut prev = GENESIS_PREV.to_owned();
    for (i, r) in rows.iter().enumerate() {
        let field = |name: &str| {
            r[name].as_str().map(str::to_owned).ok_or_else(|| {
                LedgerError::Corrupt(format!("receipt #{} of {tenant:?} has no {name}", i + 1))
            })
        };
        let seq = r["seq"].as_u64().unwrap_or(0);
        if seq != i as u64 + 1 || field("prev")? != prev || field("tenant")? != tenant {
            return Err(LedgerError::Corrupt(format!(
                "the source chain of {tenant:?} breaks at seq {}: run `intentrail receipts \
                 verify` on an export of it",
                i + 1
            )));
        }
        let (id, hash) = (field("id")?, field("hash")?);
        let body = serde_json::to_string(r)
            .map_err(|e| LedgerError::Internal(format!("cannot serialize a receipt: {e}")))?;
        prev.clone_from(&hash);
        checked.push(ChainRow {
            seq: to_i64(seq, "receipt seq")?,
            id,
            hash,
            body,
        });
    }
    Ok(checked)
}

/// Copy every agent key and revocation; returns how many rows.
async fn copy_agent_keys(src: &dyn Ledger, dst: &PostgresLedger) -> Result<usize, LedgerError> {
    let mut n = 0;
    for row in src.agent_keys().await? {
        if let Some(h) = &row.key_hash {
            dst.put_agent_key(&row.tenant, &row.agent, h).await?;
        }
        if row.revoked {
            dst.revoke_agent(&row.tenant, &row.agent).await?;
        }
        n += 1;
    }
    Ok(n)
}

/// Copy every version of the `tenants`' profiles, keeping their numbers; returns how many.
async fn copy_profiles(
    src: &dyn Ledger,
    dst: &PostgresLedger,
    tenants: &[String],
) -> Result<usize, LedgerError> {
    let mut n = 0;
    for head in src.profile_heads().await? {
        if !tenants.contains(&head.tenant) {
            continue;
        }
        for v in 1..=head.version {
            let Some((row, doc)) = src.profile_document(&head.tenant, &head.name, v).await? else {
                continue;
            };
            let (stored, _) = dst
                .put_profile(&row.tenant, &row.name, &row.hash, &doc)
                .await?;
            if stored.version != v {
                return Err(LedgerError::Internal(format!(
                    "profile {:?} of {:?} already has other versions in the target",
                    row.name, row.tenant
                )));
            }
            n += 1;
        }
    }
    Ok(n)
}
