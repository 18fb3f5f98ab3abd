//! `file:/path`: a credential read from a file (Docker/Kubernetes secrets) at every fetch.
//! One trailing newline (`\n` or `\r\n`) is trimmed; anything else is kept as is.

use tokio::io::AsyncReadExt;
use zeroize::Zeroize;

use super::{CredentialError, CredentialProvider};
use crate::secret::Secret;

/// Largest credential file accepted.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Reads `file:/absolute/path`.
#[derive(Debug, Clone, Default)]
pub struct FileProvider {
    _private: (),
}

#[async_trait::async_trait]
impl CredentialProvider for FileProvider {
    async fn fetch(&self, path: &str) -> Result<Secret, CredentialError> {
        let reference = format!("file:{path}");
        if !std::path::Path::new(path).is_absolute() {
            return Err(CredentialError::Malformed {
                reference,
                reason: "the path must be absolute".into(),
            });
        }
        let unavailable = |e: std::io::Error| CredentialError::Unavailable {
            reference: reference.clone(),
            reason: e.kind().to_string(),
        };
        let f = tokio::fs::File::open(path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CredentialError::NotFound {
                    reference: reference.clone(),
                }
            } else {
                unavailable(e)
            }
        })?;
        let mut buf = Vec::with_capacity(256);
        let read = f.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).await;
        let invalid = |reason: &str| CredentialError::Invalid {
            reference: reference.clone(),
            reason: reason.to_owned(),
        };
        let result = match read {
            Err(e) => Err(unavailable(e)),
            Ok(n) if n as u64 > MAX_FILE_BYTES => Err(invalid("the file is larger than 64 KiB")),
            Ok(_) => Ok(()),
        };
        if let Err(e) = result {
            buf.zeroize();
            return Err(e);
        }
        let mut value = match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => {
                e.into_bytes().zeroize();
                return Err(invalid("the file is not valid UTF-8"));
            }
        };
        if value.ends_with("\r\n") {
            value.truncate(value.len() - 2);
        } else if value.ends_with('\n') {
            value.truncate(value.len() - 1);
        }
        if value.is_empty() {
            return Err(invalid("the file is empty"));
        }
        Ok(Secret::new(value))
    }
}
