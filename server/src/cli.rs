//! The `intentrail` command line: `serve`, `init`, `demo`, `agents`, `keys`, `receipts`,
//! `ledger`, `profiles`.
//! Every command has `--help`; long work prints progress; keys are printed once and stored
//! only as hashes.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use intentrail_core::checkpoint::Checkpoint;
use intentrail_core::keys::Jwks;
use intentrail_core::receipt::verify_chain;
use serde_json::{json, Value};

use crate::app::{self, now_ms, Rail};
use crate::auth::{generate_key, hash_key, ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX};
use crate::config::Config;
use crate::demo::DemoApi;
use crate::secret::Secret;
use crate::{keystore, ledger};

/// IntentRail — the execution rail for high-stakes AI-agent actions.
#[derive(Parser, Debug)]
#[command(name = "intentrail", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the rail with a config file.
    Serve(ServeArgs),
    /// Write a new config, a tenant keypair, a first agent key and an admin key.
    Init(InitArgs),
    /// Run the rail on its embedded SQLite ledger with a demo payments API, and walk through a
    /// few governed calls.
    Demo(DemoArgs),
    /// Manage agents (keys kept in the ledger).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Manage a tenant's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Export and verify receipt chains.
    #[command(subcommand)]
    Receipts(ReceiptsCommand),
    /// Ledger maintenance: apply schema migrations, move to PostgreSQL.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Mirrored OpenAPI profiles: import a vendor's document as governed actions.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
}

/// `profiles` subcommands.
#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// Import an OpenAPI 3.0/3.1 document (JSON or YAML) as the next version of profile NAME
    /// of a tenant: every operation becomes the action `NAME.<operationId>`. The tenant's
    /// config must bind NAME to a connector (`[[tenants.profiles]]`). Prints a progress line
    /// and a summary (operations imported, skipped and why); running rails pick the new
    /// version up within a second.
    Import(ProfileImportArgs),
}

/// `profiles import` options.
#[derive(Args, Debug)]
pub struct ProfileImportArgs {
    /// The config file (for the ledger URL and tenants).
    #[arg(
        long,
        short,
        default_value = "intentrail.toml",
        env = "INTENTRAIL_CONFIG"
    )]
    pub config: PathBuf,
    /// Tenant id (default: the only tenant of the config).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Profile name (`[a-z0-9][a-z0-9_-]{0,63}`).
    pub name: String,
    /// The OpenAPI document (`.json`, `.yaml` or `.yml`).
    pub file: PathBuf,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ledger` subcommands.
#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Apply pending schema migrations to the ledger named in the config (rails also do this
    /// at start, under a lock; run it first to migrate before a rolling upgrade).
    Migrate {
        /// The config file (its `ledger` URL is migrated).
        #[arg(
            long,
            short,
            default_value = "intentrail.toml",
            env = "INTENTRAIL_CONFIG"
        )]
        config: PathBuf,
    },
    /// Copy the config's ledger (e.g. the SQLite default) into a PostgreSQL ledger: every
    /// tenant's receipt chain and the agent keys. Stop the rail first. See docs/ledger.md.
    Copy {
        /// The config file (its `ledger` URL is the source; its tenants are copied).
        #[arg(
            long,
            short,
            default_value = "intentrail.toml",
            env = "INTENTRAIL_CONFIG"
        )]
        config: PathBuf,
        /// The target `postgres://` URL (or set INTENTRAIL_LEDGER_TO, to keep the password
        /// out of the process list).
        #[arg(long, env = "INTENTRAIL_LEDGER_TO", hide_env_values = true)]
        to: String,
    },
}

/// `serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The config file.
    #[arg(
        long,
        short,
        default_value = "intentrail.toml",
        env = "INTENTRAIL_CONFIG"
    )]
    pub config: PathBuf,
    /// Override the listen address from the config.
    #[arg(long)]
    pub listen: Option<String>,
}

/// `init` options.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to write `intentrail.toml` and `keys/` into.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Tenant id.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// First agent id.
    #[arg(long, default_value = "agent-1")]
    pub agent: String,
    /// Overwrite an existing config.
    #[arg(long)]
    pub force: bool,
    /// Each agent's refund budget: at most this many cents refunded per hour, however the
    /// refunds are split. 0 writes no such limit.
    #[arg(long, default_value_t = DEMO_REFUNDS_PER_HOUR)]
    pub refund_limit: u64,
}

