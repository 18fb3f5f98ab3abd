//! `file:/path`: a credential read from a file (Docker/Kubernetes secrets) at every fetch.
//! One trailing newline (`\n` or `\r\n`) is trimmed; anything else is kept as is.

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
        // One blocking-pool hop for open + read (tokio::fs would take one per call).
        let owned = path.to_owned();
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::Read as _;
            let f = std::fs::File::open(owned)?;
            let mut buf = Vec::with_capacity(256);
            match f.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf) {
                Ok(_) => Ok(buf),
                Err(e) => {
                    buf.zeroize();
                    Err(e)
                }
            }
        })
        .await
        .map_err(|_| CredentialError::Unavailable {
            reference: reference.clone(),
            reason: "the read task failed".into(),
        })?;
        let mut buf = match read {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CredentialError::NotFound {
                    reference: reference.clone(),
                })
            }
            Err(e) => return Err(unavailable(e)),
        };
        let invalid = |reason: &str| CredentialError::Invalid {
            reference: reference.clone(),
            reason: reason.to_owned(),
        };
        if buf.len() as u64 > MAX_FILE_BYTES {
            buf.zeroize();
            return Err(invalid("the file is larger than 64 KiB"));
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
