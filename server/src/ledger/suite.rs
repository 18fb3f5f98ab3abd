//! The backend-agnostic ledger test suite: every backend runs these same functions (SQLite in
//! `sqlite.rs`, PostgreSQL in `postgres.rs`; [`two_ledgers_agree`] only means something for a
//! backend several instances share). Each test works in fresh random tenants, so tests may share
//! one database. Functions that need a restart take an `open` closure that opens the SAME
//! store again.

use std::future::Future;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{Ledger, LedgerError, Receipt, SigningKey, GENESIS_PREV};
use crate::model::{
    ConsumeOutcome, IdempotencyBegin, LimitAdd, LimitOutcome, Outcome, PermitRecord, PermitState,
};

/// A fresh tenant id, so tests never see each other's rows.
pub(crate) fn tenant() -> String {
    format!("t-{}", uuid::Uuid::new_v4())
}

/// The signing key the suite seals receipts with (the one place that builds a key).
pub(crate) fn test_key() -> Arc<SigningKey> {
    Arc::new(SigningKey::from_bytes(&[9u8; 32]))
}

/// An issued-permit record for `tenant`.
pub(crate) fn permit(tenant: &str, jti: &str) -> PermitRecord {
    PermitRecord {
        jti: jti.into(),
        tenant: tenant.into(),
        agent: "agent-1".into(),
        action: "money.refund".into(),
        payload_hash: "sha256:abc".into(),
        expires_at_ms: 1_900_000_000_000,
        idempotency_key: Some("idem-1".into()),
    }
}

/// A receipt draft for `tenant` (seq, prev, kid, hash, sig are the ledger's job).
pub(crate) fn draft(tenant: &str, id: &str) -> Receipt {
    Receipt {
        id: id.into(),
        seq: 0,
        prev: String::new(),
        ts: 1_700_000_000_000,
        tenant: tenant.into(),
        agent: "agent-1".into(),
        kind: intentrail_core::receipt::ReceiptKind::Execution,
        action: "money.refund".into(),
        decision: None,
        outcome: Some("success".into()),
        code: None,
        reason: None,
        permit_id: None,
        payload_hash: None,
        policy_hash: None,
        profile_version: None,
        downstream: None,
        kid: String::new(),
        hash: String::new(),
        sig: String::new(),
        batch: None,
    }
}

/// SHA-256 over JCS of the stored receipt without `hash` and `sig` (the chain's definition).
pub(crate) fn recompute_hash(v: &Value) -> String {
    let mut v = v.clone();
    let o = v.as_object_mut().expect("a receipt is an object");
    o.remove("hash");
    o.remove("sig");
    o.remove("batch");
    let canonical = intentrail_core::jcs::canonicalize(&v).expect("canonical");
    intentrail_core::hash::sha256_tagged(&canonical)
}

/// 50 concurrent consumes of one permit: exactly one `Consumed`, 49 `AlreadyUsed`.
pub(crate) async fn consume_is_single_use_under_concurrency(l: Arc<dyn Ledger>) {
    let t = tenant();
    let p = permit(&t, "jti-race");
    l.record_permit(&p).await.expect("record");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (l, t) = (Arc::clone(&l), t.clone());
            tokio::spawn(async move { l.consume_permit(&t, "jti-race").await })
        })
        .collect();
    let (mut won, mut used) = (0, 0);
    for task in tasks {
        match task.await.expect("join").expect("consume") {
            ConsumeOutcome::Consumed(rec) => {
                assert_eq!(rec, p);
                won += 1;
            }
            ConsumeOutcome::AlreadyUsed => used += 1,
            ConsumeOutcome::NotFound => panic!("a recorded permit was not found"),
        }
    }
    assert_eq!((won, used), (1, 49));
}

