//! `env:NAME`: a credential from the rail's own environment, read at every fetch.

use super::{CredentialError, CredentialProvider};
use crate::secret::Secret;

/// Reads `env:NAME` from the process environment. `NAME` is `[A-Za-z0-9_]+`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvProvider;

#[async_trait::async_trait]
impl CredentialProvider for EnvProvider {
    async fn fetch(&self, name: &str) -> Result<Secret, CredentialError> {
        let reference = format!("env:{name}");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(CredentialError::Malformed {
                reference,
                reason: "an environment variable name is letters, digits and '_'".into(),
            });
        }
        match std::env::var(name) {
            Ok(v) if v.is_empty() => Err(CredentialError::Invalid {
                reference,
                reason: "the variable is empty".into(),
            }),
            Ok(v) => Ok(Secret::new(v)),
            Err(std::env::VarError::NotPresent) => Err(CredentialError::NotFound { reference }),
            Err(std::env::VarError::NotUnicode(_)) => Err(CredentialError::Invalid {
                reference,
                reason: "the value is not valid UTF-8".into(),
            }),
        }
    }
}
