//! A tenant's Ed25519 keys on disk: one JSON file per key in the tenant's `keys_dir`
//! (`<kid>.json`, mode 0600: `{kid, created_ms, retired_ms?, seed}`). The newest unretired key
//! signs; every key is kept so old receipts stay verifiable; a retired key stays published in
//! the JWKS until every permit it could have signed has expired (lifetime + leeway).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use intentrail_core::keys::SigningKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kid: String,
    created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_ms: Option<i64>,
    seed: String,
}

/// The loaded keys of one tenant.
pub struct TenantKeys {
    /// The signing key (newest unretired).
    pub active: Arc<SigningKey>,
    /// Keys published in the JWKS and accepted for permits: the active key plus keys retired
    /// less than the publish window ago.
    pub published: HashMap<String, VerifyingKey>,
    /// Every public key the tenant ever had (receipt verification).
    pub all: HashMap<String, VerifyingKey>,
}

fn read_key(path: &Path) -> Result<(KeyFile, SigningKey), String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let kf: KeyFile = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a key file: {e}", path.display()))?;
    let seed = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(kf.seed.as_bytes())
            .map_err(|_| format!("{}: seed is not base64url", path.display()))?,
    );
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        seed.as_slice()
            .try_into()
            .map_err(|_| format!("{}: seed must be 32 bytes", path.display()))?,
    );
    let key = SigningKey::from_bytes(&seed);
    if key.kid() != kf.kid {
        return Err(format!("{}: kid does not match the key", path.display()));
    }
    Ok((kf, key))
}

fn key_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in rd {
        let p = entry.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Load a tenant's keys. `publish_window_ms` = permit lifetime + leeway.
pub fn load(dir: &Path, now_ms: i64, publish_window_ms: i64) -> Result<TenantKeys, String> {
    let mut active: Option<(i64, SigningKey)> = None;
    let mut published = HashMap::new();
    let mut all = HashMap::new();
    for p in key_files(dir)? {
        let (kf, key) = read_key(&p)?;
        let vk = key.verifying_key();
        all.insert(kf.kid.clone(), vk);
        match kf.retired_ms {
            None => {
                published.insert(kf.kid.clone(), vk);
                if active.as_ref().is_none_or(|(c, _)| kf.created_ms > *c) {
                    active = Some((kf.created_ms, key));
                }
            }
            Some(r) if now_ms - r < publish_window_ms => {
                published.insert(kf.kid.clone(), vk);
            }
            Some(_) => {}
        }
    }
    let (_, active) = active.ok_or_else(|| {
        format!(
            "{} holds no active key; run `intentrail keys rotate`",
            dir.display()
        )
    })?;
    Ok(TenantKeys {
        active: Arc::new(active),
        published,
        all,
    })
}

/// Write a new key file (mode 0600) and retire every other active key. Returns the new kid.
pub fn generate(dir: &Path, now_ms: i64) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| format!("no randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let kid = key.kid().to_string();
    // Retire the old keys first: if we crash in between, the old key is still there (retired)
    // and `keys rotate` can simply be run again.
    if dir.exists() {
        for p in key_files(dir)? {
            let (mut kf, _) = read_key(&p)?;
            if kf.retired_ms.is_none() {
                kf.retired_ms = Some(now_ms);
                write_private(
                    &p,
                    &serde_json::to_vec_pretty(&kf).map_err(|e| e.to_string())?,
                )?;
            }
        }
    }
    let kf = KeyFile {
        kid: kid.clone(),
        created_ms: now_ms,
        retired_ms: None,
        seed: URL_SAFE_NO_PAD.encode(seed.as_ref()),
    };
    let bytes = Zeroizing::new(serde_json::to_vec_pretty(&kf).map_err(|e| e.to_string())?);
    write_private(&dir.join(format!("{kid}.json")), &bytes)?;
    Ok(kid)
}

/// Write a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_keeps_old_keys_and_switches_the_signer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k1 = generate(dir.path(), 1_000).expect("gen");
        let keys = load(dir.path(), 1_000, 65_000).expect("load");
        assert_eq!(keys.active.kid(), k1);
        let k2 = generate(dir.path(), 2_000).expect("gen");
        let keys = load(dir.path(), 2_000, 65_000).expect("load");
        assert_eq!(keys.active.kid(), k2);
        assert!(keys.published.contains_key(&k1), "old key still published");
        let later = load(dir.path(), 2_000 + 65_000, 65_000).expect("load");
        assert!(
            !later.published.contains_key(&k1),
            "old key unpublished after the window"
        );
        assert!(later.all.contains_key(&k1), "kept for receipts");
    }

    #[test]
    fn a_dir_without_keys_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path(), 0, 1).is_err());
    }
}