/// Unknown jti and another tenant's jti are both `NotFound`; recording twice is refused.
pub(crate) async fn consume_unknown_or_foreign_is_not_found(l: Arc<dyn Ledger>) {
    let (a, b) = (tenant(), tenant());
    l.record_permit(&permit(&a, "jti-a")).await.expect("record");
    assert_eq!(
        l.consume_permit(&a, "nope").await.expect("consume"),
        ConsumeOutcome::NotFound
    );
    assert_eq!(
        l.consume_permit(&b, "jti-a").await.expect("consume"),
        ConsumeOutcome::NotFound
    );
    // The foreign attempt did not burn it.
    assert!(matches!(
        l.consume_permit(&a, "jti-a").await.expect("consume"),
        ConsumeOutcome::Consumed(_)
    ));
    assert!(matches!(
        l.record_permit(&permit(&a, "jti-a")).await,
        Err(LedgerError::Internal(_))
    ));
    // The same jti in another tenant is another permit.
    l.record_permit(&permit(&b, "jti-a"))
        .await
        .expect("record b");
}

/// Permits only move forward: issued → consumed → forwarding → done; consumed → done.
pub(crate) async fn permit_transitions_only_move_forward(l: Arc<dyn Ledger>) {
    let t = tenant();
    l.record_permit(&permit(&t, "p1")).await.expect("record");
    // Not consumed yet: neither forwarding nor done.
    assert!(l.mark_forwarding(&t, "p1").await.is_err());
    assert!(l.finish_permit(&t, "p1", Outcome::Success).await.is_err());
    assert!(matches!(
        l.consume_permit(&t, "p1").await.expect("consume"),
        ConsumeOutcome::Consumed(_)
    ));
    l.mark_forwarding(&t, "p1").await.expect("forwarding");
    assert!(l.mark_forwarding(&t, "p1").await.is_err());
    l.finish_permit(&t, "p1", Outcome::Success)
        .await
        .expect("done");
    assert!(l.finish_permit(&t, "p1", Outcome::Unknown).await.is_err());
    assert_eq!(
        l.consume_permit(&t, "p1").await.expect("consume"),
        ConsumeOutcome::AlreadyUsed
    );
    // consumed → done directly (nothing was sent).
    l.record_permit(&permit(&t, "p2")).await.expect("record");
    l.consume_permit(&t, "p2").await.expect("consume");
    l.finish_permit(&t, "p2", Outcome::NotForwarded)
        .await
        .expect("done");
    // Unknown permits.
    assert!(l.mark_forwarding(&t, "ghost").await.is_err());
    assert!(l
        .finish_permit(&t, "ghost", Outcome::Success)
        .await
        .is_err());
}

/// After a restart (drop + reopen), permits left consumed or forwarding are reported with
/// their state; issued and done ones are not.
pub(crate) async fn unfinished_permits_survive_restart<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Ledger>>,
{
    let t = tenant();
    {
        let l = open().await;
        for jti in ["issued", "consumed", "forwarding", "done"] {
            l.record_permit(&permit(&t, jti)).await.expect("record");
        }
        for jti in ["consumed", "forwarding", "done"] {
            l.consume_permit(&t, jti).await.expect("consume");
        }
        l.mark_forwarding(&t, "forwarding").await.expect("fwd");
        l.mark_forwarding(&t, "done").await.expect("fwd");
        l.finish_permit(&t, "done", Outcome::Success)
            .await
            .expect("done");
    }
    let l = open().await;
    let mut mine: Vec<(String, PermitState)> = l
        .unfinished_permits()
        .await
        .expect("unfinished")
        .into_iter()
        .filter(|(r, _)| r.tenant == t)
        .map(|(r, s)| {
            assert_eq!(r, permit(&t, &r.jti));
            (r.jti, s)
        })
        .collect();
    mine.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        mine,
        vec![
            ("consumed".to_owned(), PermitState::Consumed),
            ("forwarding".to_owned(), PermitState::Forwarding),
        ]
    );
    // And the consumed state itself survived: no second consume.
    assert_eq!(
        l.consume_permit(&t, "consumed").await.expect("consume"),
        ConsumeOutcome::AlreadyUsed
    );
    assert!(matches!(
        l.consume_permit(&t, "issued").await.expect("consume"),
        ConsumeOutcome::Consumed(_)
    ));
}