/// `demo` options.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Rail port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Demo payments API port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub downstream_port: u16,
    /// Write the connection details as JSON here (`rail_url`, `tenant`, `agent_id`, `api_key`,
    /// `admin_key`, `downstream_url`).
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Working directory for the config, keys and ledger (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Skip the guided tour of governed calls.
    #[arg(long)]
    pub no_tour: bool,
    /// Stop after the tour instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit_after_tour: bool,
    /// The demo agent's refund budget: at most this many cents refunded per hour, however the
    /// refunds are split (a stateful limit kept in the ledger). 0 sets no limit (load tests).
    #[arg(long, default_value_t = DEMO_REFUNDS_PER_HOUR)]
    pub refund_limit: u64,
}

/// The starter configs' refund budget per agent per hour, in cents (200.00 USD): the tour
/// shows a split refund running into it.
pub const DEMO_REFUNDS_PER_HOUR: u64 = 20_000;

/// `agents` subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// Create an agent and print its key once.
    Create(AgentArgs),
    /// Revoke every key of an agent.
    Revoke(AgentArgs),
}

/// Which agent.
#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The config file (for the ledger URL and tenants).
    #[arg(
        long,
        short,
        default_value = "intentrail.toml",
        env = "INTENTRAIL_CONFIG"
    )]
    pub config: PathBuf,
    /// Tenant id.
    #[arg(long)]
    pub tenant: String,
    /// Agent id.
    #[arg(long)]
    pub agent: String,
}

/// `keys` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a new signing key; the old one stays published until its permits expired.
    Rotate(TenantArgs),
}

/// Which tenant.
#[derive(Args, Debug)]
pub struct TenantArgs {
    /// The config file.
    #[arg(
        long,
        short,
        default_value = "intentrail.toml",
        env = "INTENTRAIL_CONFIG"
    )]
    pub config: PathBuf,
    /// Tenant id.
    #[arg(long)]
    pub tenant: String,
}

/// `receipts` subcommands.
#[derive(Subcommand, Debug)]
pub enum ReceiptsCommand {
    /// Write a tenant's whole receipt chain and every public key it used as JSON.
    Export {
        /// Which tenant.
        #[command(flatten)]
        tenant: TenantArgs,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Verify an export offline: every hash, link and signature; names the first bad seq.
    /// With a checkpoint (or an expected head) kept from earlier, an export that is missing
    /// receipts from its end, or was rewritten before that point, fails too.
    Verify {
        /// The export file.
        file: PathBuf,
        /// A JWKS file to verify against instead of the keys inside the export.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// A signed checkpoint (`GET /v1/checkpoint`) the export must reach: its signature is
        /// checked against the JWKS, then its seq and head against the chain. Repeatable.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// A head the export must reach, as `SEQ:HASH` (e.g. from an earlier verify's output).
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Vec<String>,
    },
}

/// Run a parsed command. Returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32, String> {
    match cli.command {
        Command::Serve(a) => serve(a).await.map(|()| 0),
        Command::Init(a) => init(&a).map(|()| 0),
        Command::Demo(a) => demo(a).await.map(|()| 0),
        Command::Agents(AgentsCommand::Create(a)) => agents_create(&a).await.map(|()| 0),
        Command::Agents(AgentsCommand::Revoke(a)) => agents_revoke(&a).await.map(|()| 0),
        Command::Keys(KeysCommand::Rotate(a)) => keys_rotate(&a).map(|()| 0),
        Command::Receipts(ReceiptsCommand::Export { tenant, out }) => {
            receipts_export(&tenant, out.as_deref()).await.map(|()| 0)
        }
        Command::Receipts(ReceiptsCommand::Verify {
            file,
            jwks,
            checkpoint,
            expect_head,
        }) => receipts_verify(&file, jwks.as_deref(), &checkpoint, &expect_head),
        Command::Ledger(LedgerCommand::Migrate { config }) => ledger_migrate(&config).await,
        Command::Ledger(LedgerCommand::Copy { config, to }) => ledger_copy(&config, &to).await,
        Command::Profiles(ProfilesCommand::Import(a)) => profiles_import(&a).await.map(|()| 0),
    }
}

