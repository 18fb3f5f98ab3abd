//! Run-time agent keys and mirrored profile versions.

use std::sync::Arc;

use super::{tenant, Steps};

/// Run-time agent keys: put, replace, revoke (with and without a stored key).
pub(crate) async fn agent_keys_put_and_revoke(l: Arc<dyn Steps>) {
    let t = tenant();
    l.put_agent_key(&t, "bot", "sha256:k1").await.expect("put");
    assert!(l.revoke_agent(&t, "bot").await.expect("revoke"));
    assert!(!l.revoke_agent(&t, "bot").await.expect("revoke again"));
    // A config agent (no stored key) can be revoked too.
    assert!(l.revoke_agent(&t, "from-config").await.expect("revoke"));
    l.put_agent_key(&t, "fresh", "sha256:k2")
        .await
        .expect("put");
    let mine = |rows: Vec<crate::ledger::AgentKeyRow>| -> Vec<(String, Option<String>, bool)> {
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

/// Profiles: versions grow by one per new document, the same document keeps its version, old
/// versions stay readable, tenants are separate.
pub(crate) async fn profiles_are_versioned(l: Arc<dyn Steps>) {
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
