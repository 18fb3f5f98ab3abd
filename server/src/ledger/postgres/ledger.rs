//! [`Ledger`] for [`PostgresLedger`]: each call is one transaction on a pooled connection,
//! except appends, which go through the tenant's group commit (`append.rs`) with
//! the permit change that goes with their receipt.

use std::sync::Arc;

use async_trait::async_trait;

use super::append::WithReceipt;
use super::{agents, idempotency, limits, permits, profiles, receipts, PostgresLedger};
use crate::ledger::permits::ConsumeTo;
use crate::ledger::{
    AgentKeyRow, IssueOutcome, Ledger, LedgerError, ProfileRow, Receipt, SigningKey,
};
use crate::model::{
    ConsumeOutcome, IdempotencyBegin, LimitAdd, LimitOutcome, Outcome, PermitRecord, PermitState,
};

impl PostgresLedger {
    /// `issued → to` for (tenant, jti), stamped with this instance.
    pub(super) async fn consume(
        &self,
        tenant: &str,
        jti: &str,
        to: ConsumeTo,
    ) -> Result<ConsumeOutcome, LedgerError> {
        let (t, j, instance) = (tenant.to_owned(), jti.to_owned(), self.instance);
        self.with_conn("consume a permit", move |c| {
            Box::pin(async move { permits::consume(c, &t, &j, to, instance).await })
        })
        .await
    }

    /// Apply `adds` all-or-nothing.
    pub(super) async fn limit_try_add(
        &self,
        adds: &[LimitAdd],
    ) -> Result<LimitOutcome, LedgerError> {
        let adds = adds.to_vec();
        self.with_conn("apply limits", move |c| {
            Box::pin(async move { limits::try_add(c, &adds).await })
        })
        .await
    }
}

#[async_trait]
impl Ledger for PostgresLedger {
    async fn issue_permit(
        &self,
        adds: &[LimitAdd],
        permit: &PermitRecord,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<IssueOutcome, LedgerError> {
        // The limit transaction first (a crash after it only over-counts: conservative), then
        // the permit row and its receipt in the tenant's append transaction.
        if let LimitOutcome::Exceeded { limit_id } = self.limit_try_add(adds).await? {
            return Ok(IssueOutcome::LimitExceeded { limit_id });
        }
        let r = self
            .append_with(draft, key, WithReceipt::Record(Box::new(permit.clone())))
            .await?;
        Ok(IssueOutcome::Issued(Box::new(r)))
    }

    async fn consume_for_forward(
        &self,
        tenant: &str,
        jti: &str,
    ) -> Result<ConsumeOutcome, LedgerError> {
        self.consume(tenant, jti, ConsumeTo::Forwarding).await
    }

    async fn finish_with_receipt(
        &self,
        tenant: &str,
        jti: &str,
        outcome: Outcome,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        if draft.tenant != tenant {
            return Err(LedgerError::Internal(
                "a receipt was finished under another tenant".into(),
            ));
        }
        let jti = jti.to_owned();
        self.append_with(draft, key, WithReceipt::Finish { jti, outcome })
            .await
    }

    async fn unfinished_permits(&self) -> Result<Vec<(PermitRecord, PermitState)>, LedgerError> {
        self.with_conn("list unfinished permits", |c| {
            Box::pin(async move { permits::unfinished(c).await })
        })
        .await
    }

    async fn idempotency_begin(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        payload_hash: &str,
    ) -> Result<IdempotencyBegin, LedgerError> {
        let (t, a, k) = (tenant.to_owned(), agent.to_owned(), key.to_owned());
        let h = payload_hash.to_owned();
        self.with_conn("begin an idempotent request", move |c| {
            Box::pin(async move { idempotency::begin(c, &t, &a, &k, &h).await })
        })
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
        let (t, a, k) = (tenant.to_owned(), agent.to_owned(), key.to_owned());
        self.with_conn("complete an idempotent request", move |c| {
            Box::pin(async move { idempotency::complete(c, &t, &a, &k, &text).await })
        })
        .await
    }

    async fn idempotency_abort(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
    ) -> Result<(), LedgerError> {
        let (t, a, k) = (tenant.to_owned(), agent.to_owned(), key.to_owned());
        self.with_conn("abort an idempotent request", move |c| {
            Box::pin(async move { idempotency::abort(c, &t, &a, &k).await })
        })
        .await
    }

    async fn append_receipt(
        &self,
        draft: Receipt,
        key: Arc<SigningKey>,
    ) -> Result<Receipt, LedgerError> {
        self.append_with(draft, key, WithReceipt::Nothing).await
    }

    async fn receipt(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, LedgerError> {
        let (t, id) = (tenant.to_owned(), id.to_owned());
        self.with_conn("read a receipt", move |c| {
            Box::pin(async move { receipts::by_id(c, &t, &id).await })
        })
        .await
    }

    async fn receipts_after(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        let t = tenant.to_owned();
        self.with_conn("list receipts", move |c| {
            Box::pin(async move { receipts::after(c, &t, after_seq, limit).await })
        })
        .await
    }

    async fn chain_head(&self, tenant: &str) -> Result<Option<(u64, String)>, LedgerError> {
        let t = tenant.to_owned();
        self.with_conn("read the chain head", move |c| {
            Box::pin(async move { receipts::chain_head(c, &t).await })
        })
        .await
    }

    async fn put_agent_key(
        &self,
        tenant: &str,
        agent: &str,
        key_hash: &str,
    ) -> Result<(), LedgerError> {
        let (t, a, h) = (tenant.to_owned(), agent.to_owned(), key_hash.to_owned());
        self.with_conn("store an agent key", move |c| {
            Box::pin(async move { agents::put_key(c, &t, &a, &h).await })
        })
        .await
    }

    async fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<bool, LedgerError> {
        let (t, a) = (tenant.to_owned(), agent.to_owned());
        self.with_conn("revoke an agent", move |c| {
            Box::pin(async move { agents::revoke(c, &t, &a).await })
        })
        .await
    }

    async fn agent_keys(&self) -> Result<Vec<AgentKeyRow>, LedgerError> {
        self.with_conn("list agent keys", |c| {
            Box::pin(async move { agents::all(c).await })
        })
        .await
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
        self.with_conn("store a profile version", move |c| {
            Box::pin(async move { profiles::put(c, &t, &n, &h, &d).await })
        })
        .await
    }

    async fn profile_heads(&self) -> Result<Vec<ProfileRow>, LedgerError> {
        self.with_conn("list profiles", |c| {
            Box::pin(async move { profiles::heads(c).await })
        })
        .await
    }

    async fn profile_document(
        &self,
        tenant: &str,
        name: &str,
        version: i64,
    ) -> Result<Option<(ProfileRow, Vec<u8>)>, LedgerError> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.with_conn("read a profile document", move |c| {
            Box::pin(async move { profiles::document(c, &t, &n, version).await })
        })
        .await
    }
}
