//! The rail's configuration: one TOML file, `deny_unknown_fields` everywhere, every field
//! documented here and in `examples/intentrail.toml`. Relative paths are resolved against the
//! directory of the config file. [`Config::load`] validates everything it can without I/O to
//! downstreams (connectors, limits, bindings, lifetimes).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::forward::mapping::RequestTemplate;
use crate::forward::ConnectorConfig;
use crate::policy::limits::LimitConfig;

/// The longest permit lifetime the rail will ever issue (seconds).
pub const MAX_PERMIT_LIFETIME_SECS: u64 = 300;

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`host:port`; port 0 picks a free port). Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Ledger URL: `sqlite://PATH` (default `sqlite://intentrail.db`, relative to the config
    /// file) or `postgres://…` (several instances).
    #[serde(default = "default_ledger")]
    pub ledger: String,
    /// The rail's issuer id; a tenant's permits carry `iss = "<issuer>/tenants/<tenant>"`.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// The gateway audience (`aud`) of every permit.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Permit lifetime in seconds (default 60, at most 300).
    #[serde(default = "default_lifetime")]
    pub permit_lifetime_secs: u64,
    /// Largest request body accepted, in bytes (default 256 KiB); larger → 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Secret stores the connectors' credential references are fetched from.
    #[serde(default)]
    pub providers: crate::credentials::ProvidersConfig,
    /// The tenants.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

/// One tenant: its keys, agents, connectors, action bindings, policies and limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id (`[a-z0-9_-]`, 1–64 chars).
    pub id: String,
    /// Directory holding the tenant's Ed25519 key files (written by `intentrail init` and
    /// `intentrail keys rotate`).
    pub keys_dir: PathBuf,
    /// `sha256:` hash of the tenant's admin key (approvals, profiles, key rotation).
    #[serde(default)]
    pub admin_key_hash: Option<String>,
    /// Agents and the hashes of their API keys. More can be added at run time with
    /// `intentrail agents create` (kept in the ledger).
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Downstream connectors.
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
    /// Which catalog actions this tenant exposes, and how each maps to a downstream request.
    #[serde(default)]
    pub actions: Vec<ActionBinding>,
    /// Mirrored OpenAPI profiles this tenant serves, each bound to the connector whose base URL
    /// and credential it is forwarded with. Documents are uploaded with
    /// `PUT /v1/admin/profiles/{name}` or `intentrail profiles import` (kept in the ledger).
    #[serde(default)]
    pub profiles: Vec<ProfileBinding>,
    /// Cedar policies, inline. Exactly one of `policies` / `policies_path`.
    #[serde(default)]
    pub policies: Option<String>,
    /// Path of a Cedar policy file.
    #[serde(default)]
    pub policies_path: Option<PathBuf>,
    /// Stateful limits (count / sum per agent per window), kept in the ledger.
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
}

/// An agent and the hash of its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Agent id, unique in the tenant.
    pub id: String,
    /// `sha256:` hash of the agent's API key (`intentrail init` / `agents create` print the
    /// key once and store only this).
    pub key_hash: String,
}

/// Binds a catalog action to a connector and a request template.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBinding {
    /// Catalog action name, e.g. `money.refund`.
    pub name: String,
    /// Connector name.
    pub connector: String,
    /// How the params become the downstream request.
    pub request: RequestTemplate,
}

/// Binds a mirrored profile name to a connector: `{ name = "github", connector = "github" }`.
/// The profile's actions are `<name>.<operationId>`; its requests go to the connector's
/// `base_url` (the document's `servers` are never used), with the connector's credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBinding {
    /// Profile name (`[a-z0-9][a-z0-9_-]{0,63}`).
    pub name: String,
    /// Connector name.
    pub connector: String,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_ledger() -> String {
    "sqlite://intentrail.db".into()
}
fn default_issuer() -> String {
    "intentrail".into()
}
fn default_audience() -> String {
    "intentrail-gateway".into()
}
fn default_lifetime() -> u64 {
    60
}
fn default_max_body() -> usize {
    256 * 1024
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
}

