//! `vault:<mount>/<path>#<field>`: HashiCorp Vault (or OpenBao) KV version 2,
//! `GET /v1/{mount}/data/{path}` → `data.data.<field>`.
//!
//! Guarantees: authenticated with a token (`X-Vault-Token`, from an `env:`/`file:` reference
//! read at each fetch) or AppRole (`POST /v1/auth/{mount}/login` with role_id + secret_id, the
//! client token cached for its lease and fetched again once when Vault answers 403);
//! `X-Vault-Namespace` sent when configured; token and value live only in [`Secret`]s;
//! errors never quote Vault's answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::{self, parse_json, read_body, take_string, transport_reason, wipe_json};
use super::token::TokenCache;
use super::{CredentialError, CredentialProvider};
use crate::secret::Secret;

/// How the rail authenticates to Vault.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VaultAuthMethod {
    /// A client token (`token`, default `env:VAULT_TOKEN`).
    #[default]
    Token,
    /// AppRole: `role_id` + `secret_id` exchanged for a client token.
    Approle,
}

/// `[providers.vault]` in the config file. Every field is optional.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Vault address, e.g. `https://vault.internal:8200`. Default: `VAULT_ADDR`. Plain http
    /// only to loopback (a local Vault agent).
    #[serde(default)]
    pub address: Option<String>,
    /// Enterprise / HCP namespace sent as `X-Vault-Namespace`. Default: `VAULT_NAMESPACE`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `token` (default) or `approle`.
    #[serde(default)]
    pub auth: VaultAuthMethod,
    /// Token auth: where the token is, `env:NAME` or `file:/path` (default `env:VAULT_TOKEN`).
    #[serde(default)]
    pub token: Option<String>,
    /// AppRole: where the role id is (default `env:VAULT_ROLE_ID`).
    #[serde(default)]
    pub role_id: Option<String>,
    /// AppRole: where the secret id is (default `env:VAULT_SECRET_ID`).
    #[serde(default)]
    pub secret_id: Option<String>,
    /// AppRole auth mount (default `approle`).
    #[serde(default)]
    pub approle_mount: Option<String>,
    /// Bound on one fetch (login included) in ms (default: `[providers] timeout_ms`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl VaultConfig {
    /// Check what can be checked without the environment.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(a) = &self.address {
            http::check_endpoint("providers.vault.address", a)?;
        }
        if let Some(ns) = &self.namespace {
            check_namespace(ns)?;
        }
        let approle_only = [
            ("role_id", &self.role_id),
            ("secret_id", &self.secret_id),
            ("approle_mount", &self.approle_mount),
        ];
        match self.auth {
            VaultAuthMethod::Token => {
                if let Some((what, _)) = approle_only.iter().find(|(_, v)| v.is_some()) {
                    return Err(format!("providers.vault.{what} is for auth = \"approle\""));
                }
                if let Some(t) = &self.token {
                    http::check_local_reference("providers.vault.token", t)?;
                }
            }
            VaultAuthMethod::Approle => {
                if self.token.is_some() {
                    return Err("providers.vault.token is for auth = \"token\"".into());
                }
                for (what, v) in &approle_only[..2] {
                    if let Some(r) = v {
                        http::check_local_reference(&format!("providers.vault.{what}"), r)?;
                    }
                }
                if let Some(m) = &self.approle_mount {
                    if !m.split('/').all(http::is_plain_segment) {
                        return Err(format!("providers.vault.approle_mount {m:?} is not valid"));
                    }
                }
            }
        }
        if self.timeout_ms == Some(0) {
            return Err("providers.vault.timeout_ms must be positive".into());
        }
        Ok(())
    }
}

fn check_namespace(ns: &str) -> Result<(), String> {
    if ns.is_empty() || !ns.trim_matches('/').split('/').all(http::is_plain_segment) {
        return Err(format!("Vault namespace {ns:?} is not valid"));
    }
    Ok(())
}

/// The Vault KV v2 provider.
#[derive(Debug)]
pub struct VaultKv {
    address: Result<url::Url, String>,
    namespace: Option<String>,
    auth: VaultAuthMethod,
    token_ref: String,
    role_id_ref: String,
    secret_id_ref: String,
    approle_mount: String,
    client: reqwest::Client,
    token: TokenCache,
}

