//! A real `moto_server` (the AWS Secrets Manager wire protocol) on 127.0.0.1, and the AWS keys
//! the rail signs its calls with. Tests without moto skip, except under `CI=true`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use intentrail_server::credentials::sigv4;
use intentrail_server::secret::Secret;
use serde_json::{json, Value};

use super::downstream::free_port;
use super::env;

/// Where `moto_server` is: `$MOTO_SERVER`, else `target/moto-venv/bin/moto_server` (made by
/// `scripts/test-credentials.sh`), else `moto_server` on the PATH.
pub fn moto_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    })
}

/// True when a missing moto must fail the run (CI) instead of skipping.
pub fn moto_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("INTENTRAIL_REQUIRE_MOTO").is_ok_and(|v| v == "1")
}

/// A running `moto_server` on 127.0.0.1, stopped on drop.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
    client: reqwest::Client,
}

pub const AWS_REGION: &str = "us-east-1";

impl Moto {
    /// Start moto, or `None` (with a note on stderr) when it is not installed outside CI.
    pub async fn start() -> Option<Moto> {
        let Some(bin) = moto_binary() else {
            assert!(
                !moto_required(),
                "moto_server not found (run scripts/test-credentials.sh, or set MOTO_SERVER)"
            );
            eprintln!("SKIP: moto_server not found; run scripts/test-credentials.sh");
            return None;
        };
        let port = free_port().await;
        let child = std::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        for _ in 0..300 {
            if moto
                .client
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
                .is_ok()
            {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start within 15 s");
    }

    /// One signed Secrets Manager call (what the AWS CLI would send).
    pub async fn call(&self, action: &str, body: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(body).unwrap();
        let host = self.endpoint.trim_start_matches("http://").to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let date = sigv4::amz_date(now);
        let target = format!("secretsmanager.{action}");
        let creds = sigv4::AwsCredentials {
            access_key_id: "AKIDTESTSETUP".into(),
            secret_access_key: Secret::new("setup-secret-key".into()),
            session_token: None,
        };
        let auth = sigv4::authorization(
            &sigv4::SignInput {
                method: "POST",
                path: "/",
                query: "",
                headers: &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("host", &host),
                    ("x-amz-date", &date),
                    ("x-amz-target", &target),
                ],
                body: &body,
                region: AWS_REGION,
                service: "secretsmanager",
                amz_date: &date,
            },
            &creds,
        );
        let r = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-date", date)
            .header("x-amz-target", target)
            .header("authorization", auth)
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create_secret(&self, name: &str, value: &str) {
        let (s, _) = self
            .call(
                "CreateSecret",
                &json!({"Name": name, "SecretString": value}),
            )
            .await;
        assert_eq!(s, 200, "CreateSecret failed");
    }

    pub async fn put_secret_value(&self, name: &str, value: &str) {
        let (s, _) = self
            .call(
                "PutSecretValue",
                &json!({"SecretId": name, "SecretString": value}),
            )
            .await;
        assert_eq!(s, 200, "PutSecretValue failed");
    }

    /// `[providers.aws]` pointing at this moto.
    pub fn providers_toml(&self) -> String {
        format!(
            "[providers.aws]\nregion = \"{AWS_REGION}\"\nendpoint = \"{}\"\n",
            self.endpoint
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set AWS keys moto accepts (any keys work; these are test values), once for the process.
pub fn set_aws_env() {
    env::fix("AWS_ACCESS_KEY_ID", Some("AKIDTESTRAIL"));
    env::fix("AWS_SECRET_ACCESS_KEY", Some("rail-test-secret-key"));
    env::fix("AWS_SESSION_TOKEN", None);
}
