//! `aws-sm:<secret-id>[#json-field]`: AWS Secrets Manager `GetSecretValue`, SigV4-signed.
//!
//! Guarantees: the signing keys come from the standard chain (`AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, else the shared credentials file profile)
//! and are read at every fetch, so rotated keys are used at once; the secret value and the
//! keys only live in [`Secret`]s; errors carry the AWS error type, never a value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::http::{self, parse_json, read_body, take_string, transport_reason, wipe_json};
use super::sigv4::{self, AwsCredentials, SignInput};
use super::{CredentialError, CredentialProvider};
use crate::secret::Secret;

/// `[providers.aws]` in the config file. Every field is optional.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region, e.g. `eu-west-1`. Default: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint URL (a VPC endpoint, or a local Secrets Manager such as moto). Default:
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`, else
    /// `https://secretsmanager.<region>.amazonaws.com`. Plain http only to loopback.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Profile of the shared credentials file used when the environment has no keys.
    /// Default: `AWS_PROFILE`, else `default`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Bound on one fetch in ms (default: `[providers] timeout_ms`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl AwsConfig {
    /// Check what can be checked without the environment.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(r) = &self.region {
            check_region(r)?;
        }
        if let Some(e) = &self.endpoint {
            http::check_endpoint("providers.aws.endpoint", e)?;
        }
        if self.timeout_ms == Some(0) {
            return Err("providers.aws.timeout_ms must be positive".into());
        }
        Ok(())
    }
}

fn check_region(r: &str) -> Result<(), String> {
    if r.is_empty()
        || r.len() > 32
        || !r
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("AWS region {r:?} is not valid"));
    }
    Ok(())
}

/// The Secrets Manager provider.
#[derive(Debug)]
pub struct AwsSecretsManager {
    region: Option<String>,
    endpoint: Result<url::Url, String>,
    profile: String,
    client: reqwest::Client,
}

impl AwsSecretsManager {
    /// Build from config plus the environment (region, endpoint, profile). A missing region
    /// is reported at fetch time (so a rail without AWS references starts without one).
    pub fn new(cfg: &AwsConfig, timeout: Duration) -> Result<Self, String> {
        cfg.validate()?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let region = cfg
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"));
        if let Some(r) = &region {
            check_region(r)?;
        }
        let endpoint = match cfg
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_SECRETS_MANAGER"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
        {
            Some(e) => Ok(http::check_endpoint("AWS Secrets Manager endpoint", &e)?),
            None => match &region {
                Some(r) => http::check_endpoint(
                    "AWS Secrets Manager endpoint",
                    &format!("https://secretsmanager.{r}.amazonaws.com"),
                ),
                None => Err("no AWS region (set providers.aws.region or AWS_REGION)".into()),
            },
        };
        Ok(AwsSecretsManager {
            region,
            endpoint,
            profile: cfg
                .profile
                .clone()
                .or_else(|| env("AWS_PROFILE"))
                .unwrap_or_else(|| "default".into()),
            client: http::client(timeout)?,
        })
    }
}

/// Split `secret-id[#field]` and check both parts.
fn parse_reference(rest: &str) -> Result<(&str, Option<&str>), String> {
    let (id, field) = match rest.split_once('#') {
        Some((id, f)) if !f.is_empty() => (id, Some(f)),
        Some(_) => return Err("nothing after '#'".into()),
        None => (rest, None),
    };
    if id.is_empty() || id.len() > 2048 {
        return Err("the secret id must be 1 to 2048 characters".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-:".contains(&b))
    {
        return Err("a secret id is letters, digits and /_+=.@-: (a name or an ARN)".into());
    }
    Ok((id, field))
}

/// The signing keys from the environment, else the shared credentials file.
async fn signing_credentials(profile: &str) -> Result<AwsCredentials, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: env("AWS_SESSION_TOKEN").map(Secret::new),
        });
    }
    let path = match env("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => match env("HOME") {
            Some(h) => std::path::Path::new(&h).join(".aws").join("credentials"),
            None => return Err("no AWS credentials in the environment".into()),
        },
    };
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(_) => return Err("no AWS credentials in the environment or the shared file".into()),
    };
    parse_credentials_file(&text, profile)
        .ok_or_else(|| format!("no complete AWS keys for profile {profile:?}"))
}

