//! The running rail: its tenants (keys, policies, connectors, bindings), the key table, the
//! ledger, the clients it forwards and fetches credentials with, and the profile versions it
//! holds. Built once from a validated config; the pipeline (`crate::pipeline`) and the HTTP
//! API (`crate::http`) read it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::VerifyingKey;
use intentrail_core::keys::{Jwks, SigningKey};
use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use crate::auth::{KeyTable, Principal};
use crate::catalog::Catalog;
use crate::config::{ActionBinding, Config, ProfileBinding};
use crate::credentials::Credentials;
use crate::forward::{ConnectorConfig, Forwarder};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::policy::{limits, PolicyEngine};
use crate::problem::AppError;
use crate::profile::store::ProfileStore;

/// Leeway the verifier allows on `exp`/`nbf` (seconds); a retired key stays published for the
/// permit lifetime plus this.
pub(crate) const LEEWAY_MS: i64 = 5_000;

/// One tenant, ready to serve.
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// The `iss` of its permits.
    pub issuer: String,
    pub(crate) signer: Arc<SigningKey>,
    pub(crate) resolver: HashMap<String, VerifyingKey>,
    pub(crate) jwks: Value,
    pub(crate) policy: PolicyEngine,
    pub(crate) limits: Vec<limits::LimitConfig>,
    pub(crate) connectors: HashMap<String, ConnectorConfig>,
    pub(crate) bindings: HashMap<String, ActionBinding>,
    pub(crate) profiles: HashMap<String, ProfileBinding>,
    pub(crate) catalog_json: Value,
}

/// The running rail: config, tenants, keys, ledger and clients.
pub struct Rail {
    /// The loaded configuration.
    pub config: Config,
    pub(crate) tenants: HashMap<String, Arc<Tenant>>,
    config_keys: KeyTable,
    pub(crate) keys: RwLock<Arc<KeyTable>>,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) forwarder: Forwarder,
    pub(crate) credentials: Credentials,
    pub(crate) profiles: ProfileStore,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh id: `prefix` + a UUIDv7 (time-ordered).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

impl Rail {
    /// Build the rail from a validated config and an open ledger.
    pub async fn build(config: Config, ledger: Arc<dyn Ledger>) -> Result<Arc<Rail>, String> {
        let catalog = Arc::new(Catalog::native());
        let now = now_ms();
        let window = i64::try_from(config.permit_lifetime_secs)
            .unwrap_or(300)
            .saturating_mul(1000)
            .saturating_add(LEEWAY_MS);
        let mut tenants = HashMap::new();
        let mut config_keys = KeyTable::default();
        for tc in &config.tenants {
            let keys = crate::keystore::load(&tc.keys_dir, now, window)
                .map_err(|e| format!("tenant {:?}: {e}", tc.id))?;
            let policy = PolicyEngine::new(&tc.policy_source().map_err(|e| e.0)?)
                .map_err(|e| format!("tenant {:?}: policies: {e}", tc.id))?;
            let mut bindings = HashMap::new();
            let mut actions = Vec::new();
            for b in &tc.actions {
                let Some(a) = catalog.get(&b.name) else {
                    return Err(format!(
                        "tenant {:?}: action {:?} is not in the catalog",
                        tc.id, b.name
                    ));
                };
                actions.push(
                    json!({"name": a.name, "description": a.description, "schema": a.schema}),
                );
                bindings.insert(b.name.clone(), b.clone());
            }
            let jwks =
                Jwks::from_verifying_keys(keys.published.values()).map_err(|e| e.to_string())?;
            for a in &tc.agents {
                config_keys.insert(
                    &a.key_hash,
                    Principal {
                        tenant: tc.id.clone(),
                        agent: a.id.clone(),
                        admin: false,
                        via: None,
                    },
                );
            }
            if let Some(h) = &tc.admin_key_hash {
                config_keys.insert(
                    h,
                    Principal {
                        tenant: tc.id.clone(),
                        agent: "admin".into(),
                        admin: true,
                        via: None,
                    },
                );
            }
            tenants.insert(
                tc.id.clone(),
                Arc::new(Tenant {
                    id: tc.id.clone(),
                    issuer: config.issuer_for(&tc.id),
                    signer: keys.active.clone(),
                    resolver: keys.published.clone(),
                    jwks: serde_json::to_value(&jwks).map_err(|e| e.to_string())?,
                    policy,
                    limits: tc.limits.clone(),
                    connectors: tc
                        .connectors
                        .iter()
                        .map(|c| (c.name.clone(), c.clone()))
                        .collect(),
                    bindings,
                    profiles: tc
                        .profiles
                        .iter()
                        .map(|p| (p.name.clone(), p.clone()))
                        .collect(),
                    catalog_json: json!({ "actions": actions }),
                }),
            );
        }
        let credentials = Credentials::from_config(&config.providers)?;
        let rail = Arc::new(Rail {
            keys: RwLock::new(Arc::new(config_keys.clone())),
            config_keys,
            config,
            tenants,
            ledger,
            catalog,
            forwarder: Forwarder::new(),
            credentials,
            profiles: ProfileStore::default(),
            metrics: Metrics::default(),
        });
        rail.refresh_keys().await;
        rail.refresh_profiles().await;
        Ok(rail)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Merge agent keys created or revoked at run time (kept in the ledger) into the table. An
    /// agent has one key: a key stored in the ledger replaces the agent's keys from the config
    /// file, so a config key once revoked never comes back when the agent gets a new key.
    pub async fn refresh_keys(&self) {
        let rows = match self.ledger.agent_keys().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh agent keys");
                return;
            }
        };
        let mut table = self.config_keys.clone();
        for r in rows.iter().filter(|r| self.tenants.contains_key(&r.tenant)) {
            let Some(key_hash) = &r.key_hash else {
                continue;
            };
            table.remove_agent(&r.tenant, &r.agent);
            table.insert(
                key_hash,
                Principal {
                    tenant: r.tenant.clone(),
                    agent: r.agent.clone(),
                    admin: false,
                    via: None,
                },
            );
        }
        for r in rows.iter().filter(|r| r.revoked) {
            table.revoke(&r.tenant, &r.agent);
        }
        if let Ok(mut k) = self.keys.write() {
            *k = Arc::new(table);
        }
    }

    /// Load profile versions stored since the last call (by this or another rail instance
    /// sharing the ledger) for every tenant that binds them.
    pub async fn refresh_profiles(&self) {
        self.profiles
            .refresh(self.ledger.as_ref(), |tenant, name| {
                self.tenants
                    .get(tenant)
                    .is_some_and(|t| t.profiles.contains_key(name))
            })
            .await;
    }

    /// The tenant of an authenticated principal.
    pub(crate) fn tenant(&self, p: &Principal) -> Result<Arc<Tenant>, AppError> {
        self.tenants
            .get(&p.tenant)
            .cloned()
            .ok_or_else(|| AppError::new(ErrorKind::Unauthenticated, "unknown tenant"))
    }
}
