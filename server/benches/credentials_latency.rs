//! Added latency per governed call for each credential provider, with and without the cache,
//! against the local endpoints (moto, the Azure Key Vault and Vault doubles). A measurement,
//! not a test: `cargo bench -p intentrail-server --bench credentials_latency` prints the table
//! (moto is used when `MOTO_SERVER` points at a moto_server, e.g. after
//! `source scripts/test-credentials.sh --setup`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{random_hex, set_aws_env, AzureDouble, Moto, Options, TestRail, VaultDouble};

const CALLS: usize = 40;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (sum seconds, count) of the rail's `credential` stage histogram.
fn credential_stage(rail: &TestRail) -> (f64, u64) {
    let text = rail.rail.metrics.render();
    let find = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{stage=\"credential\"}} ")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    (
        find("intentrail_stage_duration_seconds_sum")
            .parse()
            .unwrap_or(0.0),
        find("intentrail_stage_duration_seconds_count")
            .parse()
            .unwrap_or(0),
    )
}

/// (median end-to-end call, mean time in the credential stage) over [`CALLS`] calls.
async fn per_call(setup: Options) -> (Duration, f64) {
    let rail = TestRail::start(setup).await;
    for _ in 0..3 {
        assert_eq!(rail.refund_via("pay_1").await.0, 200);
    }
    let (sum0, n0) = credential_stage(&rail);
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t0 = Instant::now();
        let (s, _) = rail.refund_via("pay_1").await;
        times.push(t0.elapsed());
        assert_eq!(s, 200);
    }
    let (sum1, n1) = credential_stage(&rail);
    assert_eq!(n1 - n0, CALLS as u64);
    #[allow(clippy::cast_precision_loss)]
    let mean_ms = (sum1 - sum0) * 1000.0 / (n1 - n0) as f64;
    (median(times), mean_ms)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(added_latency_per_governed_call());
}

async fn added_latency_per_governed_call() {
    set_aws_env();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, format!("sk_{}", random_hex(8))).unwrap();
    std::env::set_var("IR_LAT_ENV_KEY", format!("sk_{}", random_hex(8)));
    let client_secret = format!("azcs_{}", random_hex(8));
    std::env::set_var("AZURE_CLIENT_SECRET", &client_secret);
    let az = AzureDouble::start(&client_secret, 3600).await;
    az.set_secret("kv", "api", &format!("sk_{}", random_hex(8)));
    let token = format!("hvs.{}", random_hex(8));
    std::env::set_var("VAULT_TOKEN", &token);
    let vault = VaultDouble::start(None).await;
    vault.accept_token(&token);
    vault.put("secret/api", json!({"k": format!("sk_{}", random_hex(8))}));
    let moto = Moto::start().await;
    if let Some(m) = &moto {
        m.create_secret("api", &format!("sk_{}", random_hex(8)))
            .await;
    }
    let vault_toml = format!("[providers.vault]\naddress = \"{}\"\n", vault.address());
    let mut cases: Vec<(&str, String, String)> = vec![
        ("env", "env:IR_LAT_ENV_KEY".into(), String::new()),
        ("file", format!("file:{}", file.display()), String::new()),
        ("azure-kv", "azure-kv:kv/api".into(), az.providers_toml()),
        ("vault", "vault:secret/api#k".into(), vault_toml),
    ];
    if let Some(m) = &moto {
        cases.push(("aws-sm (moto)", "aws-sm:api".into(), m.providers_toml()));
    }
    let baseline = per_call(Options {
        credential: Some("env:IR_LAT_ENV_KEY".into()),
        ..Options::routed()
    })
    .await;
    eprintln!(
        "\nmedian of {CALLS} sequential governed calls (POST /v1/actions/money.refund), {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    eprintln!(
        "baseline (env:, no cache): {:.2} ms per call end to end",
        ms(baseline.0)
    );
    eprintln!("credential stage = mean time the pipeline spends fetching the credential (its added latency)");
    eprintln!(
        "{:<16} {:>18} {:>16} {:>18} {:>16}",
        "provider", "stage, no cache", "call, no cache", "stage, cache", "call, cache"
    );
    for (name, credential, providers) in cases {
        let off = per_call(Options {
            credential: Some(credential.clone()),
            providers: providers.clone(),
            ..Options::routed()
        })
        .await;
        let on = per_call(Options {
            credential: Some(credential),
            providers,
            cache_ttl_ms: 60_000,
            ..Options::routed()
        })
        .await;
        eprintln!(
            "{name:<16} {:>15.3} ms {:>13.2} ms {:>15.3} ms {:>13.2} ms",
            off.1,
            ms(off.0),
            on.1,
            ms(on.0)
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
