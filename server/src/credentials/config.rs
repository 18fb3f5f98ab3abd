//! `[providers]` of the config file: the secret stores and their fetch timeouts.

use serde::{Deserialize, Serialize};

use super::{aws, azure, vault, DEFAULT_FETCH_TIMEOUT};

/// `[providers]`: the secret stores (`aws-sm:`, `azure-kv:`, `vault:`) and fetch timeouts.
/// Every field is optional; unset store settings come from the usual environment variables
/// (`AWS_REGION`, `AZURE_TENANT_ID`, `VAULT_ADDR`, …), see `docs/credentials.md`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    /// Bound on one credential fetch in ms, for every store without its own `timeout_ms`
    /// (default 2000). A fetch that takes longer answers `503 credential_unavailable`.
    #[serde(default = "default_fetch_timeout_ms")]
    pub timeout_ms: u64,
    /// AWS Secrets Manager (`aws-sm:<secret-id>[#json-field]`).
    #[serde(default)]
    pub aws: aws::AwsConfig,
    /// Azure Key Vault (`azure-kv:<vault>/<secret>[/<version>]`).
    #[serde(default)]
    pub azure: azure::AzureConfig,
    /// HashiCorp Vault / OpenBao KV v2 (`vault:<mount>/<path>#<field>`).
    #[serde(default)]
    pub vault: vault::VaultConfig,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            timeout_ms: default_fetch_timeout_ms(),
            aws: Default::default(),
            azure: Default::default(),
            vault: Default::default(),
        }
    }
}

/// Largest accepted credential fetch timeout (ms).
pub const MAX_FETCH_TIMEOUT_MS: u64 = 60_000;

impl ProvidersConfig {
    /// Check the section without the environment or the network.
    pub fn validate(&self) -> Result<(), String> {
        let check = |what: &str, t: Option<u64>| match t {
            Some(t) if t == 0 || t > MAX_FETCH_TIMEOUT_MS => Err(format!(
                "{what} must be 1..={MAX_FETCH_TIMEOUT_MS}, got {t}"
            )),
            _ => Ok(()),
        };
        check("providers.timeout_ms", Some(self.timeout_ms))?;
        check("providers.aws.timeout_ms", self.aws.timeout_ms)?;
        check("providers.azure.timeout_ms", self.azure.timeout_ms)?;
        check("providers.vault.timeout_ms", self.vault.timeout_ms)?;
        self.aws.validate()?;
        self.azure.validate()?;
        self.vault.validate()
    }
}

fn default_fetch_timeout_ms() -> u64 {
    DEFAULT_FETCH_TIMEOUT.as_millis().try_into().unwrap_or(2000)
}
