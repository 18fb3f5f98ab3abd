//! The composite hot-path operations keep the single steps' semantics.

use std::sync::Arc;

use super::limits::add;
use super::{draft, permit, tenant, test_key, Steps};
use crate::ledger::{IssueOutcome, SigningKey};
use crate::model::{ConsumeOutcome, Outcome};

/// The composite hot-path operations keep the primitives' semantics: `issue_permit` is
/// all-or-nothing with its limits, `consume_for_forward` has exactly one winner and leaves the
/// permit `Forwarding` (so a crash then means `unknown`), `finish_with_receipt` finishes and
/// receipts together.
pub(crate) async fn composite_operations_keep_the_semantics(l: Arc<dyn Steps>) {
    let t = tenant();
    let key = test_key();
    let jti = issue_permit_is_all_or_nothing(&l, &t, &key).await;
    consume_for_forward_has_one_winner(&l, &t, &jti).await;
    finish_with_receipt_finishes_once(&l, &t, &jti, &key).await;
    issue_and_consume_leaves_the_permit_forwarding(&l, &t, &key).await;
}

/// Two issues under a count limit of 2 record their permits and chained receipts; the third
/// records nothing. Returns the first permit's jti.
async fn issue_permit_is_all_or_nothing(
    l: &Arc<dyn Steps>,
    t: &str,
    key: &Arc<SigningKey>,
) -> String {
    let t = t.to_owned();
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
    issued[0].0.jti.clone()
}

/// 30 concurrent `consume_for_forward` of one permit: exactly one winner, now `Forwarding`.
async fn consume_for_forward_has_one_winner(l: &Arc<dyn Steps>, t: &str, jti: &str) {
    let (t, jti) = (t.to_owned(), jti.to_owned());
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (l, t, j) = (Arc::clone(l), t.clone(), jti.clone());
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
}

/// `finish_with_receipt` finishes the permit and appends its receipt; a second finish is
/// refused and appends nothing.
async fn finish_with_receipt_finishes_once(
    l: &Arc<dyn Steps>,
    t: &str,
    jti: &str,
    key: &Arc<SigningKey>,
) {
    let (t, jti) = (t.to_owned(), jti.to_owned());
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
}

/// `issue_and_consume` (one-shot).
async fn issue_and_consume_leaves_the_permit_forwarding(
    l: &Arc<dyn Steps>,
    t: &str,
    key: &Arc<SigningKey>,
) {
    let t = t.to_owned();
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
        key.clone(),
    )
    .await
    .expect("finish");
    assert_eq!(
        l.receipts_after(&t, 0, 10).await.expect("receipts").len(),
        5
    );
}