/// New → InProgress → Done(response); Conflict on another payload; abort frees the key.
pub(crate) async fn idempotency_lifecycle(l: Arc<dyn Ledger>) {
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

fn add(t: &str, id: &str, window: i64, max_count: Option<u64>, max_sum: Option<f64>) -> LimitAdd {
    LimitAdd {
        tenant: t.into(),
        agent: "agent-1".into(),
        limit_id: id.into(),
        window_start_ms: window,
        max_count,
        max_sum,
        amount: 0.0,
    }
}

async fn concurrent_adds(l: &Arc<dyn Ledger>, n: usize, adds: Vec<LimitAdd>) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (l, adds) = (Arc::clone(l), adds.clone());
            tokio::spawn(async move { l.limit_try_add(&adds).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        match task.await.expect("join").expect("limit_try_add") {
            LimitOutcome::Allowed => allowed += 1,
            LimitOutcome::Exceeded { limit_id } => assert_eq!(limit_id, adds[0].limit_id),
        }
    }
    allowed
}

/// 50 concurrent adders against a count limit of 10 and a sum limit of 100 (amount 7):
/// exactly 10 and exactly 14 are allowed.
pub(crate) async fn limits_are_exact_under_concurrency(l: Arc<dyn Ledger>) {
    let t = tenant();
    let allowed = concurrent_adds(&l, 50, vec![add(&t, "count", 0, Some(10), None)]).await;
    assert_eq!(allowed, 10);
    let mut a = add(&t, "sum", 0, None, Some(100.0));
    a.amount = 7.0;
    let allowed = concurrent_adds(&l, 50, vec![a]).await;
    assert_eq!(allowed, 14);
}

/// Two limits in one call: when the second has no room, the first is not incremented either.
pub(crate) async fn limits_are_all_or_nothing(l: Arc<dyn Ledger>) {
    let t = tenant();
    let a = add(&t, "a", 0, Some(5), None);
    let mut b = add(&t, "b", 0, None, Some(10.0));
    b.amount = 4.0;
    let both = vec![a.clone(), b.clone()];
    assert_eq!(
        l.limit_try_add(&both).await.expect("add"),
        LimitOutcome::Allowed
    );
    assert_eq!(
        l.limit_try_add(&both).await.expect("add"),
        LimitOutcome::Allowed
    );
    for _ in 0..3 {
        assert_eq!(
            l.limit_try_add(&both).await.expect("add"),
            LimitOutcome::Exceeded {
                limit_id: "b".into()
            }
        );
    }
    // `a` was applied only twice: three more fit, the fourth does not.
    for _ in 0..3 {
        assert_eq!(
            l.limit_try_add(std::slice::from_ref(&a))
                .await
                .expect("add"),
            LimitOutcome::Allowed
        );
    }
    assert_eq!(
        l.limit_try_add(std::slice::from_ref(&a))
            .await
            .expect("add"),
        LimitOutcome::Exceeded {
            limit_id: "a".into()
        }
    );
    // The first limit without room is named, in call order.
    assert_eq!(
        l.limit_try_add(&[a.clone(), b.clone()]).await.expect("add"),
        LimitOutcome::Exceeded {
            limit_id: "a".into()
        }
    );
    // Two adds of one call on the same window both count.
    let one = add(&t, "one", 0, Some(1), None);
    assert_eq!(
        l.limit_try_add(&[one.clone(), one.clone()])
            .await
            .expect("add"),
        LimitOutcome::Exceeded {
            limit_id: "one".into()
        }
    );
    assert_eq!(
        l.limit_try_add(&[one]).await.expect("add"),
        LimitOutcome::Allowed
    );
    // Limits are per agent.
    let mut other = add(&t, "a", 0, Some(5), None);
    other.agent = "agent-2".into();
    assert_eq!(
        l.limit_try_add(&[other]).await.expect("add"),
        LimitOutcome::Allowed
    );
    // A NaN amount never has room; an empty call is allowed.
    let mut nan = add(&t, "nan", 0, None, Some(10.0));
    nan.amount = f64::NAN;
    assert!(matches!(
        l.limit_try_add(&[nan]).await.expect("add"),
        LimitOutcome::Exceeded { .. }
    ));
    assert_eq!(
        l.limit_try_add(&[]).await.expect("add"),
        LimitOutcome::Allowed
    );
}

/// A new window starts from zero.
pub(crate) async fn limit_window_rolls_over(l: Arc<dyn Ledger>) {
    let t = tenant();
    let w1 = add(&t, "w", 60_000, Some(2), None);
    let w2 = add(&t, "w", 120_000, Some(2), None);
    for expected in [true, true, false] {
        let got = l
            .limit_try_add(std::slice::from_ref(&w1))
            .await
            .expect("add");
        assert_eq!(got == LimitOutcome::Allowed, expected);
    }
    for expected in [true, true, false] {
        let got = l
            .limit_try_add(std::slice::from_ref(&w2))
            .await
            .expect("add");
        assert_eq!(got == LimitOutcome::Allowed, expected);
    }
}

fn check_chain(rows: &[Value], first_seq: u64, prev_of_first: &str) {
    let mut prev = prev_of_first.to_owned();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(first_seq + i as u64), "seq of {r}");
        assert_eq!(r["prev"].as_str(), Some(prev.as_str()), "prev of {r}");
        let hash = r["hash"].as_str().expect("hash").to_owned();
        assert_eq!(hash, recompute_hash(r), "hash of {r}");
        // Signed by the suite's key (over the hash, or over its batch's statement): each
        // receipt verifies on its own (a stored receipt is never unsigned).
        let start = Some((first_seq + i as u64 - 1, prev.clone()));
        intentrail_core::verify_chain(std::slice::from_ref(r), &suite_keys(), start)
            .unwrap_or_else(|e| panic!("signature of seq {}: {e}", r["seq"]));
        prev = hash;
    }
    // And as one segment.
    let start = Some((first_seq - 1, prev_of_first.to_owned()));
    intentrail_core::verify_chain(rows, &suite_keys(), start).expect("the segment verifies");
}

