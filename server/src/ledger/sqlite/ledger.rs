//! [`Ledger`] for [`SqliteLedger`]: each call is one job on the writer (or one read on the read
//! pool), so the composite operations are ONE transaction each.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;

use super::{agents, idempotency, limits, permits, profiles, receipts, SqliteLedger};
use crate::ledger::permits::{not_consumed_after_issue, ConsumeTo};
use crate::ledger::{
    AgentKeyRow, IssueOutcome, Ledger, LedgerError, ProfileRow, Receipt, SigningKey,
};
use crate::model::{
    ConsumeOutcome, IdempotencyBegin, LimitAdd, LimitOutcome, Outcome, PermitRecord, PermitState,
};

#[async_trait]
impl Ledger for SqliteLedger {
    async fn unfinished_permits(&self) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError> {
        self.read(permits::unfinished).await
    }

    async fn idempotency_begin(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        payload_hash: &str,
    ) -> Result<IdempotencyBegin, LedgerError> {
        let (t, a, k, h) = owned4(tenant, agent, key, payload_hash);
        self.write(move |c| idempotency::begin(c, &t, &a, &k, &h))
            .await
    }

    async fn idempotency_complete(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        response: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        let text = crate::ledger::idempotency::response_text(response)?;
        let (t, a, k, r) = owned4(tenant, agent, key, &text);
        self.write(move |c| idempotency::complete(c, &t, &a, &k, &r))
            .await
    }

    async fn idempotency_abort(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
    ) -> Result<(), LedgerError> {
        let (t, a, k) = (tenant.to_owned(), agent.to_owned(), key.to_owned());
        self.write(move |c| idempotency::abort(c, &t, &a, &k)).await
    }

    async fn append_receipt(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        self.write_signed(move |c| receipts::append(c, draft, &key))
            .await
    }

    async fn receipt(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, LedgerError> {
        let (t, id) = (tenant.to_owned(), id.to_owned());
        self.read(move |c| receipts::by_id(c, &t, &id)).await
    }

    async fn receipts_after(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        let t = tenant.to_owned();
        self.read(move |c| receipts::after(c, &t, after_seq, limit))
            .await
    }

    async fn chain_head(&self, tenant: &str) -> Result<Option<(u64, String)>, LedgerError> {
        let t = tenant.to_owned();
        self.read(move |c| receipts::chain_head(c, &t)).await
    }

    async fn put_agent_key(
        &self,
        tenant: &str,
        agent: &str,
        key_hash: &str,
    ) -> Result<(), LedgerError> {
        let (t, a, h) = (tenant.to_owned(), agent.to_owned(), key_hash.to_owned());
        self.write(move |c| agents::put_key(c, &t, &a, &h)).await
    }

    async fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<bool, LedgerError> {
        let (t, a) = (tenant.to_owned(), agent.to_owned());
        self.write(move |c| agents::revoke(c, &t, &a)).await
    }

    async fn agent_keys(&self) -> Result<Vec<AgentKeyRow>, LedgerError> {
        self.read(agents::all).await
    }

    async fn put_profile(
        &self,
        tenant: &str,
        name: &str,
        hash: &str,
        document: &[u8],
    ) -> Result<(ProfileRow, bool), LedgerError> {
        let (t, n, h) = (tenant.to_owned(), name.to_owned(), hash.to_owned());
        let d = document.to_vec();
        self.write(move |c| profiles::put(c, &t, &n, &h, &d)).await
    }

    async fn profile_heads(&self) -> Result<Vec<ProfileRow>, LedgerError> {
        self.read(profiles::heads).await
    }

    async fn profile_document(
        &self,
        tenant: &str,
        name: &str,
        version: i64,
    ) -> Result<Option<(ProfileRow, Vec<u8>)>, LedgerError> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.read(move |c| profiles::document(c, &t, &n, version))
            .await
    }

    async fn issue_permit(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError> {
        let (adds, permit) = (adds.to_vec(), permit.clone());
        self.write_signed(move |c| issue(c, &adds, &permit, draft, &key))
            .await
    }

    async fn issue_and_consume(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError> {
        let (adds, permit) = (adds.to_vec(), permit.clone());
        self.write_signed(move |c| {
            let out = issue(c, &adds, &permit, draft, &key)?;
            if matches!(out, IssueOutcome::Issued(_)) {
                match permits::consume(c, &permit.tenant, &permit.jti, ConsumeTo::Forwarding)? {
                    ConsumeOutcome::Consumed(_) => {}
                    other => return Err(not_consumed_after_issue(&permit.jti, &other)),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn consume_for_forward(
        &self,
        tenant: &str,
        jti: &str,
    ) -> Result<ConsumeOutcome, LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.write(move |c| permits::consume(c, &t, &j, ConsumeTo::Forwarding))
            .await
    }

    async fn finish_with_receipt(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        let (t, j) = (tenant.to_owned(), jti.to_owned());
        self.write_signed(move |c| {
            permits::finish(c, &t, &j, outcome)?;
            receipts::append(c, draft, &key)
        })
        .await
    }
}

/// Apply `adds`; if every limit had room, record `permit` and append its decision receipt.
fn issue(
    c: &Connection,
    adds: &[LimitAdd],
    permit: &PermitRecord,
    draft: Receipt,
    key: &Arc<SigningKey>,
) -> Result<IssueOutcome, LedgerError> {
    if let LimitOutcome::Exceeded { limit_id } = limits::try_add(c, adds)? {
        return Ok(IssueOutcome::LimitExceeded { limit_id });
    }
    permits::record(c, permit)?;
    Ok(IssueOutcome::Issued(Box::new(receipts::append(
        c, draft, key,
    )?)))
}

fn owned4(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())
}
