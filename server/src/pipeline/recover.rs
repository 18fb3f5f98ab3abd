//! Start-up recovery: permits a crash left between consume and receipt.
//!
//! Guarantees: a permit consumed but never forwarded is finished `not_forwarded`, one whose
//! forward was in flight `unknown` (never guessed as success or failure); the recovery receipt
//! and the permit's end are one transaction, so a crash during recovery never leaves two.

use intentrail_core::receipt::ReceiptKind;

use super::receipt;
use crate::model::{Outcome, PermitState};
use crate::rail::Rail;

impl Rail {
    /// Finish permits a crash left behind: consumed but never forwarded → `not_forwarded`;
    /// forward in flight → `unknown` (never guessed as success or failure).
    pub async fn recover(&self) -> Result<usize, String> {
        let stuck = self
            .ledger
            .unfinished_permits()
            .await
            .map_err(|e| e.to_string())?;
        let mut n = 0;
        for (p, state) in stuck {
            let Some(t) = self.tenants.get(&p.tenant) else {
                tracing::warn!(tenant = %p.tenant, "unfinished permit of an unknown tenant");
                continue;
            };
            let outcome = match state {
                PermitState::Consumed => Outcome::NotForwarded,
                _ => Outcome::Unknown,
            };
            let mut r = receipt::draft_for(t, &p.agent, ReceiptKind::Recovery, &p.action);
            r.outcome = Some(outcome.as_str().into());
            r.permit_id = Some(p.jti.clone());
            r.payload_hash = Some(p.payload_hash.clone());
            r.reason = Some("recovered after restart".into());
            // The receipt and the permit's end in one transaction: a crash during recovery
            // leaves the permit to the next recovery, never with two recovery receipts.
            self.ledger
                .finish_with_receipt(&p.tenant, &p.jti, outcome, r, t.signer.clone())
                .await
                .map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok(n)
    }
}