fn suite_keys() -> std::collections::HashMap<String, intentrail_core::VerifyingKey> {
    let k = test_key();
    std::collections::HashMap::from([(k.kid().to_owned(), k.verifying_key())])
}

/// 100 concurrent appends: seq 1..=100 with no gap, each `prev` = the previous `hash`, the
/// same after a restart; paging; tenants have independent chains; lookups by id.
pub(crate) async fn receipt_chain_has_no_gaps_or_forks<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Ledger>>,
{
    let (t, other) = (tenant(), tenant());
    let key = test_key();
    let returned: Vec<Receipt> = {
        let l = open().await;
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let (l, key, d) = (
                    Arc::clone(&l),
                    Arc::clone(&key),
                    draft(&t, &format!("{t}-{i}")),
                );
                tokio::spawn(async move { l.append_receipt(d, key).await })
            })
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("join").expect("append"));
        }
        let first_other = l
            .append_receipt(draft(&other, &format!("{other}-0")), Arc::clone(&key))
            .await
            .expect("append other");
        assert_eq!(
            (first_other.seq, first_other.prev.as_str()),
            (1, GENESIS_PREV)
        );
        out
    };
    let mut seqs: Vec<u64> = returned.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());

    let l = open().await;
    let all = l.receipts_after(&t, 0, 1000).await.expect("list");
    assert_eq!(all.len(), 100);
    check_chain(&all, 1, GENESIS_PREV);
    // What append returned is exactly what was stored.
    for r in &returned {
        let stored = serde_json::to_value(r).expect("to_value");
        assert_eq!(all[(r.seq - 1) as usize], stored);
        assert_eq!(
            l.receipt(&t, &r.id).await.expect("get"),
            Some(stored.clone())
        );
        assert_eq!(l.receipt(&other, &r.id).await.expect("get"), None);
    }
    // Paging.
    let page = l.receipts_after(&t, 10, 20).await.expect("page");
    assert_eq!(page.len(), 20);
    check_chain(&page, 11, all[9]["hash"].as_str().expect("hash"));
    assert!(l.receipts_after(&t, 100, 10).await.expect("end").is_empty());
    assert_eq!(l.receipts_after(&t, 95, 10).await.expect("tail").len(), 5);
    assert!(l.receipts_after(&t, 0, 0).await.expect("zero").is_empty());
    // The head is the last committed receipt; an empty chain has none.
    assert_eq!(
        l.chain_head(&t).await.expect("head"),
        Some((100, all[99]["hash"].as_str().expect("hash").to_owned()))
    );
    assert_eq!(
        l.chain_head(&format!("{t}-nobody")).await.expect("head"),
        None
    );
    assert_eq!(
        l.receipts_after(&other, 0, 10).await.expect("other").len(),
        1
    );
    assert!(l.receipt(&t, "nope").await.expect("get").is_none());
    // The chain goes on from the persisted head, and an id is stored once.
    let next = l
        .append_receipt(draft(&t, &format!("{t}-next")), Arc::clone(&key))
        .await
        .expect("append");
    assert_eq!(next.seq, 101);
    assert_eq!(next.prev, all[99]["hash"].as_str().expect("hash"));
    assert!(matches!(
        l.append_receipt(draft(&t, &format!("{t}-next")), key).await,
        Err(LedgerError::Internal(_))
    ));
    assert_eq!(l.receipts_after(&t, 100, 10).await.expect("tail").len(), 1);
}

