//! `azure-kv:<vault>/<secret>[/<version>]`: Azure Key Vault "Get Secret"
//! (`GET {vault}/secrets/{name}[/{version}]?api-version=7.4`) with a bearer token from the
//! Microsoft identity platform's OAuth2 client-credentials flow.
//!
//! Guarantees: the token is fetched with the client secret (`AZURE_CLIENT_SECRET`) or a
//! federated token (`AZURE_FEDERATED_TOKEN_FILE`, read at each token fetch, sent as a
//! `client_assertion`), cached until shortly before it expires and refetched once when the
//! vault answers 401; token and value live only in [`Secret`]s; errors carry the service's
//! error code, never a value.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::{self, parse_json, read_body, take_string, transport_reason, wipe_json};
use super::token::TokenCache;
use super::{CredentialError, CredentialProvider};
use crate::secret::Secret;

/// Default vault URL pattern (`{vault}` is the vault name of the reference).
pub const DEFAULT_VAULT_URL: &str = "https://{vault}.vault.azure.net";
/// Default authority (Azure public cloud).
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Default token scope for Key Vault.
pub const DEFAULT_SCOPE: &str = "https://vault.azure.net/.default";
/// Default Key Vault REST API version.
pub const DEFAULT_API_VERSION: &str = "7.4";

/// `[providers.azure]` in the config file. Every field is optional.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Vault base URL pattern; `{vault}` is replaced by the reference's vault name.
    /// Default `https://{vault}.vault.azure.net` (sovereign clouds: `vault.azure.cn`, …).
    #[serde(default)]
    pub vault_url: Option<String>,
    /// Authority host. Default: `AZURE_AUTHORITY_HOST`, else
    /// `https://login.microsoftonline.com`. The token endpoint is
    /// `{authority}/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default)]
    pub authority: Option<String>,
    /// Directory (tenant) id. Default: `AZURE_TENANT_ID`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Application (client) id. Default: `AZURE_CLIENT_ID`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Token scope. Default `https://vault.azure.net/.default`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Key Vault API version. Default `7.4`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Bound on one fetch (token included) in ms (default: `[providers] timeout_ms`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl AzureConfig {
    /// Check what can be checked without the environment.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.vault_url {
            if p.matches("{vault}").count() != 1 {
                return Err("providers.azure.vault_url must contain {vault} once".into());
            }
            http::check_endpoint("providers.azure.vault_url", &p.replace("{vault}", "v"))?;
        }
        if let Some(a) = &self.authority {
            http::check_endpoint("providers.azure.authority", a)?;
        }
        for (what, v) in [
            ("tenant_id", &self.tenant_id),
            ("client_id", &self.client_id),
        ] {
            if let Some(v) = v {
                if !http::is_plain_segment(v) {
                    return Err(format!("providers.azure.{what} {v:?} is not valid"));
                }
            }
        }
        if let Some(v) = &self.api_version {
            if !http::is_plain_segment(v) {
                return Err(format!("providers.azure.api_version {v:?} is not valid"));
            }
        }
        if self.timeout_ms == Some(0) {
            return Err("providers.azure.timeout_ms must be positive".into());
        }
        Ok(())
    }
}

/// The Key Vault provider.
#[derive(Debug)]
pub struct AzureKeyVault {
    vault_url: String,
    authority: String,
    tenant_id: Option<String>,
    client_id: Option<String>,
    scope: String,
    api_version: String,
    client: reqwest::Client,
    token: TokenCache,
}

impl AzureKeyVault {
    /// Build from config plus the environment (authority, tenant and client ids). Missing ids
    /// are reported at fetch time.
    pub fn new(cfg: &AzureConfig, timeout: Duration) -> Result<Self, String> {
        cfg.validate()?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let authority = cfg
            .authority
            .clone()
            .or_else(|| env("AZURE_AUTHORITY_HOST"))
            .unwrap_or_else(|| DEFAULT_AUTHORITY.into());
        http::check_endpoint("Azure authority", &authority)?;
        Ok(AzureKeyVault {
            vault_url: cfg
                .vault_url
                .clone()
                .unwrap_or_else(|| DEFAULT_VAULT_URL.into()),
            authority: authority.trim_end_matches('/').to_owned(),
            tenant_id: cfg.tenant_id.clone().or_else(|| env("AZURE_TENANT_ID")),
            client_id: cfg.client_id.clone().or_else(|| env("AZURE_CLIENT_ID")),
            scope: cfg.scope.clone().unwrap_or_else(|| DEFAULT_SCOPE.into()),
            api_version: cfg
                .api_version
                .clone()
                .unwrap_or_else(|| DEFAULT_API_VERSION.into()),
            client: http::client(timeout)?,
            token: TokenCache::default(),
        })
    }

