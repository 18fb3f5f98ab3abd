//! The optional per-connector secret cache (`cache_ttl_ms`, off by default).
//!
//! Guarantees: an entry is served only while younger than the TTL the caller asks for; values
//! live only in [`Secret`]s (wiped on drop); at most [`MAX_ENTRIES`] references are held;
//! `Debug` shows the number of entries only.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// Most references held at once; the oldest entry is evicted beyond it.
pub const MAX_ENTRIES: usize = 1024;

/// Fetched secrets by reference, with the time they were fetched.
#[derive(Default)]
pub struct SecretCache {
    entries: Mutex<HashMap<String, (Secret, Instant)>>,
}

impl SecretCache {
    /// The cached value of `reference` if it was fetched less than `ttl` ago.
    pub fn get(&self, reference: &str, ttl: Duration) -> Option<Secret> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(reference)
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(s, _)| s.clone())
    }

    /// Remember `secret` for `reference`, fetched now.
    pub fn put(&self, reference: &str, secret: &Secret) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(reference) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(reference.to_owned(), (secret.clone(), Instant::now()));
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCache")
            .field("entries", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_by_the_callers_ttl_and_are_bounded() {
        let c = SecretCache::default();
        c.put("env:A", &Secret::new("cached-value-1".into()));
        assert!(c.get("env:A", Duration::from_secs(60)).is_some());
        assert!(c.get("env:A", Duration::ZERO).is_none());
        assert!(c.get("env:B", Duration::from_secs(60)).is_none());
        for i in 0..MAX_ENTRIES + 5 {
            c.put(&format!("env:K{i}"), &Secret::new("v".into()));
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        assert!(!format!("{c:?}").contains("cached-value"));
    }
}