/// Run-time agent keys: put, replace, revoke (with and without a stored key).
pub(crate) async fn agent_keys_put_and_revoke(l: Arc<dyn Ledger>) {
    let t = tenant();
    l.put_agent_key(&t, "bot", "sha256:k1").await.expect("put");
    assert!(l.revoke_agent(&t, "bot").await.expect("revoke"));
    assert!(!l.revoke_agent(&t, "bot").await.expect("revoke again"));
    // A config agent (no stored key) can be revoked too.
    assert!(l.revoke_agent(&t, "from-config").await.expect("revoke"));
    l.put_agent_key(&t, "fresh", "sha256:k2")
        .await
        .expect("put");
    let mine = |rows: Vec<super::AgentKeyRow>| -> Vec<(String, Option<String>, bool)> {
        rows.into_iter()
            .filter(|r| r.tenant == t)
            .map(|r| (r.agent, r.key_hash, r.revoked))
            .collect()
    };
    assert_eq!(
        mine(l.agent_keys().await.expect("list")),
        vec![
            ("bot".into(), Some("sha256:k1".into()), true),
            ("fresh".into(), Some("sha256:k2".into()), false),
            ("from-config".into(), None, true),
        ]
    );
    // A new key for an agent replaces the old one and re-enables the agent.
    l.put_agent_key(&t, "bot", "sha256:k3").await.expect("put");
    let rows = mine(l.agent_keys().await.expect("list"));
    assert_eq!(rows[0], ("bot".into(), Some("sha256:k3".into()), false));
}

