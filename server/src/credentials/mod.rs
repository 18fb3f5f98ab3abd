//! Credential providers: downstream secrets are fetched at forward time, by reference.
//!
//! Guarantees: a value only ever lives in a [`Secret`]; nothing is cached unless the caller
//! asks for a TTL ([`Credentials::fetch_cached`]); every fetch is bounded by its provider's
//! timeout; errors name the reference (`env:STRIPE_KEY is not set`), never a value.
//!
//! Schemes: `env:`, `file:`, `aws-sm:` ([`aws`]), `azure-kv:` ([`azure`]), `vault:` ([`vault`]).

pub mod aws;
pub mod azure;
pub mod cache;
mod config;
mod env;
mod file;
pub mod http;
pub mod sigv4;
pub mod token;
pub mod vault;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use intentrail_core::error::{Error, ErrorKind};

use crate::secret::Secret;

pub use config::{ProvidersConfig, MAX_FETCH_TIMEOUT_MS};
pub use env::EnvProvider;
pub use file::FileProvider;

/// Default bound on one credential fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// One secret store (environment, files, AWS Secrets Manager, Azure Key Vault, Vault…).
#[async_trait::async_trait]
pub trait CredentialProvider: Send + Sync {
    /// Fetch the secret named by `reference`, given **without** its scheme
    /// (`STRIPE_KEY` for `env:STRIPE_KEY`). Errors must not contain the value.
    async fn fetch(&self, reference: &str) -> Result<Secret, CredentialError>;
}

/// Why a credential could not be fetched. Every message names the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The reference is not `scheme:rest`, or `rest` is not valid for the scheme.
    #[error("credential reference {reference:?} is malformed: {reason}")]
    Malformed {
        /// The full reference.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No provider is registered for the scheme.
    #[error("credential scheme {scheme:?} is not supported")]
    UnknownScheme {
        /// The scheme (the part before the first `:`).
        scheme: String,
    },
    /// The store answered that the credential does not exist (`env:NAME is not set`).
    #[error("{reference} is not set")]
    NotFound {
        /// The full reference.
        reference: String,
    },
    /// The credential exists but cannot be used (empty, not UTF-8, too large…).
    #[error("{reference} is unusable: {reason}")]
    Invalid {
        /// The full reference.
        reference: String,
        /// Why (never the value).
        reason: String,
    },
    /// The store failed (I/O error, network, permission…).
    #[error("{reference} could not be read: {reason}")]
    Unavailable {
        /// The full reference.
        reference: String,
        /// The store's error (never the value).
        reason: String,
    },
    /// The store did not answer within the fetch timeout.
    #[error("{reference} was not fetched within {timeout_ms} ms")]
    Timeout {
        /// The full reference.
        reference: String,
        /// The timeout that elapsed.
        timeout_ms: u64,
    },
}

impl CredentialError {
    /// The stable error kind: always [`ErrorKind::CredentialUnavailable`] (503).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::CredentialUnavailable
    }
}

impl From<CredentialError> for Error {
    fn from(e: CredentialError) -> Self {
        Error::new(ErrorKind::CredentialUnavailable, e.to_string())
    }
}

/// The registry of providers by scheme, each with a per-fetch timeout, and the optional cache.
#[derive(Clone)]
pub struct Credentials {
    providers: BTreeMap<String, (Arc<dyn CredentialProvider>, Option<Duration>)>,
    timeout: Duration,
    cache: Arc<cache::SecretCache>,
}

impl Credentials {
    /// A registry with `env` and `file` registered and [`DEFAULT_FETCH_TIMEOUT`].
    pub fn new() -> Self {
        let mut c = Credentials {
            providers: BTreeMap::new(),
            timeout: DEFAULT_FETCH_TIMEOUT,
            cache: Arc::default(),
        };
        c.register("env", Arc::new(EnvProvider));
        c.register("file", Arc::new(FileProvider::default()));
        c
    }