/// Read `[profile]` → `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`
/// from the INI text of the shared credentials file.
fn parse_credentials_file(text: &str, profile: &str) -> Option<AwsCredentials> {
    let mut in_section = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == profile;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(Secret::new(v)),
                "aws_session_token" => token = Some(Secret::new(v)),
                _ => {}
            }
        }
    }
    Some(AwsCredentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

#[async_trait::async_trait]
impl CredentialProvider for AwsSecretsManager {
    async fn fetch(&self, rest: &str) -> Result<Secret, CredentialError> {
        let reference = format!("aws-sm:{rest}");
        let unavailable = |reason: String| CredentialError::Unavailable {
            reference: reference.clone(),
            reason,
        };
        let (id, field) = parse_reference(rest).map_err(|reason| CredentialError::Malformed {
            reference: reference.clone(),
            reason,
        })?;
        let endpoint = self.endpoint.as_ref().map_err(|e| unavailable(e.clone()))?;
        let region = self
            .region
            .as_deref()
            .ok_or_else(|| unavailable("no AWS region configured".into()))?;
        let creds = signing_credentials(&self.profile)
            .await
            .map_err(unavailable)?;
        let rb = signed_request(&self.client, endpoint, region, &creds, id).map_err(unavailable)?;
        drop(creds);
        let resp = rb
            .send()
            .await
            .map_err(|e| unavailable(transport_reason(&e)))?;
        let status = resp.status().as_u16();
        let bytes = read_body(resp).await.map_err(unavailable)?;
        let mut v = parse_json(&bytes).map_err(|r| unavailable(format!("HTTP {status}: {r}")))?;
        drop(bytes);
        if status != 200 {
            let kind = v
                .get("__type")
                .and_then(serde_json::Value::as_str)
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
                .unwrap_or_else(|| "unknown error".into());
            wipe_json(&mut v);
            return Err(match kind.as_str() {
                "ResourceNotFoundException" => CredentialError::NotFound { reference },
                _ => unavailable(format!("AWS answered {status} {kind}")),
            });
        }
        secret_value(v, field, &reference)
    }
}

/// `GetSecretValue` for `id`, signed with SigV4 (the signature and any session token as
/// sensitive headers).
fn signed_request(
    client: &reqwest::Client,
    endpoint: &url::Url,
    region: &str,
    creds: &AwsCredentials,
    id: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let body = serde_json::to_vec(&serde_json::json!({ "SecretId": id }))
        .map_err(|_| "cannot encode the request".to_string())?;
    let host = match (endpoint.host_str(), endpoint.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err("the endpoint has no host".into()),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let amz_date = sigv4::amz_date(now);
    let target = "secretsmanager.GetSecretValue";
    let content_type = "application/x-amz-json-1.1";
    let token = creds.session_token.as_ref().map(Secret::expose);
    let mut signed: Vec<(&str, &str)> = vec![
        ("content-type", content_type),
        ("host", &host),
        ("x-amz-date", &amz_date),
        ("x-amz-target", target),
    ];
    if let Some(t) = token {
        signed.push(("x-amz-security-token", t));
    }
    let path = match endpoint.path() {
        "" => "/",
        p => p,
    };
    let auth = zeroize::Zeroizing::new(sigv4::authorization(
        &SignInput {
            method: "POST",
            path,
            query: "",
            headers: &signed,
            body: &body,
            region,
            service: "secretsmanager",
            amz_date: &amz_date,
        },
        creds,
    ));
    let sensitive = |v: &str| {
        let mut h = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| "a signing value is not a valid header".to_string())?;
        h.set_sensitive(true);
        Ok::<_, String>(h)
    };
    let mut rb = client
        .post(endpoint.clone())
        .header("content-type", content_type)
        .header("x-amz-date", &amz_date)
        .header("x-amz-target", target)
        .header("authorization", sensitive(&auth)?)
        .body(body);
    if let Some(t) = token {
        rb = rb.header("x-amz-security-token", sensitive(t)?);
    }
    Ok(rb)
}

/// The secret in a `GetSecretValue` answer (`SecretString`, or UTF-8 `SecretBinary`), or its
/// JSON member `field`; the answer is wiped either way.
fn secret_value(
    mut v: serde_json::Value,
    field: Option<&str>,
    reference: &str,
) -> Result<Secret, CredentialError> {
    let value = match take_string(&mut v, "/SecretString") {
        Some(s) => Some(s),
        None => take_string(&mut v, "/SecretBinary").and_then(|b| {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b.expose())
                .ok()?;
            String::from_utf8(raw).ok().map(Secret::new)
        }),
    };
    wipe_json(&mut v);
    let invalid = |reason: &str| CredentialError::Invalid {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    let value = value.ok_or_else(|| invalid("the secret has no UTF-8 string value"))?;
    let value = match field {
        None => value,
        Some(f) => json_field(&value, f).map_err(|r| invalid(&r))?,
    };
    if value.expose().is_empty() {
        return Err(invalid("the value is empty"));
    }
    Ok(value)
}

/// The string member `field` of the JSON object `value` (a key/value secret).
pub(crate) fn json_field(value: &Secret, field: &str) -> Result<Secret, String> {
    let mut v: serde_json::Value = serde_json::from_str(value.expose())
        .map_err(|_| "the secret is not a JSON object, so it has no fields".to_string())?;
    let is_object = v.is_object();
    let out = match v.get_mut(field) {
        Some(serde_json::Value::String(s)) => Ok(Secret::new(std::mem::take(s))),
        Some(_) => Err(format!("field {field:?} is not a string")),
        None if is_object => Err(format!("the secret has no field {field:?}")),
        None => Err("the secret is not a JSON object, so it has no fields".to_string()),
    };
    wipe_json(&mut v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked() {
        assert_eq!(parse_reference("prod/stripe"), Ok(("prod/stripe", None)));
        assert_eq!(
            parse_reference("prod/dd#api_key"),
            Ok(("prod/dd", Some("api_key")))
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-AbCdEf";
        assert_eq!(parse_reference(arn), Ok((arn, None)));
        for bad in ["", "a#", "has space", "a?b", "a\nb"] {
            assert!(parse_reference(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn shared_credentials_file_profiles() {
        let text = "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n\
                    [ci]\naws_access_key_id=AKIA2\naws_secret_access_key=s2\naws_session_token=t2\n";
        let c = parse_credentials_file(text, "ci").expect("ci");
        assert_eq!(c.access_key_id, "AKIA2");
        assert!(c.secret_access_key.expose() == "s2");
        assert!(c.session_token.is_some());
        let d = parse_credentials_file(text, "default").expect("default");
        assert!(d.session_token.is_none());
        assert!(parse_credentials_file(text, "missing").is_none());
    }

    #[test]
    fn json_fields() {
        let s = Secret::new(r#"{"api_key":"k-123456","n":5}"#.into());
        assert!(json_field(&s, "api_key").expect("field").expose() == "k-123456");
        assert!(json_field(&s, "n").is_err());
        assert!(json_field(&s, "nope").is_err());
        assert!(json_field(&Secret::new("plain".into()), "x").is_err());
    }
}