/// Two ledgers on one store (two rail instances): 100 consumes of one permit split across both
/// → one winner; 60 adds against a count limit of 10 split across both → exactly 10; 100
/// appends split across both → one chain, seq 1..=100, no gap or fork.
pub(crate) async fn two_ledgers_agree(a: Arc<dyn Ledger>, b: Arc<dyn Ledger>) {
    let t = tenant();
    let pick = |i: usize| {
        if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        }
    };
    a.record_permit(&permit(&t, "shared"))
        .await
        .expect("record");
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (l, t) = (pick(i), t.clone());
            tokio::spawn(async move { l.consume_permit(&t, "shared").await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("join").expect("consume") {
            ConsumeOutcome::Consumed(_) => won += 1,
            ConsumeOutcome::AlreadyUsed => {}
            ConsumeOutcome::NotFound => panic!("the other instance did not see the permit"),
        }
    }
    assert_eq!(won, 1, "exactly one consume across both instances");

    let limit = add(&t, "shared-count", 0, Some(10), None);
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let (l, adds) = (pick(i), vec![limit.clone()]);
            tokio::spawn(async move { l.limit_try_add(&adds).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.expect("join").expect("add") == LimitOutcome::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10, "the limit holds across both instances");

    let key = test_key();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (l, key, d) = (pick(i), Arc::clone(&key), draft(&t, &format!("{t}-{i}")));
            tokio::spawn(async move { l.append_receipt(d, key).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("append");
    }
    let all = b.receipts_after(&t, 0, 1000).await.expect("list");
    assert_eq!(all.len(), 100);
    check_chain(&all, 1, GENESIS_PREV);
}

/// The composite hot-path operations keep the primitives' semantics: `issue_permit` is
/// all-or-nothing with its limits, `consume_for_forward` has exactly one winner and leaves the
/// permit `Forwarding` (so a crash then means `unknown`), `finish_with_receipt` finishes and
/// receipts together.
pub(crate) async fn composite_operations_keep_the_semantics(l: Arc<dyn Ledger>) {
    use super::IssueOutcome;
    let t = tenant();
    let key = test_key();
    // A count limit of 2: two issues pass (each recording its permit and receipt), the third
    // records nothing.
    let mut issued = Vec::new();
    for i in 0..3 {
        let p = permit(&t, &format!("jti-c{i}"));
        let out = l
            .issue_permit(
                &[add(&t, "two", 0, Some(2), None)],
                &p,
                draft(&t, &format!("r-c{i}")),
                key.clone(),
            )
            .await
            .expect("issue");
        match out {
            IssueOutcome::Issued(r) => {
                assert_eq!(r.permit_id, None);
                issued.push((p, r));
            }
            IssueOutcome::LimitExceeded { limit_id } => {
                assert_eq!((i, limit_id.as_str()), (2, "two"));
                assert_eq!(
                    l.consume_permit(&t, &p.jti).await.expect("consume"),
                    ConsumeOutcome::NotFound
                );
            }
        }
    }
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].1.seq, issued[0].1.seq + 1, "receipts chained");
    assert_eq!(
        l.receipts_after(&t, 0, 10).await.expect("receipts").len(),
        2
    );

    // 30 concurrent consume_for_forward of one permit: exactly one winner, now Forwarding.
    let jti = issued[0].0.jti.clone();
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (l, t, j) = (Arc::clone(&l), t.clone(), jti.clone());
            tokio::spawn(async move { l.consume_for_forward(&t, &j).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("join").expect("consume") {
            ConsumeOutcome::Consumed(_) => won += 1,
            ConsumeOutcome::AlreadyUsed => {}
            ConsumeOutcome::NotFound => panic!("not found"),
        }
    }
    assert_eq!(won, 1);
    // It is past `consumed` already (forwarding): marking it forwarding again is refused.
    // (Backends may hide a live instance's own in-flight permits from `unfinished_permits`.)
    assert!(l.mark_forwarding(&t, &jti).await.is_err());

    let r = l
        .finish_with_receipt(&t, &jti, Outcome::Success, draft(&t, "r-done"), key.clone())
        .await
        .expect("finish");
    assert_eq!(r.seq, 3);
    assert!(!l
        .unfinished_permits()
        .await
        .expect("unfinished")
        .iter()
        .any(|(p, _)| p.tenant == t));
    // Finishing twice is refused and appends nothing.
    assert!(l
        .finish_with_receipt(
            &t,
            &jti,
            Outcome::Success,
            draft(&t, "r-again"),
            key.clone()
        )
        .await
        .is_err());
    assert_eq!(
        l.receipts_after(&t, 0, 10).await.expect("receipts").len(),
        3
    );

    // issue_and_consume (one-shot): the permit is recorded, its receipt chained and the
    // permit already Forwarding (nobody can consume it again); a limit without room applies
    // nothing.
    let p = permit(&t, "jti-oneshot");
    let out = l
        .issue_and_consume(
            &[add(&t, "one", 0, Some(1), None)],
            &p,
            draft(&t, "r-oneshot"),
            key.clone(),
        )
        .await
        .expect("issue and consume");
    let IssueOutcome::Issued(r) = out else {
        panic!("limit had room")
    };
    assert_eq!(r.seq, 4);
    assert_eq!(
        l.consume_for_forward(&t, &p.jti).await.expect("consume"),
        ConsumeOutcome::AlreadyUsed
    );
    // Already past `consumed` (forwarding): marking it forwarding again is refused. (Backends
    // may hide a live instance's own in-flight permits from `unfinished_permits`.)
    assert!(l.mark_forwarding(&t, &p.jti).await.is_err());
    let full = permit(&t, "jti-oneshot-full");
    let out = l
        .issue_and_consume(
            &[add(&t, "one", 0, Some(1), None)],
            &full,
            draft(&t, "r-oneshot-full"),
            key.clone(),
        )
        .await
        .expect("issue and consume");
    assert_eq!(
        out,
        IssueOutcome::LimitExceeded {
            limit_id: "one".into()
        }
    );
    assert_eq!(
        l.consume_permit(&t, &full.jti).await.expect("consume"),
        ConsumeOutcome::NotFound
    );
    l.finish_with_receipt(
        &t,
        &p.jti,
        Outcome::Success,
        draft(&t, "r-oneshot-done"),
        key,
    )
    .await
    .expect("finish");
    assert_eq!(
        l.receipts_after(&t, 0, 10).await.expect("receipts").len(),
        5
    );
}

/// Profiles: versions grow by one per new document, the same document keeps its version, old
/// versions stay readable, tenants are separate.
pub(crate) async fn profiles_are_versioned(l: Arc<dyn Ledger>) {
    let (t, other) = (tenant(), tenant());
    let (v1, created) = l
        .put_profile(&t, "shop", "sha256:one", b"{\"a\":1}")
        .await
        .expect("put v1");
    assert!(created);
    assert_eq!(v1.version, 1);
    let (again, created) = l
        .put_profile(&t, "shop", "sha256:one", b"{\"a\":1}")
        .await
        .expect("put v1 again");
    assert!(!created, "the same document is not a new version");
    assert_eq!(again.version, 1);
    let (v2, created) = l
        .put_profile(&t, "shop", "sha256:two", b"{\"a\":2}")
        .await
        .expect("put v2");
    assert!(created);
    assert_eq!(v2.version, 2);
    let (o1, _) = l
        .put_profile(&other, "shop", "sha256:two", b"{}")
        .await
        .expect("other tenant");
    assert_eq!(o1.version, 1, "versions are per tenant");
    let heads: Vec<_> = l
        .profile_heads()
        .await
        .expect("heads")
        .into_iter()
        .filter(|h| h.tenant == t)
        .collect();
    assert_eq!(heads.len(), 1);
    assert_eq!(
        (heads[0].version, heads[0].hash.as_str()),
        (2, "sha256:two")
    );
    let (row, doc) = l
        .profile_document(&t, "shop", 1)
        .await
        .expect("read v1")
        .expect("v1 kept");
    assert_eq!(row.hash, "sha256:one");
    assert_eq!(doc, b"{\"a\":1}");
    assert!(l
        .profile_document(&t, "shop", 3)
        .await
        .expect("read v3")
        .is_none());
    assert!(l
        .profile_document(&other, "nope", 1)
        .await
        .expect("read other")
        .is_none());
}
