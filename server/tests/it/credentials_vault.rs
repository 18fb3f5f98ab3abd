//! `vault:` through the rail against a local double of HashiCorp Vault (KV v2 + AppRole) that
//! checks the requests' shape (KV v2 data path, `X-Vault-Token`, `X-Vault-Namespace`, login
//! body) and enforces token leases.
//!
//! The tests change process environment variables (`VAULT_TOKEN`, …): each holds the [`Env`], so
//! they run one at a time and the variables are put back after each.

use std::time::Duration;

use crate::support::{random_hex, silent_port, Env, Options, TestRail, VaultDouble};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_token_auth_reads_kv_v2_fields_in_a_namespace() {
    let mut env = Env::lock();
    let token = format!("hvs.{}", random_hex(16));
    env.set("VAULT_TOKEN", &token);
    let v = VaultDouble::start(Some("team-a")).await;
    v.accept_token(&token);
    let api = format!("sk_live_v_{}", random_hex(12));
    let app = format!("appkey_v_{}", random_hex(12));
    v.put(
        "secret/payments/stripe",
        json!({"api_key": api, "app_key": app, "n": 1}),
    );
    let rail = TestRail::start(Options {
        credential: Some("vault:secret/payments/stripe#api_key".into()),
        extra_credentials: vec![(
            "X-App-Key".into(),
            "vault:secret/payments/stripe#app_key".into(),
        )],
        providers: format!(
            "[providers.vault]\naddress = \"{}\"\nnamespace = \"team-a\"\n",
            v.address()
        ),
        ..Options::routed()
    })
    .await;
    let (s, b) = rail.refund_via("pay_1").await;
    assert_eq!(s, 200, "{}", b["code"]);
    assert!(rail.log.header(0, "authorization") == Some(format!("Bearer {api}")));
    assert!(rail.log.header(0, "x-app-key") == Some(app.clone()));
    let (s, b) = rail.refund_via("echo").await;
    assert_eq!(s, 200);
    let shown = b.to_string();
    assert!(!shown.contains(&api) && !shown.contains(&app) && !shown.contains(&token));
    // Rotation is seen at once.
    let rotated = format!("sk_live_v_{}", random_hex(12));
    v.put(
        "secret/payments/stripe",
        json!({"api_key": rotated, "app_key": app}),
    );
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert!(rail.log.header(2, "authorization") == Some(format!("Bearer {rotated}")));
    assert_eq!(v.reads(), 6);
    assert_eq!(v.logins(), 0);
    assert_eq!(v.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_approle_token_is_cached_per_lease_and_renewed() {
    let mut env = Env::lock();
    let dir = tempfile::tempdir().unwrap();
    let role_id = format!("role-{}", random_hex(8));
    let secret_id = format!("sid-{}", random_hex(16));
    let sid_file = dir.path().join("secret-id");
    std::fs::write(&sid_file, format!("{secret_id}\n")).unwrap();
    env.set("IR_TEST_VAULT_ROLE_ID", &role_id);
    let v = VaultDouble::start(None).await;
    v.approle(&role_id, &secret_id, 2);
    v.put(
        "kv/pay",
        json!({"api_key": format!("sk_{}", random_hex(8))}),
    );
    let rail = TestRail::start(Options {
        credential: Some("vault:kv/pay#api_key".into()),
        providers: format!(
            "[providers.vault]\naddress = \"{}\"\nauth = \"approle\"\nrole_id = \"env:IR_TEST_VAULT_ROLE_ID\"\nsecret_id = \"file:{}\"\n",
            v.address(),
            sid_file.display()
        ),
        ..Options::routed()
    })
    .await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(v.logins(), 1, "token cached for its lease");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(v.logins(), 2, "logged in again before the lease ended");
    assert_eq!(v.denied(), 0);
    v.revoke_tokens();
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(v.logins(), 3, "a 403 causes one new login");
    assert_eq!(v.denied(), 1);
    assert_eq!(rail.log.count(), 4);
    assert_eq!(v.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_failures_are_503_and_nothing_is_forwarded() {
    let mut env = Env::lock();
    let token = format!("hvs.{}", random_hex(16));
    env.set("VAULT_TOKEN", &token);
    let v = VaultDouble::start(Some("team-a")).await;
    v.accept_token(&token);
    v.put("secret/pay", json!({"api_key": "sk_present_value", "n": 5}));
    let ok = format!(
        "[providers.vault]\naddress = \"{}\"\nnamespace = \"team-a\"\n",
        v.address()
    );
    let silent_addr = silent_port().await;
    let cases = [
        ("vault:secret/missing#api_key", ok.clone()),
        ("vault:secret/pay#nope", ok.clone()),
        ("vault:secret/pay#n", ok.clone()),
        // No namespace: the double answers 403 (and records the deviation).
        (
            "vault:secret/pay#api_key",
            format!("[providers.vault]\naddress = \"{}\"\n", v.address()),
        ),
        // Token from a file that does not exist.
        (
            "vault:secret/pay#api_key",
            format!("{ok}token = \"file:/nonexistent/vault-token\"\n"),
        ),
        (
            "vault:secret/pay#api_key",
            format!("[providers.vault]\naddress = \"http://{silent_addr}\"\ntimeout_ms = 200\n"),
        ),
    ];
    for (i, (credential, providers)) in cases.into_iter().enumerate() {
        let rail = TestRail::start(Options {
            credential: Some(credential.into()),
            providers,
            ..Options::routed()
        })
        .await;
        let (s, b) = rail.refund_via("pay_1").await;
        assert_eq!(s, 503, "case {i}");
        assert_eq!(b["code"], "credential_unavailable");
        assert_eq!(rail.log.count(), 0, "case {i}: forwarded");
    }
    assert_eq!(v.violations().len(), 1);
    // A wrong token is refused.
    env.set("VAULT_TOKEN", "hvs.wrong");
    let rail = TestRail::start(Options {
        credential: Some("vault:secret/pay#api_key".into()),
        providers: ok,
        ..Options::routed()
    })
    .await;
    assert_eq!(rail.refund_via("pay_1").await.0, 503);
    assert_eq!(rail.log.count(), 0);
}
