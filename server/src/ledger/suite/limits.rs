//! Stateful limits: exact under concurrency, all-or-nothing across limits, windows roll over.

use std::sync::Arc;

use super::{tenant, Steps};
use crate::model::{LimitAdd, LimitOutcome};

pub(super) fn add(
    t: &str,
    id: &str,
    window: i64,
    max_count: Option<u64>,
    max_sum: Option<f64>,
) -> LimitAdd {
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

async fn concurrent_adds(l: &Arc<dyn Steps>, n: usize, adds: Vec<LimitAdd>) -> usize {
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
pub(crate) async fn limits_are_exact_under_concurrency(l: Arc<dyn Steps>) {
    let t = tenant();
    let allowed = concurrent_adds(&l, 50, vec![add(&t, "count", 0, Some(10), None)]).await;
    assert_eq!(allowed, 10);
    let mut a = add(&t, "sum", 0, None, Some(100.0));
    a.amount = 7.0;
    let allowed = concurrent_adds(&l, 50, vec![a]).await;
    assert_eq!(allowed, 14);
}

/// Two limits in one call: when the second has no room, the first is not incremented either.
pub(crate) async fn limits_are_all_or_nothing(l: Arc<dyn Steps>) {
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
pub(crate) async fn limit_window_rolls_over(l: Arc<dyn Steps>) {
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