    /// One client-credentials token request.
    async fn fetch_token(&self) -> Result<(Secret, Option<Duration>), String> {
        let tenant = self
            .tenant_id
            .as_deref()
            .filter(|t| http::is_plain_segment(t))
            .ok_or("no Azure tenant id (AZURE_TENANT_ID)")?;
        let client_id = self
            .client_id
            .as_deref()
            .ok_or("no Azure client id (AZURE_CLIENT_ID)")?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let proof: (&str, Secret) = if let Some(s) = env("AZURE_CLIENT_SECRET") {
            ("client_secret", Secret::new(s))
        } else if let Some(path) = env("AZURE_FEDERATED_TOKEN_FILE") {
            let t = super::FileProvider::default()
                .fetch(&path)
                .await
                .map_err(|_| "cannot read AZURE_FEDERATED_TOKEN_FILE")?;
            ("client_assertion", t)
        } else {
            return Err("no AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE".into());
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", &self.scope),
            (proof.0, proof.1.expose()),
        ];
        if proof.0 == "client_assertion" {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let body = zeroize::Zeroizing::new(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        );
        drop(form);
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.authority);
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.as_bytes().to_vec())
            .send()
            .await
            .map_err(|e| format!("token endpoint: {}", transport_reason(&e)))?;
        let status = resp.status().as_u16();
        let bytes = read_body(resp).await?;
        let mut v = parse_json(&bytes).map_err(|r| format!("token endpoint {status}: {r}"))?;
        drop(bytes);
        if status != 200 {
            let code = v
                .get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown_error")
                .to_owned();
            wipe_json(&mut v);
            return Err(format!("token endpoint answered {status} {code}"));
        }
        let lifetime = match v.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .map(Duration::from_secs);
        let token = take_string(&mut v, "/access_token");
        wipe_json(&mut v);
        let token = token
            .filter(|t| !t.expose().is_empty())
            .ok_or("the token endpoint answered no access_token")?;
        // A token without a lifetime is still refreshed after an hour.
        Ok((token, lifetime.or(Some(Duration::from_secs(3600)))))
    }
}

/// Split `vault/secret[/version]` and check each part.
fn parse_reference(rest: &str) -> Result<(&str, &str, Option<&str>), String> {
    let parts: Vec<&str> = rest.split('/').collect();
    let (vault, name, version) = match parts.as_slice() {
        [v, n] => (*v, *n, None),
        [v, n, ver] => (*v, *n, Some(*ver)),
        _ => return Err("expected vault/secret or vault/secret/version".into()),
    };
    let ok = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !ok(vault, 24) {
        return Err("a vault name is 1-24 letters, digits or '-'".into());
    }
    if !ok(name, 127) {
        return Err("a secret name is 1-127 letters, digits or '-'".into());
    }
    if let Some(v) = version {
        if !ok(v, 64) {
            return Err("a secret version is letters and digits".into());
        }
    }
    Ok((vault, name, version))
}

#[async_trait::async_trait]
impl CredentialProvider for AzureKeyVault {
    async fn fetch(&self, rest: &str) -> Result<Secret, CredentialError> {
        let reference = format!("azure-kv:{rest}");
        let unavailable = |reason: String| CredentialError::Unavailable {
            reference: reference.clone(),
            reason,
        };
        let (vault, name, version) =
            parse_reference(rest).map_err(|reason| CredentialError::Malformed {
                reference: reference.clone(),
                reason,
            })?;
        let base = self.vault_url.replace("{vault}", vault);
        let mut url = http::check_endpoint("Azure vault URL", &base).map_err(unavailable)?;
        let path = match version {
            Some(v) => format!("{}/secrets/{name}/{v}", url.path().trim_end_matches('/')),
            None => format!("{}/secrets/{name}", url.path().trim_end_matches('/')),
        };
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("api-version", &self.api_version);
        for attempt in 0..2 {
            let token = self
                .token
                .get(|| async { self.fetch_token().await.map_err(&unavailable) })
                .await?;
            let mut auth =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| unavailable("the access token is not a valid header".into()))?;
            auth.set_sensitive(true);
            drop(token);
            let resp = self
                .client
                .get(url.clone())
                .header("authorization", auth)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| unavailable(transport_reason(&e)))?;
            let status = resp.status().as_u16();
            if status == 401 && attempt == 0 {
                // The token expired or was revoked early: get a new one, once.
                self.token.invalidate().await;
                continue;
            }
            let bytes = read_body(resp).await.map_err(unavailable)?;
            let mut v =
                parse_json(&bytes).map_err(|r| unavailable(format!("HTTP {status}: {r}")))?;
            drop(bytes);
            if status != 200 {
                let code = v
                    .pointer("/error/code")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned();
                wipe_json(&mut v);
                return Err(match (status, code.as_str()) {
                    (404, _) | (_, "SecretNotFound") => CredentialError::NotFound { reference },
                    _ => unavailable(format!("Key Vault answered {status} {code}")),
                });
            }
            let value = take_string(&mut v, "/value");
            wipe_json(&mut v);
            return match value {
                Some(s) if !s.expose().is_empty() => Ok(s),
                _ => Err(CredentialError::Invalid {
                    reference,
                    reason: "the secret has no string value".into(),
                }),
            };
        }
        Err(unavailable(
            "Key Vault refused a freshly fetched token (401)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked() {
        assert_eq!(parse_reference("kv1/stripe"), Ok(("kv1", "stripe", None)));
        assert_eq!(
            parse_reference("kv1/stripe/0123abcd"),
            Ok(("kv1", "stripe", Some("0123abcd")))
        );
        for bad in [
            "kv1",
            "kv1/",
            "/s",
            "kv1/s/v/x",
            "kv1/a.b",
            "kv1/../x",
            "k v/s",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn config_is_checked() {
        let mut c = AzureConfig::default();
        assert!(c.validate().is_ok());
        c.vault_url = Some("https://vault.example".into());
        assert!(c.validate().is_err());
        c.vault_url = Some("http://kv.example/{vault}".into());
        assert!(c.validate().is_err());
        c.vault_url = Some("http://127.0.0.1:9/{vault}".into());
        assert!(c.validate().is_ok());
    }
}
