//! The compiled profile versions a rail holds: the newest version of each (tenant, profile),
//! and older versions loaded for permits issued under them.
//!
//! Guarantees: a version replaces the installed one only if it is newer; a version that fails
//! to load is logged once and not retried every refresh; at most [`MAX_OLD_VERSIONS`] older
//! versions stay compiled (beyond, they are loaded from the ledger again when needed).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use super::{load, ImportError, Profile};
use crate::ledger::Ledger;

/// Older profile versions kept compiled (for permits issued under them).
pub const MAX_OLD_VERSIONS: usize = 8;

/// (tenant, profile name).
type Key = (String, String);

/// The compiled profile versions of a rail.
pub struct ProfileStore {
    /// Newest version per (tenant, name).
    latest: RwLock<HashMap<Key, Arc<Profile>>>,
    /// Older versions loaded for permits issued under them.
    old: RwLock<HashMap<(String, String, i64), Arc<Profile>>>,
    /// Versions that failed to load (not retried every refresh; logged once).
    failed: RwLock<HashSet<(String, String, i64)>>,
    /// The tenant of each newly installed newest version (for MCP `tools/list_changed`).
    changed: broadcast::Sender<String>,
}

impl Default for ProfileStore {
    fn default() -> Self {
        ProfileStore {
            latest: RwLock::default(),
            old: RwLock::default(),
            failed: RwLock::default(),
            changed: broadcast::channel(64).0,
        }
    }
}

impl ProfileStore {
    /// Load the versions stored since the last call (by this or another rail instance sharing
    /// the ledger) of every profile `bound(tenant, name)` accepts.
    pub async fn refresh(&self, ledger: &dyn Ledger, bound: impl Fn(&str, &str) -> bool) {
        let heads = match ledger.profile_heads().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh profiles");
                return;
            }
        };
        for h in heads {
            if !bound(&h.tenant, &h.name) {
                continue;
            }
            let current = self.latest(&h.tenant, &h.name).map(|p| p.version);
            if current.is_some_and(|v| v >= h.version) {
                continue;
            }
            let failed_key = (h.tenant.clone(), h.name.clone(), h.version);
            if self.failed.read().is_ok_and(|f| f.contains(&failed_key)) {
                continue;
            }
            match load(ledger, &h.tenant, &h.name, h.version).await {
                Ok(Some(p)) => self.install(&h.tenant, Arc::new(p)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(tenant = %h.tenant, profile = %h.name, version = h.version, error = %e, "cannot load a profile version");
                    if matches!(e, ImportError::Invalid(_)) {
                        if let Ok(mut f) = self.failed.write() {
                            f.insert(failed_key);
                        }
                    }
                }
            }
        }
    }

    /// Make `p` the newest version of its profile (unless a newer one is installed).
    pub fn install(&self, tenant: &str, p: Arc<Profile>) {
        let key = (tenant.to_owned(), p.name.clone());
        if let Ok(mut m) = self.latest.write() {
            if let Some(old) = m.get(&key) {
                if old.version >= p.version {
                    return;
                }
                self.keep_old((key.0.clone(), key.1.clone(), old.version), old.clone());
            }
            m.insert(key, p);
        }
        // No subscriber is no error: nobody is listening.
        let _ = self.changed.send(tenant.to_owned());
    }

    /// The tenants whose catalog gains a new profile version from now on (a lagging receiver
    /// has missed some: it should assume its tenant's catalog changed).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changed.subscribe()
    }

    /// The newest version of a tenant's profile.
    pub fn latest(&self, tenant: &str, name: &str) -> Option<Arc<Profile>> {
        self.latest
            .read()
            .ok()?
            .get(&(tenant.to_owned(), name.to_owned()))
            .cloned()
    }

    /// A given version: from memory, else loaded from the ledger (and kept).
    pub async fn version(
        &self,
        ledger: &dyn Ledger,
        tenant: &str,
        name: &str,
        version: i64,
    ) -> Result<Option<Arc<Profile>>, ImportError> {
        if let Some(p) = self.latest(tenant, name).filter(|p| p.version == version) {
            return Ok(Some(p));
        }
        let key = (tenant.to_owned(), name.to_owned(), version);
        if let Some(p) = self.old.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(p));
        }
        let Some(p) = load(ledger, tenant, name, version).await? else {
            return Ok(None);
        };
        let p = Arc::new(p);
        self.keep_old(key, p.clone());
        Ok(Some(p))
    }

    fn keep_old(&self, key: (String, String, i64), p: Arc<Profile>) {
        if let Ok(mut o) = self.old.write() {
            if o.len() >= MAX_OLD_VERSIONS {
                o.clear();
            }
            o.insert(key, p);
        }
    }
}
