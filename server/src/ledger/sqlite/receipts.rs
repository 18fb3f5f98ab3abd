//! Receipts in SQLite: the append inside the writer's transaction (placed on the tenant's
//! head, stored unsigned and queued for the batch signature), and the reads, which attach each
//! stored receipt's batch signature.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::batch;
use super::db::{db_err, exec, is_constraint, row, rows};
use crate::ledger::chain::{self, body, duplicate_id, seal_failed};
use crate::ledger::clock::now_ms;
use crate::ledger::rows::{page, parse_body, to_i64, to_u64};
use crate::ledger::{LedgerError, Receipt, SigningKey};

/// The head of `tenant`'s chain as stored: (seq, hash) of its last receipt.
pub(super) fn chain_head(
    c: &Connection,
    tenant: &str,
) -> Result<Option<(u64, String)>, LedgerError> {
    let found: Option<(i64, String)> = row(
        c,
        "SELECT seq, hash FROM receipts WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(|e| db_err("read the chain head", e))?;
    found
        .map(|(seq, hash)| Ok((to_u64(seq, "receipt seq")?, hash)))
        .transpose()
}

/// Append `draft` to its tenant's chain, stored unsigned and queued for the batch signature.
pub(super) fn append(
    c: &Connection,
    mut draft: Receipt,
    key: &Arc<SigningKey>,
) -> Result<Receipt, LedgerError> {
    let (last, prev) = chain_head(c, &draft.tenant)?.unwrap_or_else(chain::genesis);
    let seq = chain::place(&mut draft, last, &prev)?;
    draft.seal_unsigned(key.kid()).map_err(seal_failed)?;
    exec(
        c,
        "INSERT INTO receipts (tenant, seq, id, hash, body, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            draft.tenant,
            to_i64(seq, "receipt seq")?,
            draft.id,
            draft.hash,
            body(&draft)?,
            now_ms()
        ],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            duplicate_id(&draft.id)
        } else {
            db_err("store a receipt", e)
        }
    })?;
    batch::queue(&draft, key);
    Ok(draft)
}

/// One receipt by id, as stored (with its batch signature attached).
pub(super) fn by_id(c: &Connection, tenant: &str, id: &str) -> Result<Option<Value>, LedgerError> {
    let found: Option<(i64, String)> = row(
        c,
        "SELECT seq, body FROM receipts WHERE tenant = ?1 AND id = ?2",
        params![tenant, id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(|e| db_err("read a receipt", e))?;
    let Some((seq, text)) = found else {
        return Ok(None);
    };
    let mut one = [(to_u64(seq, "receipt seq")?, parse_body(tenant, seq, &text)?)];
    batch::attach(c, tenant, &mut one)?;
    let [(_, v)] = one;
    Ok(Some(v))
}

/// Up to `limit` receipts with `seq > after_seq`, in seq order, as stored.
pub(super) fn after(
    c: &Connection,
    tenant: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Value>, LedgerError> {
    let Some((after, limit)) = page(after_seq, limit) else {
        return Ok(Vec::new());
    };
    let found: Vec<(i64, String)> = rows(
        c,
        "list receipts",
        "SELECT seq, body FROM receipts WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        params![tenant, after, limit],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut out = Vec::with_capacity(found.len());
    for (seq, text) in found {
        out.push((to_u64(seq, "receipt seq")?, parse_body(tenant, seq, &text)?));
    }
    batch::attach(c, tenant, &mut out)?;
    Ok(out.into_iter().map(|(_, v)| v).collect())
}