async fn profiles_import(a: &ProfileImportArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    let tenant = match &a.tenant {
        Some(t) => tenant_of(&config, t)?,
        None => match config.tenants.as_slice() {
            [only] => only,
            _ => return Err("the config has several tenants: pass --tenant".into()),
        },
    };
    if !tenant.profiles.iter().any(|p| p.name == a.name) {
        return Err(format!(
            "tenant {:?} binds no profile {:?}: add [[tenants.profiles]] name = {:?}, connector = \"…\" to the config",
            tenant.id, a.name, a.name
        ));
    }
    let bytes =
        std::fs::read(&a.file).map_err(|e| format!("cannot read {}: {e}", a.file.display()))?;
    say_err(&format!(
        "importing {} ({} bytes) as profile {:?} of tenant {:?}…",
        a.file.display(),
        bytes.len(),
        a.name,
        tenant.id
    ));
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let imported = crate::profile::import(ledger.as_ref(), &tenant.id, &a.name, bytes)
        .await
        .map_err(|e| format!("the profile document is refused: {e}"))?;
    let ms = started.elapsed().as_millis();
    let p = &imported.profile;
    let r = &imported.report;
    if a.json {
        say(&json!({
            "name": p.name, "version": p.version, "hash": p.hash, "created": imported.created,
            "imported": r.imported, "skipped": r.skipped, "elapsed_ms": ms,
        })
        .to_string());
        return Ok(());
    }
    let what = if imported.created {
        "stored as version"
    } else {
        "unchanged: the newest stored version is already this document, version"
    };
    say(&format!(
        "profile {:?} {what} {} ({}) in {ms} ms: {} operations imported, {} skipped",
        p.name,
        p.version,
        p.hash,
        r.imported,
        r.skipped.len()
    ));
    for s in &r.skipped {
        say(&format!("  skipped {}: {}", s.operation, s.reason));
    }
    Ok(())
}

async fn ledger_migrate(config: &Path) -> Result<i32, String> {
    let config = load_config(config)?;
    if config.ledger.starts_with("postgres") {
        let (current, latest) = ledger::postgres::migrate_url(&config.ledger)
            .await
            .map_err(|e| e.to_string())?;
        say(&format!(
            "postgres ledger at schema version {current} (this binary: {latest})"
        ));
    } else {
        // Opening applies pending migrations (SQLite: under the file's write lock).
        ledger::open(&config.ledger)
            .await
            .map_err(|e| e.to_string())?;
        say("ledger schema is up to date");
    }
    Ok(0)
}

async fn ledger_copy(config: &Path, to: &str) -> Result<i32, String> {
    let config = load_config(config)?;
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err("--to must be a postgres:// URL".into());
    }
    let src = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let tenants: Vec<String> = config.tenants.iter().map(|t| t.id.clone()).collect();
    let report = ledger::copy::copy_into(src.as_ref(), &tenants, to)
        .await
        .map_err(|e| e.to_string())?;
    for (tenant, n) in &report.receipts {
        say(&format!("tenant {tenant:?}: {n} receipt(s) copied"));
    }
    say(&format!(
        "{} agent key row(s) and {} profile version(s) copied; now set `ledger = \"postgres://…\"` in the config",
        report.agent_keys, report.profile_versions
    ));
    Ok(0)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A progress line on stderr (stdout stays the summary).
fn say_err(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

async fn start(config: Config) -> Result<(Arc<Rail>, tokio::net::TcpListener), String> {
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| format!("cannot open the ledger: {e}"))?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let rail = Rail::build(config, ledger).await?;
    Ok((rail, listener))
}

async fn serve(a: ServeArgs) -> Result<(), String> {
    let mut config = Config::load(&a.config).map_err(|e| e.to_string())?;
    if let Some(l) = a.listen {
        config.listen = l;
    }
    let (rail, listener) = start(config).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "intentrail listening");
    say(&format!("intentrail listening on http://{addr}"));
    app::serve(rail, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn load_config(path: &Path) -> Result<Config, String> {
    Config::load(path).map_err(|e| e.to_string())
}

fn tenant_of<'a>(
    config: &'a Config,
    tenant: &str,
) -> Result<&'a crate::config::TenantConfig, String> {
    config
        .tenants
        .iter()
        .find(|t| t.id == tenant)
        .ok_or_else(|| format!("no tenant {tenant:?} in the config"))
}

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

