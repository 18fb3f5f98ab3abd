//! Receipt chains: no gap or fork under concurrency and across a restart, each receipt
//! verifiable on its own, paging, lookups, tenants apart.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::{draft, recompute_hash, tenant, test_key, Steps};
use crate::ledger::{LedgerError, Receipt, SigningKey, GENESIS_PREV};

pub(super) fn check_chain(rows: &[Value], first_seq: u64, prev_of_first: &str) {
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
    Fut: Future<Output = Arc<dyn Steps>>,
{
    let (t, other) = (tenant(), tenant());
    let key = test_key();
    let returned = append_concurrently(open().await, &t, &other, &key).await;
    let mut seqs: Vec<u64> = returned.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());

    let l = open().await;
    let all = l.receipts_after(&t, 0, 1000).await.expect("list");
    assert_eq!(all.len(), 100);
    check_chain(&all, 1, GENESIS_PREV);
    reads_are_as_appended(&l, &t, &other, &returned, &all).await;
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

/// 100 concurrent appends to `t`, then the first of `other` (which starts its own chain).
/// Returns what the 100 appends answered.
async fn append_concurrently(
    l: Arc<dyn Steps>,
    t: &str,
    other: &str,
    key: &Arc<SigningKey>,
) -> Vec<Receipt> {
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (l, key, d) = (
                Arc::clone(&l),
                Arc::clone(key),
                draft(t, &format!("{t}-{i}")),
            );
            tokio::spawn(async move { l.append_receipt(d, key).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("join").expect("append"));
    }
    let first_other = l
        .append_receipt(draft(other, &format!("{other}-0")), Arc::clone(key))
        .await
        .expect("append other");
    assert_eq!(
        (first_other.seq, first_other.prev.as_str()),
        (1, GENESIS_PREV)
    );
    out
}

/// Lookups, paging and the head read back what was appended (`all`: `t`'s whole chain).
async fn reads_are_as_appended(
    l: &Arc<dyn Steps>,
    t: &str,
    other: &str,
    returned: &[Receipt],
    all: &[Value],
) {
    // What append returned is exactly what was stored.
    for r in returned {
        let stored = serde_json::to_value(r).expect("to_value");
        assert_eq!(all[(r.seq - 1) as usize], stored);
        assert_eq!(
            l.receipt(t, &r.id).await.expect("get"),
            Some(stored.clone())
        );
        assert_eq!(l.receipt(other, &r.id).await.expect("get"), None);
    }
    // Paging.
    let page = l.receipts_after(t, 10, 20).await.expect("page");
    assert_eq!(page.len(), 20);
    check_chain(&page, 11, all[9]["hash"].as_str().expect("hash"));
    assert!(l.receipts_after(t, 100, 10).await.expect("end").is_empty());
    assert_eq!(l.receipts_after(t, 95, 10).await.expect("tail").len(), 5);
    assert!(l.receipts_after(t, 0, 0).await.expect("zero").is_empty());
    // The head is the last committed receipt; an empty chain has none.
    assert_eq!(
        l.chain_head(t).await.expect("head"),
        Some((100, all[99]["hash"].as_str().expect("hash").to_owned()))
    );
    assert_eq!(
        l.chain_head(&format!("{t}-nobody")).await.expect("head"),
        None
    );
    assert_eq!(
        l.receipts_after(other, 0, 10).await.expect("other").len(),
        1
    );
    assert!(l.receipt(t, "nope").await.expect("get").is_none());
}