impl VaultKv {
    /// Build from config plus the environment (`VAULT_ADDR`, `VAULT_NAMESPACE`). A missing
    /// address is reported at fetch time.
    pub fn new(cfg: &VaultConfig, timeout: Duration) -> Result<Self, String> {
        cfg.validate()?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let address = match cfg.address.clone().or_else(|| env("VAULT_ADDR")) {
            Some(a) => Ok(http::check_endpoint("Vault address", &a)?),
            None => Err("no Vault address (set providers.vault.address or VAULT_ADDR)".into()),
        };
        let namespace = cfg.namespace.clone().or_else(|| env("VAULT_NAMESPACE"));
        if let Some(ns) = &namespace {
            check_namespace(ns)?;
        }
        Ok(VaultKv {
            address,
            namespace,
            auth: cfg.auth,
            token_ref: cfg
                .token
                .clone()
                .unwrap_or_else(|| "env:VAULT_TOKEN".into()),
            role_id_ref: cfg
                .role_id
                .clone()
                .unwrap_or_else(|| "env:VAULT_ROLE_ID".into()),
            secret_id_ref: cfg
                .secret_id
                .clone()
                .unwrap_or_else(|| "env:VAULT_SECRET_ID".into()),
            approle_mount: cfg
                .approle_mount
                .clone()
                .unwrap_or_else(|| "approle".into()),
            client: http::client(timeout)?,
            token: TokenCache::default(),
        })
    }

    /// How many AppRole logins were made (tests, metrics).
    pub fn logins(&self) -> u64 {
        self.token.fetches()
    }

    fn url(&self, path: &str) -> Result<url::Url, String> {
        let mut url = self.address.clone()?;
        let full = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&full);
        Ok(url)
    }

    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, url)
            .header("x-vault-request", "true");
        if let Some(ns) = &self.namespace {
            rb = rb.header("x-vault-namespace", ns);
        }
        rb
    }

    /// `POST /v1/auth/{mount}/login` → `auth.client_token`, `auth.lease_duration`.
    async fn login(&self) -> Result<(Secret, Option<Duration>), String> {
        let local = |r: &str| {
            let r = r.to_owned();
            async move {
                http::local_secret(&r)
                    .await
                    .map_err(|e| format!("AppRole credential: {e}"))
            }
        };
        let role_id = local(&self.role_id_ref).await?;
        let secret_id = local(&self.secret_id_ref).await?;
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({
                "role_id": role_id.expose(),
                "secret_id": secret_id.expose(),
            }))
            .map_err(|_| "cannot encode the login")?,
        );
        let url = self.url(&format!("/v1/auth/{}/login", self.approle_mount))?;
        let resp = self
            .request(reqwest::Method::POST, url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("AppRole login: {}", transport_reason(&e)))?;
        let status = resp.status().as_u16();
        let bytes = read_body(resp).await?;
        let mut v = parse_json(&bytes).map_err(|r| format!("AppRole login {status}: {r}"))?;
        drop(bytes);
        if status != 200 {
            wipe_json(&mut v);
            return Err(format!("AppRole login answered {status}"));
        }
        let lease = v
            .pointer("/auth/lease_duration")
            .and_then(serde_json::Value::as_u64)
            .filter(|l| *l > 0)
            .map(Duration::from_secs);
        let token = take_string(&mut v, "/auth/client_token");
        wipe_json(&mut v);
        let token = token
            .filter(|t| !t.expose().is_empty())
            .ok_or("AppRole login answered no client_token")?;
        Ok((token, lease))
    }
}

/// Split `mount/path#field` and check each part.
fn parse_reference(rest: &str) -> Result<(&str, &str, &str), String> {
    let (location, field) = rest
        .split_once('#')
        .ok_or("expected mount/path#field (KV v2 secrets are key/value maps)")?;
    if field.is_empty() {
        return Err("nothing after '#'".into());
    }
    let (mount, path) = location
        .split_once('/')
        .ok_or("expected mount/path#field")?;
    if !http::is_plain_segment(mount) || !path.split('/').all(http::is_plain_segment) {
        return Err("mount and path segments are letters, digits, '.', '_' or '-'".into());
    }
    Ok((mount, path, field))
}