fn init(a: &InitArgs) -> Result<(), String> {
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

async fn agents_create(a: &AgentArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    tenant_of(&config, &a.tenant)?;
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let key = generate_key(AGENT_KEY_PREFIX).map_err(|e| e.to_string())?;
    ledger
        .put_agent_key(&a.tenant, &a.agent, &hash_key(&key))
        .await
        .map_err(|e| e.to_string())?;
    say(&format!(
        "agent {:?} in tenant {:?} created; key (shown once): {}",
        a.agent,
        a.tenant,
        key.as_str()
    ));
    Ok(())
}

async fn agents_revoke(a: &AgentArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    tenant_of(&config, &a.tenant)?;
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    ledger
        .revoke_agent(&a.tenant, &a.agent)
        .await
        .map_err(|e| e.to_string())?;
    say(&format!(
        "agent {:?} in tenant {:?} revoked (running rails pick this up within a second)",
        a.agent, a.tenant
    ));
    Ok(())
}

fn keys_rotate(a: &TenantArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    let t = tenant_of(&config, &a.tenant)?;
    let kid = keystore::generate(&t.keys_dir, now_ms())?;
    say(&format!(
        "tenant {:?} now signs with {kid}; the previous key stays published for {} s. Restart the rail to use the new key.",
        a.tenant,
        config.permit_lifetime_secs + 5
    ));
    Ok(())
}

async fn receipts_export(a: &TenantArgs, out: Option<&Path>) -> Result<(), String> {
    let config = load_config(&a.config)?;
    let t = tenant_of(&config, &a.tenant)?;
    let keys = keystore::load(&t.keys_dir, now_ms(), 0)?;
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = ledger
            .receipts_after(&a.tenant, after, 1000)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last().and_then(|r| r["seq"].as_u64()) else {
            break;
        };
        after = last;
        all.extend(page);
        if out.is_some() {
            eprintln!("exported {} receipts…", all.len());
        }
    }
    let doc = json!({
        "tenant": a.tenant,
        "receipts": all,
        "jwks": Jwks::from_verifying_keys(keys.all.values()).map_err(|e| e.to_string())?,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    match out {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| e.to_string())?;
            eprintln!("wrote {} receipts to {}", all.len(), p.display());
        }
        None => say(&text),
    }
    Ok(())
}

fn receipts_verify(
    file: &Path,
    jwks: Option<&Path>,
    checkpoints: &[PathBuf],
    expect_heads: &[String],
) -> Result<i32, String> {
    // Expected heads first: a malformed argument is a usage error, not a failed chain.
    let mut heads = Vec::new();
    for h in expect_heads {
        let (seq, hash) = h
            .split_once(':')
            .and_then(|(s, h)| Some((s.parse::<u64>().ok()?, h.to_owned())))
            .ok_or_else(|| format!("--expect-head {h:?}: give SEQ:HASH, e.g. 42:sha256:…"))?;
        heads.push((format!("expected head {seq}"), seq, hash));
    }
    let mut cps = Vec::new();
    for p in checkpoints {
        let b = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let cp = Checkpoint::parse(&b).map_err(|e| format!("{}: {}", p.display(), e.detail()))?;
        cps.push((p.display().to_string(), cp));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    // Strict (a duplicate key could hide an edit), but not the API's 1 MiB input limit: an
    // export holds the whole chain (~0.9 KB per receipt), and it is the operator's own file.
    let limits = intentrail_core::json::Limits {
        max_bytes: bytes.len(),
        ..intentrail_core::json::Limits::default()
    };
    let doc =
        intentrail_core::json::parse_strict_with(&bytes, limits).map_err(|e| e.to_string())?;
    let receipts = doc["receipts"]
        .as_array()
        .ok_or("the export has no `receipts` array")?;
    let jwks = match jwks {
        Some(p) => {
            let b = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            Jwks::parse(&b).map_err(|e| e.to_string())?
        }
        None => {
            let b = serde_json::to_vec(&doc["jwks"]).map_err(|e| e.to_string())?;
            Jwks::parse(&b).map_err(|e| format!("the export's jwks: {e}"))?
        }
    };
    let report = match verify_chain(receipts, &jwks, None) {
        Ok(report) => report,
        Err(e) => {
            say(&format!("FAILED: {e}"));
            return Ok(1);
        }
    };
    for (name, cp) in &cps {
        let tenant = doc["tenant"].as_str().unwrap_or_default();
        let checked = if cp.tenant != tenant {
            Err(format!(
                "it is of tenant {:?}, the export of {tenant:?}",
                cp.tenant
            ))
        } else {
            cp.verify(&jwks)
                .and_then(|()| cp.check(receipts, &report))
                .map_err(|e| e.detail().to_owned())
        };
        if let Err(e) = checked {
            say(&format!("FAILED: checkpoint {name}: {e}"));
            return Ok(1);
        }
    }
    for (name, seq, hash) in &heads {
        if let Err(e) = intentrail_core::checkpoint::expect_head(receipts, &report, *seq, hash) {
            say(&format!("FAILED: {name}: {}", e.detail()));
            return Ok(1);
        }
    }
    say(&format!(
        "OK: {} receipts, seq 1..{}, head {}:{}{}",
        report.count,
        report.last_seq,
        report.last_seq,
        report.last_hash,
        match cps.len() + heads.len() {
            0 => String::new(),
            n => format!(" ({n} checkpoint(s) reached)"),
        }
    ));
    Ok(0)
}

struct DemoInfo {
    rail_url: String,
    downstream_url: String,
    tenant: String,
    agent: String,
    api_key: Secret,
    admin_key: Secret,
}

async fn demo(a: DemoArgs) -> Result<(), String> {
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
    let serving = tokio::spawn(app::serve(rail, listener, shutdown_signal()));

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