impl Config {
    /// Read, parse, resolve relative paths and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Config::from_toml(&text, base)
            .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parse and validate TOML text; relative paths are resolved against `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        c.resolve_paths(base);
        c.validate()?;
        Ok(c)
    }

    /// Make relative paths absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let abs = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        if let Some(rest) = self.ledger.strip_prefix("sqlite://") {
            if !rest.starts_with('/') {
                self.ledger = format!("sqlite://{}", abs(Path::new(rest)).display());
            }
        }
        for t in &mut self.tenants {
            t.keys_dir = abs(&t.keys_dir);
            if let Some(p) = &t.policies_path {
                t.policies_path = Some(abs(p));
            }
        }
    }

    /// Check everything that can be checked without the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.permit_lifetime_secs == 0 || self.permit_lifetime_secs > MAX_PERMIT_LIFETIME_SECS {
            return err(format!(
                "permit_lifetime_secs must be 1..={MAX_PERMIT_LIFETIME_SECS}, got {}",
                self.permit_lifetime_secs
            ));
        }
        if self.max_body_bytes < 1024
            || self.max_body_bytes > intentrail_core::json::MAX_INPUT_BYTES
        {
            return err(format!(
                "max_body_bytes must be 1024..={}",
                intentrail_core::json::MAX_INPUT_BYTES
            ));
        }
        self.providers.validate().map_err(ConfigError)?;
        let mut tenant_ids = HashSet::new();
        for t in &self.tenants {
            if !valid_id(&t.id) {
                return err(format!(
                    "tenant id {:?} must match [a-z0-9._-]{{1,64}}",
                    t.id
                ));
            }
            if !tenant_ids.insert(&t.id) {
                return err(format!("tenant {:?} is defined twice", t.id));
            }
            let at = |m: String| ConfigError(format!("tenant {:?}: {m}", t.id));
            match (&t.policies, &t.policies_path) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => return Err(at("set exactly one of `policies` or `policies_path`".into())),
            }
            let mut agents = HashSet::new();
            for a in &t.agents {
                if a.id.is_empty() || a.id.len() > 128 || a.id.chars().any(char::is_control) {
                    return Err(at(format!("agent id {:?} is not valid", a.id)));
                }
                if !agents.insert(&a.id) {
                    return Err(at(format!("agent {:?} is defined twice", a.id)));
                }
                if !a.key_hash.starts_with("sha256:") {
                    return Err(at(format!(
                        "agent {:?}: key_hash must be a sha256: hash",
                        a.id
                    )));
                }
            }
            let mut connectors = HashSet::new();
            for c in &t.connectors {
                crate::forward::validate_connector(c)
                    .map_err(|e| at(format!("connector {:?}: {e}", c.name)))?;
                if !connectors.insert(c.name.as_str()) {
                    return Err(at(format!("connector {:?} is defined twice", c.name)));
                }
            }
            let mut actions = HashSet::new();
            for b in &t.actions {
                if !connectors.contains(b.connector.as_str()) {
                    return Err(at(format!(
                        "action {:?} uses unknown connector {:?}",
                        b.name, b.connector
                    )));
                }
                if !actions.insert(b.name.as_str()) {
                    return Err(at(format!("action {:?} is bound twice", b.name)));
                }
            }
            let mut profiles = HashSet::new();
            for p in &t.profiles {
                if !crate::profile::valid_name(&p.name) {
                    return Err(at(format!(
                        "profile name {:?} must match [a-z0-9][a-z0-9_-]{{0,63}}",
                        p.name
                    )));
                }
                if !connectors.contains(p.connector.as_str()) {
                    return Err(at(format!(
                        "profile {:?} uses unknown connector {:?}",
                        p.name, p.connector
                    )));
                }
                if actions
                    .iter()
                    .any(|a| a.split('.').next() == Some(p.name.as_str()))
                {
                    return Err(at(format!(
                        "profile {:?} has the name of a native action family",
                        p.name
                    )));
                }
                if !profiles.insert(p.name.as_str()) {
                    return Err(at(format!("profile {:?} is bound twice", p.name)));
                }
            }
            crate::policy::limits::validate_config(&t.limits).map_err(at)?;
        }
        Ok(())
    }

    /// The `iss` of a tenant's permits.
    pub fn issuer_for(&self, tenant: &str) -> String {
        format!("{}/tenants/{}", self.issuer, tenant)
    }
}

impl TenantConfig {
    /// The tenant's Cedar source (inline or read from `policies_path`).
    pub fn policy_source(&self) -> Result<String, ConfigError> {
        match (&self.policies, &self.policies_path) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| {
                ConfigError(format!(
                    "tenant {:?}: cannot read {}: {e}",
                    self.id,
                    p.display()
                ))
            }),
            (None, None) => Err(ConfigError(format!("tenant {:?}: no policies", self.id))),
        }
    }
}