    /// The registry the config describes: `env`, `file`, `aws-sm`, `azure-kv` and `vault`,
    /// each bounded by its own `timeout_ms` or `[providers] timeout_ms`. Store endpoints and
    /// ids missing from both config and environment are reported when a reference needs them.
    pub fn from_config(cfg: &ProvidersConfig) -> Result<Self, String> {
        cfg.validate()?;
        let default = Duration::from_millis(cfg.timeout_ms);
        let bound = |t: Option<u64>| t.map_or(default, Duration::from_millis);
        let mut c = Credentials::new().with_timeout(default);
        let t = bound(cfg.aws.timeout_ms);
        c.register_with_timeout(
            "aws-sm",
            Arc::new(aws::AwsSecretsManager::new(&cfg.aws, t)?),
            t,
        );
        let t = bound(cfg.azure.timeout_ms);
        c.register_with_timeout(
            "azure-kv",
            Arc::new(azure::AzureKeyVault::new(&cfg.azure, t)?),
            t,
        );
        let t = bound(cfg.vault.timeout_ms);
        c.register_with_timeout("vault", Arc::new(vault::VaultKv::new(&cfg.vault, t)?), t);
        Ok(c)
    }

    /// Register (or replace) the provider for `scheme` (`aws-sm`, `azure-kv`, `vault`…),
    /// bounded by the registry's default timeout.
    pub fn register(&mut self, scheme: &str, provider: Arc<dyn CredentialProvider>) {
        self.providers.insert(scheme.to_owned(), (provider, None));
    }

    /// Register (or replace) the provider for `scheme` with its own fetch timeout.
    pub fn register_with_timeout(
        &mut self,
        scheme: &str,
        provider: Arc<dyn CredentialProvider>,
        timeout: Duration,
    ) {
        self.providers
            .insert(scheme.to_owned(), (provider, Some(timeout)));
    }

    /// Set the per-fetch timeout (builder style).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The per-fetch timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The registered schemes, sorted.
    pub fn schemes(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// Fetch `reference` (`scheme:rest`, e.g. `env:STRIPE_KEY`, `file:/run/secrets/key`) now.
    /// No caching: every call asks the store.
    pub async fn fetch(&self, reference: &str) -> Result<Secret, CredentialError> {
        let (scheme, rest) = split_reference(reference)?;
        let (provider, timeout) =
            self.providers
                .get(scheme)
                .ok_or_else(|| CredentialError::UnknownScheme {
                    scheme: scheme.to_owned(),
                })?;
        let timeout = timeout.unwrap_or(self.timeout);
        match tokio::time::timeout(timeout, provider.fetch(rest)).await {
            Ok(r) => r,
            Err(_) => Err(CredentialError::Timeout {
                reference: reference.to_owned(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    /// Like [`Credentials::fetch`], but a value fetched less than `ttl` ago is reused
    /// (`ttl` zero: always fetch). Failures are never cached.
    pub async fn fetch_cached(
        &self,
        reference: &str,
        ttl: Duration,
    ) -> Result<Secret, CredentialError> {
        if ttl.is_zero() {
            return self.fetch(reference).await;
        }
        if let Some(s) = self.cache.get(reference, ttl) {
            return Ok(s);
        }
        let s = self.fetch(reference).await?;
        self.cache.put(reference, &s);
        Ok(s)
    }
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials::new()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("schemes", &self.providers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("cache", &self.cache)
            .finish()
    }
}

/// Split `scheme:rest`; the scheme is `[a-z0-9-]+`, `rest` is non-empty.
pub fn split_reference(reference: &str) -> Result<(&str, &str), CredentialError> {
    let malformed = |reason: &str| CredentialError::Malformed {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = reference
        .split_once(':')
        .ok_or_else(|| malformed("expected scheme:reference, e.g. env:API_KEY"))?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(malformed(
            "the scheme must be lowercase letters, digits or '-'",
        ));
    }
    if rest.is_empty() {
        return Err(malformed("nothing after the scheme"));
    }
    Ok((scheme, rest))
}

#[cfg(test)]
mod tests;
