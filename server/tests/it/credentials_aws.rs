//! `aws-sm:` against a real Secrets Manager wire implementation (`moto_server` on 127.0.0.1),
//! through the whole rail: string secret, JSON field, several secrets per connector, rotation
//! picked up on the next call (and held by a cache TTL until it expires), missing secret and
//! store down or silent → 503 with nothing forwarded. Skips without moto unless `CI=true`.

use std::time::{Duration, Instant};

use crate::support::{
    dead_port, moto_binary, moto_required, random_hex, set_aws_env, silent_port, Moto, Options,
    TestRail,
};
use serde_json::Value;

fn contains(v: &Value, needle: &str) -> bool {
    v.to_string().contains(needle)
}

#[tokio::test]
async fn aws_secrets_reach_the_downstream_and_never_the_agent() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    set_aws_env();
    let api = format!("sk_live_aws_{}", random_hex(12));
    let app_key = format!("appkey_aws_{}", random_hex(12));
    moto.create_secret("payments/api", &api).await;
    moto.create_secret(
        "payments/dd",
        &serde_json::json!({"app_key": app_key, "other": "x"}).to_string(),
    )
    .await;
    let rail = TestRail::start(Options {
        credential: Some("aws-sm:payments/api".into()),
        extra_credentials: vec![("X-App-Key".into(), "aws-sm:payments/dd#app_key".into())],
        providers: moto.providers_toml(),
        ..Options::routed()
    })
    .await;

    let (s, body) = rail.refund_via("pay_1").await;
    assert_eq!(s, 200, "governed call failed: {}", body["code"]);
    assert!(rail.log.header(0, "authorization") == Some(format!("Bearer {api}")));
    assert!(rail.log.header(0, "x-app-key") == Some(app_key.clone()));

    // The downstream echoes both secrets (raw, base64, base64url, URL-encoded): the agent
    // sees none of them.
    let (s, body) = rail.refund_via("echo").await;
    assert_eq!(s, 200);
    assert!(contains(&body, "[REDACTED]"));
    assert!(!contains(&body, &api) && !contains(&body, &app_key));

    // Rotation is picked up by the very next call (no cache by default).
    let rotated = format!("sk_live_aws_{}", random_hex(12));
    moto.put_secret_value("payments/api", &rotated).await;
    let (s, _) = rail.refund_via("pay_1").await;
    assert_eq!(s, 200);
    assert!(rail.log.header(2, "authorization") == Some(format!("Bearer {rotated}")));
    assert_eq!(rail.log.count(), 3);
}

#[tokio::test]
async fn missing_secret_or_field_is_503_and_nothing_is_forwarded() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    set_aws_env();
    moto.create_secret("payments/plain", "not-json-value").await;
    for (credential, extras) in [
        ("aws-sm:payments/does-not-exist", vec![]),
        ("aws-sm:payments/plain#field", vec![]),
        (
            "aws-sm:payments/plain",
            vec![("X-App-Key".to_string(), "aws-sm:payments/nope".to_string())],
        ),
    ] {
        let rail = TestRail::start(Options {
            credential: Some(credential.into()),
            extra_credentials: extras,
            providers: moto.providers_toml(),
            ..Options::routed()
        })
        .await;
        let (s, body) = rail.refund_via("pay_1").await;
        assert_eq!(s, 503, "{credential}");
        assert_eq!(body["code"], "credential_unavailable");
        assert_eq!(rail.log.count(), 0, "{credential}: something was forwarded");
    }
}

#[tokio::test]
async fn store_down_or_silent_is_503_within_the_timeout() {
    set_aws_env();
    // Down: nothing listens.
    let down = dead_port().await;
    // Silent: accepts and never answers.
    let silent_addr = silent_port().await;
    for addr in [down, silent_addr] {
        let rail = TestRail::start(Options {
            credential: Some("aws-sm:payments/api".into()),
            providers: format!(
                "[providers.aws]\nregion = \"us-east-1\"\nendpoint = \"http://{addr}\"\ntimeout_ms = 300\n"
            ),
            ..Options::routed()
        })
        .await;
        let t0 = Instant::now();
        let (s, body) = rail.refund_via("pay_1").await;
        assert_eq!(s, 503);
        assert_eq!(body["code"], "credential_unavailable");
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert_eq!(rail.log.count(), 0);
    }
}

#[tokio::test]
async fn a_cache_ttl_holds_the_old_value_until_it_expires() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    set_aws_env();
    let v1 = format!("sk_live_aws_{}", random_hex(12));
    let v2 = format!("sk_live_aws_{}", random_hex(12));
    moto.create_secret("payments/cached", &v1).await;
    let rail = TestRail::start(Options {
        credential: Some("aws-sm:payments/cached".into()),
        cache_ttl_ms: 1500,
        providers: moto.providers_toml(),
        ..Options::routed()
    })
    .await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    moto.put_secret_value("payments/cached", &v2).await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert!(rail.log.header(1, "authorization") == Some(format!("Bearer {v1}")));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(rail.refund_via("pay_1").await.0, 200);
    assert!(rail.log.header(2, "authorization") == Some(format!("Bearer {v2}")));
}

/// moto does not check signatures, so our SigV4 is checked against botocore's signer (the
/// one the AWS CLI uses), installed beside moto, on a Secrets Manager request with a session
/// token.
#[test]
fn sigv4_matches_botocore() {
    let Some(moto) = moto_binary() else {
        assert!(!moto_required(), "moto venv missing");
        return;
    };
    let python = moto.with_file_name("python");
    if !python.is_file() {
        assert!(!moto_required(), "no python beside moto_server");
        return;
    }
    let script = r#"
import sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
ts = "20240102T030405Z"
req = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=b'{"SecretId":"prod/api"}',
                 headers={"Content-Type": "application/x-amz-json-1.1",
                          "X-Amz-Target": "secretsmanager.GetSecretValue",
                          "X-Amz-Date": ts, "X-Amz-Security-Token": "tok/EN+=="})
req.context["timestamp"] = ts
a = SigV4Auth(Credentials("AKIDBOTO", "boto/secret+key", "tok/EN+=="), "secretsmanager", "us-east-1")
cr = a.canonical_request(req)
sig = a.signature(a.string_to_sign(req, cr), req)
print("AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s"
      % (a.scope(req), a.signed_headers(a.headers_to_sign(req)), sig))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .output()
        .expect("run python");
    assert!(out.status.success(), "botocore script failed");
    let theirs = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let creds = intentrail_server::credentials::sigv4::AwsCredentials {
        access_key_id: "AKIDBOTO".into(),
        secret_access_key: intentrail_server::secret::Secret::new("boto/secret+key".into()),
        session_token: None,
    };
    let ours = intentrail_server::credentials::sigv4::authorization(
        &intentrail_server::credentials::sigv4::SignInput {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("content-type", "application/x-amz-json-1.1"),
                ("host", "127.0.0.1:4566"),
                ("x-amz-date", "20240102T030405Z"),
                ("x-amz-target", "secretsmanager.GetSecretValue"),
                ("x-amz-security-token", "tok/EN+=="),
            ],
            body: br#"{"SecretId":"prod/api"}"#,
            region: "us-east-1",
            service: "secretsmanager",
            amz_date: "20240102T030405Z",
        },
        &creds,
    );
    assert_eq!(ours, theirs);
}
