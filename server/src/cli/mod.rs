//! The `intentrail` command line: `serve`, `init`, `demo`, `agents`, `keys`, `receipts`,
//! `ledger`, `profiles`.
//! Every command has `--help`; long work prints progress; keys are printed once and stored
//! only as hashes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::ledger;
use crate::rail::Rail;

mod admin;
mod receipts;
mod setup;

use self::admin::{
    agents_create, agents_revoke, keys_rotate, ledger_copy, ledger_migrate, profiles_import,
};
use self::receipts::{receipts_export, receipts_verify};
pub use self::setup::DEMO_REFUNDS_PER_HOUR;
use self::setup::{demo, init};

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
    /// An MCP server on stdio for clients that launch local processes: relays every message to
    /// a rail's `/mcp` with the agent's key, so the client gets the agent's governed actions
    /// as tools.
    #[command(long_about = MCP_ABOUT)]
    Mcp(McpArgs),
}

/// `intentrail mcp --help`.
const MCP_ABOUT: &str = "\
An MCP server on stdio for clients that only launch local processes (desktop and IDE \
assistants). It holds nothing but the agent's IntentRail key and relays every MCP message to \
the rail's /mcp (Streamable HTTP), so the client gets the agent's governed actions as tools: \
each call is checked against the action's schema and the tenant's policies, executed once \
with the credential only the rail holds, and receipted. A refused call is a tool result with \
isError whose text says why and whether calling again can help.

A client configuration (the common `mcpServers` shape):

  {\"mcpServers\": {\"payments\": {
     \"command\": \"intentrail\", \"args\": [\"mcp\"],
     \"env\": {\"INTENTRAIL_URL\": \"https://rail.example.com\",
             \"INTENTRAIL_API_KEY\": \"ir_...\"}}}}

Clients that speak Streamable HTTP can use the rail directly instead: URL \
https://rail.example.com/mcp with the header `Authorization: Bearer ir_...`.";

/// `mcp` options.
#[derive(Args, Debug)]
pub struct McpArgs {
    /// The rail's base URL.
    #[arg(long, env = "INTENTRAIL_URL")]
    pub url: String,
    /// The agent's IntentRail key (prefer the environment: a flag is visible to other local
    /// users).
    #[arg(long, env = "INTENTRAIL_API_KEY", hide_env_values = true)]
    pub key: String,
    /// The agent's id, sent as `IntentRail-Agent` (optional: the key names its agent).
    #[arg(long, env = "INTENTRAIL_AGENT_ID")]
    pub agent: Option<String>,
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
        Command::Mcp(a) => {
            let relay = crate::mcp::stdio::Relay::new(&a.url, a.key, a.agent)?;
            relay
                .run(tokio::io::stdin(), tokio::io::stdout())
                .await
                .map(|()| 0)
        }
    }
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
    crate::http::serve(rail, listener, shutdown_signal())
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
