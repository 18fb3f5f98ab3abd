//! Two ledgers on one store (two rail instances) agree on single use, limits and the chain.

use std::sync::Arc;

use super::limits::add;
use super::receipts::check_chain;
use super::{draft, permit, tenant, test_key, Steps};
use crate::ledger::GENESIS_PREV;
use crate::model::{ConsumeOutcome, LimitOutcome};

/// Two ledgers on one store (two rail instances): 100 consumes of one permit split across both
/// → one winner; 60 adds against a count limit of 10 split across both → exactly 10; 100
/// appends split across both → one chain, seq 1..=100, no gap or fork.
pub(crate) async fn two_ledgers_agree(a: Arc<dyn Steps>, b: Arc<dyn Steps>) {
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
