//! `azure-kv:` through the rail against a local double of Azure Key Vault and the Microsoft
//! identity platform token endpoint that checks every request's shape (form params, scope,
//! bearer token, api-version) and enforces token lifetimes.
//!
//! The tests change process environment variables (`AZURE_*`): each holds the [`Env`], so they
//! run one at a time and the variables are put back after each.

use std::time::Duration;

use crate::support::{random_hex, AzureDouble, Env, Options, TestRail, AZ_CLIENT, AZ_TENANT};

fn use_client_secret(env: &mut Env, secret: &str) {
    env.set("AZURE_CLIENT_SECRET", secret);
    env.remove("AZURE_FEDERATED_TOKEN_FILE");
    // Config wins over these; set them wrong to prove it.
    env.set("AZURE_TENANT_ID", "wrong-tenant");
    env.set("AZURE_CLIENT_ID", "wrong-client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_secrets_are_fetched_with_one_cached_token() {
    let mut env = Env::lock();
    let client_secret = format!("azcs_{}", random_hex(16));
    use_client_secret(&mut env, &client_secret);
    let az = AzureDouble::start(&client_secret, 3600).await;
    let api = format!("sk_live_az_{}", random_hex(12));
    let app = format!("appkey_az_{}", random_hex(12));
    az.set_secret("kv-pay", "stripe-key", "old-version-value");
    az.set_secret("kv-pay", "stripe-key", &api);
    let app_version = az.set_secret("kv-pay", "app-key", &app);
    az.set_secret("kv-pay", "app-key", "a-newer-version");
    let rail = TestRail::start(Options {
        credential: Some("azure-kv:kv-pay/stripe-key".into()),
        extra_credentials: vec![(
            "X-App-Key".into(),
            format!("azure-kv:kv-pay/app-key/{app_version}"),
        )],
        providers: az.providers_toml(),
        ..Options::routed()
    })
    .await;
    for i in 0..3 {
        let (s, b) = rail.refund_via("pay_1").await;
        assert_eq!(s, 200, "call {i}: {}", b["code"]);
        assert!(rail.log.header(i, "authorization") == Some(format!("Bearer {api}")));
        assert!(rail.log.header(i, "x-app-key") == Some(app.clone()));
    }
    let (s, b) = rail.refund_via("echo").await;
    assert_eq!(s, 200);
    let shown = b.to_string();
    assert!(shown.contains("[REDACTED]"));
    assert!(!shown.contains(&api) && !shown.contains(&app));
    assert!(!shown.contains(&client_secret));
    assert_eq!(az.token_requests(), 1, "the token is cached");
    assert_eq!(az.secret_requests(), 8, "two secrets per call, no cache");
    assert_eq!(az.unauthorized(), 0);
    assert_eq!(az.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_tokens_are_refreshed_before_expiry_and_after_a_401() {
    let mut env = Env::lock();
    let client_secret = format!("azcs_{}", random_hex(16));
    use_client_secret(&mut env, &client_secret);
    // Tokens live 2 s: the rail refreshes them after 1 s.
    let az = AzureDouble::start(&client_secret, 2).await;
    az.set_secret("kv-pay", "stripe-key", &format!("sk_{}", random_hex(8)));
    let rail = TestRail::start(Options {
        credential: Some("azure-kv:kv-pay/stripe-key".into()),
        providers: az.providers_toml(),
        ..Options::routed()
    })
    .await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(az.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(az.token_requests(), 2, "refreshed shortly before expiry");
    assert_eq!(az.unauthorized(), 0, "never sent an expired token");
    // Revoked early: the vault answers 401, the rail fetches a new token once.
    az.revoke_tokens();
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert_eq!(az.token_requests(), 3);
    assert_eq!(az.unauthorized(), 1);
    assert_eq!(rail.log.count(), 4);
    assert_eq!(az.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_federated_token_file_is_sent_as_a_client_assertion() {
    let mut env = Env::lock();
    let dir = tempfile::tempdir().unwrap();
    let assertion = format!("eyJhbGciOiJSUzI1NiJ9.fed.{}", random_hex(16));
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, &assertion).unwrap();
    env.remove("AZURE_CLIENT_SECRET");
    env.set("AZURE_FEDERATED_TOKEN_FILE", &file);
    env.set("AZURE_TENANT_ID", AZ_TENANT);
    env.set("AZURE_CLIENT_ID", AZ_CLIENT);
    let az = AzureDouble::start(&format!("unused_{}", random_hex(8)), 3600).await;
    az.accept_federated(&assertion);
    az.set_secret("kv-pay", "stripe-key", &format!("sk_{}", random_hex(8)));
    // Tenant and client ids from the environment this time.
    let providers = format!(
        "[providers.azure]\nvault_url = \"{}\"\nauthority = \"{}\"\n",
        az.vault_url(),
        az.authority()
    );
    let rail = TestRail::start(Options {
        credential: Some("azure-kv:kv-pay/stripe-key".into()),
        providers,
        ..Options::routed()
    })
    .await;
    let (s, b) = rail.refund_via("pay_1").await;
    env.remove("AZURE_FEDERATED_TOKEN_FILE");
    assert_eq!(s, 200, "{}", b["code"]);
    assert_eq!(az.token_requests(), 1);
    assert_eq!(az.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_failures_are_503_and_nothing_is_forwarded() {
    let mut env = Env::lock();
    let client_secret = format!("azcs_{}", random_hex(16));
    use_client_secret(&mut env, &client_secret);
    let az = AzureDouble::start(&client_secret, 3600).await;
    az.set_secret("kv-pay", "stripe-key", &format!("sk_{}", random_hex(8)));
    az.set_secret("kv-pay", "locked", &format!("sk_{}", random_hex(8)));
    az.forbid("locked");
    let cases = [
        ("azure-kv:kv-pay/missing", az.providers_toml()),
        (
            "azure-kv:kv-pay/stripe-key/0000000000000000",
            az.providers_toml(),
        ),
        ("azure-kv:kv-pay/locked", az.providers_toml()),
        // Wrong tenant: the token endpoint path is refused.
        (
            "azure-kv:kv-pay/stripe-key",
            az.providers_toml().replace(AZ_TENANT, "other-tenant"),
        ),
        // Slow vault, short timeout.
        (
            "azure-kv:kv-pay/stripe-key",
            format!("{}timeout_ms = 200\n", az.providers_toml()),
        ),
    ];
    for (i, (credential, providers)) in cases.into_iter().enumerate() {
        if i == 4 {
            az.set_delay_ms(1000);
        }
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
    // Only the wrong-tenant case is a malformed request.
    assert_eq!(az.violations().len(), 1);
    // A wrong client secret is refused by the token endpoint.
    use_client_secret(&mut env, "not-the-client-secret");
    az.set_delay_ms(0);
    let rail = TestRail::start(Options {
        credential: Some("azure-kv:kv-pay/stripe-key".into()),
        providers: az.providers_toml(),
        ..Options::routed()
    })
    .await;
    assert_eq!(rail.refund_via("pay_1").await.0, 503);
    assert_eq!(rail.log.count(), 0);
}
