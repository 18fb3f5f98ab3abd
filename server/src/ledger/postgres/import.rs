//! Importing a checked receipt chain into PostgreSQL (the target side of
//! `ledger/copy.rs`): all of a tenant's receipts and its chain head in ONE
//! transaction, refused when the tenant already has receipts here.

use tokio_postgres::Client;

use super::db::db_err;
use super::PostgresLedger;
use crate::ledger::clock::now_ms;
use crate::ledger::copy::ChainRow;
use crate::ledger::LedgerError;

impl PostgresLedger {
    /// Store `rows` (a whole chain of `tenant`, links already checked) as they are, then set
    /// the tenant's head. Returns how many were stored.
    pub(crate) async fn import_chain(
        &self,
        tenant: &str,
        rows: Vec<ChainRow>,
    ) -> Result<u64, LedgerError> {
        let tenant = tenant.to_owned();
        self.with_conn("import a receipt chain", move |c| {
            Box::pin(async move { import(c, &tenant, &rows).await })
        })
        .await
    }
}

async fn import(c: &mut Client, tenant: &str, rows: &[ChainRow]) -> Result<u64, LedgerError> {
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_err("begin an import", &e))?;
    let existing: i64 = tx
        .query_one(
            "SELECT count(*) FROM receipts WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| db_err("count receipts", &e))?;
    if existing > 0 {
        return Err(LedgerError::Internal(format!(
            "tenant {tenant:?} already has {existing} receipt(s) in the target"
        )));
    }
    let now = now_ms();
    for r in rows {
        tx.execute(
            "INSERT INTO receipts (tenant, seq, id, hash, body, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&tenant, &r.seq, &r.id, &r.hash, &r.body, &now],
        )
        .await
        .map_err(|e| db_err("import a receipt", &e))?;
    }
    if let Some(last) = rows.last() {
        tx.execute(
            "INSERT INTO chain_heads (tenant, seq, hash) VALUES ($1, $2, $3)
             ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            &[&tenant, &last.seq, &last.hash],
        )
        .await
        .map_err(|e| db_err("set the chain head", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_err("commit an import", &e))?;
    Ok(rows.len() as u64)
}
