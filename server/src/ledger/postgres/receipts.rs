//! Reading receipts in PostgreSQL: bodies are stored signed (see `append.rs`), so
//! a read returns them exactly as stored.

use serde_json::Value;
use tokio_postgres::Client;

use super::db::{db_err, get};
use crate::ledger::rows::{page, parse_body, to_u64};
use crate::ledger::LedgerError;

/// One receipt by id, as stored.
pub(super) async fn by_id(
    c: &Client,
    tenant: &str,
    id: &str,
) -> Result<Option<Value>, LedgerError> {
    let row = c
        .query_opt(
            "SELECT seq, body FROM receipts WHERE tenant = $1 AND id = $2",
            &[&tenant, &id],
        )
        .await
        .map_err(|e| db_err("read a receipt", &e))?;
    row.map(|r| {
        parse_body(
            tenant,
            get(&r, 0, "receipt")?,
            &get::<String>(&r, 1, "receipt")?,
        )
    })
    .transpose()
}

/// The head of `tenant`'s chain: (seq, hash) of its last receipt.
pub(super) async fn chain_head(
    c: &Client,
    tenant: &str,
) -> Result<Option<(u64, String)>, LedgerError> {
    let row = c
        .query_opt(
            "SELECT seq, hash FROM receipts WHERE tenant = $1 ORDER BY seq DESC LIMIT 1",
            &[&tenant],
        )
        .await
        .map_err(|e| db_err("read the chain head", &e))?;
    row.map(|r| {
        let seq: i64 = get(&r, 0, "chain head")?;
        Ok((to_u64(seq, "receipt seq")?, get(&r, 1, "chain head")?))
    })
    .transpose()
}

/// Up to `limit` receipts with `seq > after_seq`, in seq order, as stored.
pub(super) async fn after(
    c: &Client,
    tenant: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Value>, LedgerError> {
    let Some((after, limit)) = page(after_seq, limit) else {
        return Ok(Vec::new());
    };
    let rows = c
        .query(
            "SELECT seq, body FROM receipts WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&tenant, &after, &limit],
        )
        .await
        .map_err(|e| db_err("list receipts", &e))?;
    rows.iter()
        .map(|r| {
            parse_body(
                tenant,
                get(r, 0, "receipt")?,
                &get::<String>(r, 1, "receipt")?,
            )
        })
        .collect()
}
