//! PostgreSQL's storage of batch signatures (the runs are formed and signed by
//! `ledger/batch_sign.rs`): each receipt's signature and proof are written
//! into its stored body, all of a batch in ONE statement inside the append's transaction.

use std::sync::Arc;

use tokio_postgres::Transaction;

use super::db::db_err;
use crate::ledger::batch_sign::{self, Unsigned};
use crate::ledger::chain::body;
use crate::ledger::rows::to_i64;
use crate::ledger::{LedgerError, Receipt, SigningKey};

/// Sign the receipts `out[i]` for each `(i, key)` of `unsigned` (stored unsigned, in chain
/// order), then replace their stored bodies by the signed ones.
pub(super) async fn sign_stored(
    tx: &Transaction<'_>,
    tenant: &str,
    out: &mut [Result<Receipt, LedgerError>],
    unsigned: &[(usize, Arc<SigningKey>)],
) -> Result<(), LedgerError> {
    let (positions, runs) = {
        let (positions, items): (Vec<usize>, Vec<Unsigned<'_>>) = unsigned
            .iter()
            .filter_map(|(i, key)| {
                let r = out.get(*i)?.as_ref().ok()?;
                let item = Unsigned {
                    tenant: &r.tenant,
                    seq: r.seq,
                    hash: &r.hash,
                    key,
                };
                Some((*i, item))
            })
            .unzip();
        (positions, batch_sign::sign_runs(&items))
    };
    let mut seqs: Vec<i64> = Vec::with_capacity(positions.len());
    let mut bodies: Vec<String> = Vec::with_capacity(positions.len());
    for run in runs {
        for (at, proof) in run.range.zip(run.proofs) {
            let Some(Ok(r)) = out.get_mut(positions[at]) else {
                continue;
            };
            r.sig.clone_from(&run.sig);
            r.batch = proof;
            seqs.push(to_i64(r.seq, "receipt seq")?);
            bodies.push(body(r)?);
        }
    }
    if seqs.is_empty() {
        return Ok(());
    }
    let n = tx
        .execute(
            "UPDATE receipts AS r SET body = u.body
             FROM unnest($2::bigint[], $3::text[]) AS u(seq, body)
             WHERE r.tenant = $1 AND r.seq = u.seq",
            &[&tenant, &seqs, &bodies],
        )
        .await
        .map_err(|e| db_err("store receipt signatures", &e))?;
    if n != seqs.len() as u64 {
        return Err(LedgerError::Internal(format!(
            "{} receipt signatures stored for {} receipts",
            n,
            seqs.len()
        )));
    }
    Ok(())
}
