//! Idempotency records: begin, complete, abort, conflicts, per agent and per tenant.

use std::sync::Arc;

use serde_json::json;

use super::{tenant, Steps};
use crate::ledger::LedgerError;
use crate::model::IdempotencyBegin;

/// New → InProgress → Done(response); Conflict on another payload; abort frees the key.
pub(crate) async fn idempotency_lifecycle(l: Arc<dyn Steps>) {
    let t = tenant();
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k1", "h1")
            .await
            .expect("begin"),
        IdempotencyBegin::New
    );
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k1", "h1")
            .await
            .expect("begin"),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k1", "h2")
            .await
            .expect("begin"),
        IdempotencyBegin::Conflict
    );
    // Keys are per agent and per tenant.
    assert_eq!(
        l.idempotency_begin(&t, "a2", "k1", "h2")
            .await
            .expect("begin"),
        IdempotencyBegin::New
    );
    assert_eq!(
        l.idempotency_begin(&tenant(), "a1", "k1", "h2")
            .await
            .expect("begin"),
        IdempotencyBegin::New
    );
    let resp = json!({"status": 200, "body": {"id": "re_1", "amount": 5000}});
    l.idempotency_complete(&t, "a1", "k1", &resp)
        .await
        .expect("complete");
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k1", "h1")
            .await
            .expect("begin"),
        IdempotencyBegin::Done(resp.clone())
    );
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k1", "h2")
            .await
            .expect("begin"),
        IdempotencyBegin::Conflict
    );
    // Completing again keeps the first response; aborting a done key does nothing.
    l.idempotency_complete(&t, "a1", "k1", &json!({"other": true}))
        .await
        .expect("complete again");
    l.idempotency_abort(&t, "a1", "k1").await.expect("abort");
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k1", "h1")
            .await
            .expect("begin"),
        IdempotencyBegin::Done(resp)
    );
    // Abort an in-progress key: it can start again, even with another payload.
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k2", "h1")
            .await
            .expect("begin"),
        IdempotencyBegin::New
    );
    l.idempotency_abort(&t, "a1", "k2").await.expect("abort");
    assert_eq!(
        l.idempotency_begin(&t, "a1", "k2", "h9")
            .await
            .expect("begin"),
        IdempotencyBegin::New
    );
    // Completing a key never begun is a bug, reported.
    assert!(matches!(
        l.idempotency_complete(&t, "a1", "never", &json!({})).await,
        Err(LedgerError::Internal(_))
    ));
}
