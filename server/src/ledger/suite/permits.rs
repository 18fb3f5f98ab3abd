//! The permit state machine: single use under concurrency, tenancy, forward-only steps, and
//! unfinished permits across a restart.

use std::future::Future;
use std::sync::Arc;

use super::{permit, tenant, Steps};
use crate::ledger::LedgerError;
use crate::model::{ConsumeOutcome, Outcome, PermitState};

/// 50 concurrent consumes of one permit: exactly one `Consumed`, 49 `AlreadyUsed`.
pub(crate) async fn consume_is_single_use_under_concurrency(l: Arc<dyn Steps>) {
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
pub(crate) async fn consume_unknown_or_foreign_is_not_found(l: Arc<dyn Steps>) {
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
pub(crate) async fn permit_transitions_only_move_forward(l: Arc<dyn Steps>) {
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
    Fut: Future<Output = Arc<dyn Steps>>,
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
