//! A store access token (Azure AD bearer token, Vault client token) cached until shortly
//! before it expires. One refresh at a time: concurrent callers wait for it.
//!
//! Guarantees: the token lives only in a [`Secret`]; `Debug` says whether one is held, never
//! what it is; a token is refreshed when less than `min(5 min, lifetime / 2)` remains.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::CredentialError;
use crate::secret::Secret;

/// Refresh margin cap: a long-lived token is refreshed this long before it expires.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);

struct Held {
    token: Secret,
    refresh_at: Option<Instant>,
}

/// A cached access token.
#[derive(Default)]
pub struct TokenCache {
    slot: tokio::sync::Mutex<Option<Held>>,
    fetches: AtomicU64,
}

impl TokenCache {
    /// The cached token, or a new one from `fetch`, which returns the token and its lifetime
    /// (`None`: does not expire).
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Secret, CredentialError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Option<Duration>), CredentialError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(h) = slot.as_ref() {
            if h.refresh_at.is_none_or(|t| Instant::now() < t) {
                return Ok(h.token.clone());
            }
        }
        *slot = None;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (token, lifetime) = fetch().await?;
        let refresh_at = lifetime.map(|l| {
            let margin = MAX_REFRESH_MARGIN.min(l / 2);
            Instant::now() + (l - margin)
        });
        *slot = Some(Held {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Forget the token (the store refused it): the next [`TokenCache::get`] fetches anew.
    pub async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }

    /// How many times a token was fetched (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.slot.try_lock().map(|s| s.is_some()).ok();
        f.debug_struct("TokenCache")
            .field(
                "token",
                &held.map(|h| if h { "[redacted]" } else { "none" }),
            )
            .field("fetches", &self.fetches())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_until_shortly_before_expiry() {
        let c = TokenCache::default();
        let get = |v: &'static str, life: u64| {
            c.get(move || async move {
                Ok((Secret::new(v.into()), Some(Duration::from_millis(life))))
            })
        };
        assert!(get("t1", 200).await.expect("t1").expose() == "t1");
        assert!(get("t2", 200).await.expect("t2").expose() == "t1");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(get("t3", 200).await.expect("t3").expose() == "t3");
        assert_eq!(c.fetches(), 2);
        c.invalidate().await;
        assert!(get("t4", 200).await.expect("t4").expose() == "t4");
        assert!(!format!("{c:?}").contains("t4"));
    }
}
