//! `init` and `demo`: the starter config, and the demo rail with its guided tour.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{load_config, say, shutdown_signal, start, DemoArgs, InitArgs};
use crate::auth::{generate_key, hash_key, ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX};
use crate::config::Config;
use crate::demo::DemoApi;
use crate::keystore;
use crate::rail::now_ms;
use crate::secret::Secret;

/// The starter configs' refund budget per agent per hour, in cents (200.00 USD): the tour
/// shows a split refund running into it.
pub const DEMO_REFUNDS_PER_HOUR: u64 = 20_000;

/// The config `init` and `demo` write.
#[allow(clippy::too_many_arguments)]
fn starter_config(
    tenant: &str,
    agent: &str,
    agent_hash: &str,
    admin_hash: &str,
    base_url: &str,
    credential: &str,
    allow_private: bool,
    listen: &str,
    refund_limit: u64,
) -> String {
    let limit = if refund_limit == 0 {
        String::new()
    } else {
        format!(
            r#"
# At most {refund_limit} cents of refunds per agent per hour, however they are split (the
# per-refund cap above cannot stop six refunds of 100.00).
[[tenants.limits]]
id = "refunds_per_hour"
actions = ["money.refund"]
window_secs = 3600
sum_param = "/amount"
max_sum = {refund_limit}
"#
        )
    };
    format!(
        r#"# IntentRail config — see examples/intentrail.toml for every field.
listen = "{listen}"
ledger = "sqlite://intentrail.db"
permit_lifetime_secs = 60

[[tenants]]
id = "{tenant}"
keys_dir = "keys/{tenant}"
admin_key_hash = "{admin_hash}"
policies = '''
@id("allow_refunds")
permit(principal, action == Action::"money.refund", resource);

@id("refund_cap")
forbid(principal, action == Action::"money.refund", resource)
  when {{ context.params.amount > 10000 }};

@id("allow_payments")
permit(principal, action == Action::"money.payment", resource)
  when {{ context.params.amount <= 50000 }};

@id("transfers_need_approval")
@approval("required")
permit(principal, action == Action::"money.transfer", resource);
'''

[[tenants.agents]]
id = "{agent}"
key_hash = "{agent_hash}"

[[tenants.connectors]]
name = "payments"
base_url = "{base_url}"
credential = "{credential}"
auth = {{ type = "bearer" }}
allow_private = {allow_private}

[[tenants.actions]]
name = "money.refund"
connector = "payments"
request = {{ method = "POST", path = "/v1/refunds" }}

[[tenants.actions]]
name = "money.payment"
connector = "payments"
request = {{ method = "POST", path = "/v1/payments" }}

[[tenants.actions]]
name = "money.transfer"
connector = "payments"
request = {{ method = "POST", path = "/v1/transfers" }}
{limit}"#
    )
}

pub(super) fn init(a: &InitArgs) -> Result<(), String> {
    let path = a.dir.join("intentrail.toml");
    if path.exists() && !a.force {
        return Err(format!(
            "{} exists; pass --force to overwrite",
            path.display()
        ));
    }
    std::fs::create_dir_all(&a.dir).map_err(|e| e.to_string())?;
    let kid = keystore::generate(&a.dir.join("keys").join(&a.tenant), now_ms())?;
    let agent_key = generate_key(AGENT_KEY_PREFIX).map_err(|e| e.to_string())?;
    let admin_key = generate_key(ADMIN_KEY_PREFIX).map_err(|e| e.to_string())?;
    let text = starter_config(
        &a.tenant,
        &a.agent,
        &hash_key(&agent_key),
        &hash_key(&admin_key),
        "https://api.payments.example",
        "env:PAYMENTS_API_KEY",
        false,
        "127.0.0.1:8080",
        a.refund_limit,
    );
    Config::from_toml(&text, &a.dir)
        .map_err(|e| format!("internal: starter config invalid: {e}"))?;
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    say(&format!(
        "wrote {} (tenant {:?}, signing key {kid})",
        path.display(),
        a.tenant
    ));
    say(&format!(
        "agent {:?} key (shown once, stored only as a hash): {}",
        a.agent,
        agent_key.as_str()
    ));
    say(&format!("admin key (shown once): {}", admin_key.as_str()));
    Ok(())
}

struct DemoInfo {
    rail_url: String,
    downstream_url: String,
    tenant: String,
    agent: String,
    api_key: Secret,
    admin_key: Secret,
}