#[async_trait::async_trait]
impl CredentialProvider for VaultKv {
    async fn fetch(&self, rest: &str) -> Result<Secret, CredentialError> {
        let reference = format!("vault:{rest}");
        let unavailable = |reason: String| CredentialError::Unavailable {
            reference: reference.clone(),
            reason,
        };
        let (mount, path, field) =
            parse_reference(rest).map_err(|reason| CredentialError::Malformed {
                reference: reference.clone(),
                reason,
            })?;
        let url = self
            .url(&format!("/v1/{mount}/data/{path}"))
            .map_err(&unavailable)?;
        for attempt in 0..2 {
            let token = match self.auth {
                VaultAuthMethod::Token => http::local_secret(&self.token_ref)
                    .await
                    .map_err(|e| unavailable(format!("Vault token: {e}")))?,
                VaultAuthMethod::Approle => {
                    self.token
                        .get(|| async { self.login().await.map_err(&unavailable) })
                        .await?
                }
            };
            let mut h = reqwest::header::HeaderValue::from_str(token.expose())
                .map_err(|_| unavailable("the Vault token is not a valid header".into()))?;
            h.set_sensitive(true);
            drop(token);
            let resp = self
                .request(reqwest::Method::GET, url.clone())
                .header("x-vault-token", h)
                .send()
                .await
                .map_err(|e| unavailable(transport_reason(&e)))?;
            let status = resp.status().as_u16();
            if status == 403 && attempt == 0 && self.auth == VaultAuthMethod::Approle {
                // The lease ended early or the token was revoked: log in again, once.
                self.token.invalidate().await;
                continue;
            }
            let bytes = read_body(resp).await.map_err(unavailable)?;
            if status == 404 {
                return Err(CredentialError::NotFound { reference });
            }
            if status != 200 {
                return Err(unavailable(format!("Vault answered {status}")));
            }
            let mut v =
                parse_json(&bytes).map_err(|r| unavailable(format!("HTTP {status}: {r}")))?;
            drop(bytes);
            let pointer = format!("/data/data/{}", field.replace('~', "~0").replace('/', "~1"));
            let has_data = v.pointer("/data/data").is_some_and(|d| d.is_object());
            let kind = v.pointer(&pointer).map(|x| x.is_string());
            let value = take_string(&mut v, &pointer);
            wipe_json(&mut v);
            let invalid = |reason: String| CredentialError::Invalid {
                reference: reference.clone(),
                reason,
            };
            return match (has_data, kind, value) {
                (_, _, Some(s)) if !s.expose().is_empty() => Ok(s),
                (_, _, Some(_)) => Err(invalid("the value is empty".into())),
                (false, _, _) => Err(invalid(
                    "not a KV v2 answer (no data.data; is the mount KV version 2?)".into(),
                )),
                (true, Some(false), _) => Err(invalid(format!("field {field:?} is not a string"))),
                (true, _, None) => Err(invalid(format!("the secret has no field {field:?}"))),
            };
        }
        Err(unavailable(
            "Vault refused a freshly issued token (403)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked() {
        assert_eq!(
            parse_reference("secret/payments/stripe#api_key"),
            Ok(("secret", "payments/stripe", "api_key"))
        );
        for bad in [
            "secret/x",
            "secret/x#",
            "secret#f",
            "secret/../x#f",
            "secret//x#f",
            "se cret/x#f",
            "secret/x?y#f",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn config_combinations_are_checked() {
        let mut c = VaultConfig::default();
        assert!(c.validate().is_ok());
        c.role_id = Some("env:R".into());
        assert!(c.validate().is_err());
        c.auth = VaultAuthMethod::Approle;
        assert!(c.validate().is_ok());
        c.token = Some("env:T".into());
        assert!(c.validate().is_err());
        c.token = None;
        c.secret_id = Some("aws-sm:x".into());
        assert!(c.validate().is_err());
        c.secret_id = None;
        c.address = Some("http://vault.example:8200".into());
        assert!(c.validate().is_err());
        c.address = Some("http://127.0.0.1:8200".into());
        assert!(c.validate().is_ok());
    }
}