pub(super) async fn demo(a: DemoArgs) -> Result<(), String> {
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            std::env::temp_dir().join(format!("intentrail-demo-{}", uuid::Uuid::now_v7().simple()))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    say(&format!("demo: working directory {}", dir.display()));

    // The demo payments API and the secret only the rail holds.
    let secret = generate_key("sk_demo_").map_err(|e| e.to_string())?;
    let secret_file = dir.join("payments-api-key");
    keystore::write_private(&secret_file, secret.as_bytes())?;
    let api = DemoApi::new(Secret::new(secret.to_string()));
    drop(secret);
    let down = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], a.downstream_port)))
        .await
        .map_err(|e| format!("cannot bind the demo API: {e}"))?;
    let down_addr = down.local_addr().map_err(|e| e.to_string())?;
    let router = api.router();
    tokio::spawn(async move { axum::serve(down, router).await });

    // Tenant keys, an agent key and an admin key; a config file the user can read.
    let tenant = "demo";
    let agent = "refund-bot";
    if !dir.join("keys").join(tenant).exists() {
        keystore::generate(&dir.join("keys").join(tenant), now_ms())?;
    }
    let api_key = generate_key(AGENT_KEY_PREFIX).map_err(|e| e.to_string())?;
    let admin_key = generate_key(ADMIN_KEY_PREFIX).map_err(|e| e.to_string())?;
    let text = starter_config(
        tenant,
        agent,
        &hash_key(&api_key),
        &hash_key(&admin_key),
        &format!("http://{down_addr}"),
        &format!("file:{}", secret_file.display()),
        true,
        &format!("127.0.0.1:{}", a.port),
        a.refund_limit,
    );
    let config_path = dir.join("intentrail.toml");
    std::fs::write(&config_path, &text).map_err(|e| e.to_string())?;
    let config = load_config(&config_path)?;
    let (rail, listener) = start(config).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let info = DemoInfo {
        rail_url: format!("http://{addr}"),
        downstream_url: format!("http://{down_addr}"),
        tenant: tenant.into(),
        agent: agent.into(),
        api_key: Secret::new(api_key.to_string()),
        admin_key: Secret::new(admin_key.to_string()),
    };
    let serving = tokio::spawn(crate::http::serve(rail, listener, shutdown_signal()));

    say(&format!("rail:        {}", info.rail_url));
    say(&format!(
        "demo API:    {}  (holds a secret the agent never sees)",
        info.downstream_url
    ));
    say(&format!("tenant:      {}", info.tenant));
    say(&format!("agent id:    {}", info.agent));
    say(&format!("API key:     {}", info.api_key.expose()));
    say(&format!("admin key:   {}", info.admin_key.expose()));
    say(&format!("config:      {}", config_path.display()));
    if let Some(p) = &a.env_file {
        let doc = json!({
            "rail_url": info.rail_url,
            "tenant": info.tenant,
            "agent_id": info.agent,
            "api_key": info.api_key.expose(),
            "admin_key": info.admin_key.expose(),
            "downstream_url": info.downstream_url,
            "config": config_path,
        });
        keystore::write_private(
            p,
            &serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?,
        )?;
        say(&format!("env file:    {}", p.display()));
    }
    if !a.no_tour {
        tour(&info).await?;
    }
    if a.exit_after_tour {
        serving.abort();
        return Ok(());
    }
    say("The rail is running. Press Ctrl-C to stop.");
    match serving.await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A few governed calls through the rail, printed as they happen.
async fn tour(info: &DemoInfo) -> Result<(), String> {
    let c = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        c.post(format!("{}{path}", info.rail_url))
            .bearer_auth(info.api_key.expose())
            .header("IntentRail-Agent", &info.agent)
            .json(&body)
            .send()
    };
    let show = |label: &str, status: u16, body: &Value| {
        let what = body["code"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                body["body"]["id"]
                    .as_str()
                    .map(|id| format!("downstream {} {id}", body["status"]))
            })
            .unwrap_or_default();
        say(&format!("  {label:<46} → {status} {what}"));
    };
    say("\nTour: an agent holding only its IntentRail key");
    let refund = json!({"payment_id": "pay_123", "amount": 5000, "currency": "usd"});
    let r = post("/v1/actions/money.refund", json!({"params": refund}))
        .await
        .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    let b: Value = r.json().await.map_err(|e| e.to_string())?;
    show("refund 50.00 USD (one round trip)", s, &b);
    let big = json!({"payment_id": "pay_123", "amount": 50000, "currency": "usd"});
    let r = post("/v1/actions/money.refund", json!({"params": big}))
        .await
        .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    let b: Value = r.json().await.map_err(|e| e.to_string())?;
    show("refund 500.00 USD (above the policy cap)", s, &b);
    let params = json!({"payment_id": "pay_456", "amount": 2500, "currency": "usd"});
    let r = post(
        "/v1/intents",
        json!({"action": "money.refund", "params": params}),
    )
    .await
    .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    let intent: Value = r.json().await.map_err(|e| e.to_string())?;
    say(&format!(
        "  {:<46} → {s} permit {}",
        "intent: refund 25.00 USD",
        intent["permit_id"].as_str().unwrap_or("?")
    ));
    let permit = intent["permit"].clone();
    let tampered = json!({"payment_id": "pay_456", "amount": 9999, "currency": "usd"});
    let r = post("/v1/execute", json!({"permit": permit, "params": tampered}))
        .await
        .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    let b: Value = r.json().await.map_err(|e| e.to_string())?;
    show("execute with the amount changed to 99.99", s, &b);
    let r = post("/v1/execute", json!({"permit": permit, "params": params}))
        .await
        .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    let b: Value = r.json().await.map_err(|e| e.to_string())?;
    show("execute the approved params", s, &b);
    let r = post("/v1/execute", json!({"permit": permit, "params": params}))
        .await
        .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    let b: Value = r.json().await.map_err(|e| e.to_string())?;
    show("execute the same permit again (replay)", s, &b);
    // A split refund: each part is under the per-refund cap; the hourly budget stops it.
    for part in 1..=3 {
        let split = json!({"payment_id": "pay_789", "amount": 9000, "currency": "usd"});
        let r = post("/v1/actions/money.refund", json!({"params": split}))
            .await
            .map_err(|e| e.to_string())?;
        let s = r.status().as_u16();
        let b: Value = r.json().await.map_err(|e| e.to_string())?;
        show(
            &format!("split refund: part {part} of 3 × 90.00 USD"),
            s,
            &b,
        );
    }
    let log: Value = c
        .get(format!("{}/__requests", info.downstream_url))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    say(&format!(
        "  the demo API executed {} request(s); every one carried the rail's secret, none the agent's key",
        log["executed"]
    ));
    say(&format!(
        "  receipts: curl -H 'Authorization: Bearer <admin key>' {}/v1/receipts\n",
        info.rail_url
    ));
    Ok(())
}
