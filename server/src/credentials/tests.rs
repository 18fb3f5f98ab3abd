use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use intentrail_core::error::ErrorKind;

use super::*;

const CANARY: &str = "sk_test_canary_5d1f";

#[tokio::test]
async fn env_reference_is_read_at_fetch_time() {
    std::env::set_var("IR_TEST_CRED_ENV_SET", CANARY);
    let s = Credentials::new()
        .fetch("env:IR_TEST_CRED_ENV_SET")
        .await
        .expect("fetch");
    assert!(s.expose() == CANARY, "wrong value");
    // Not cached: a change is seen by the next fetch.
    std::env::set_var("IR_TEST_CRED_ENV_SET", "sk_test_rotated");
    let s = Credentials::new()
        .fetch("env:IR_TEST_CRED_ENV_SET")
        .await
        .expect("fetch");
    assert!(s.expose() == "sk_test_rotated", "stale value");
}

#[tokio::test]
async fn missing_env_names_the_reference() {
    let e = Credentials::new()
        .fetch("env:IR_TEST_CRED_SURELY_UNSET")
        .await
        .expect_err("unset");
    assert_eq!(e.to_string(), "env:IR_TEST_CRED_SURELY_UNSET is not set");
    let core: intentrail_core::error::Error = e.into();
    assert_eq!(core.kind(), ErrorKind::CredentialUnavailable);
    assert_eq!(core.code(), "credential_unavailable");
}

#[tokio::test]
async fn empty_and_malformed_env_are_refused() {
    std::env::set_var("IR_TEST_CRED_EMPTY", "");
    let c = Credentials::new();
    assert!(matches!(
        c.fetch("env:IR_TEST_CRED_EMPTY").await,
        Err(CredentialError::Invalid { .. })
    ));
    assert!(matches!(
        c.fetch("env:A=B").await,
        Err(CredentialError::Malformed { .. })
    ));
}

#[tokio::test]
async fn file_reference_trims_one_trailing_newline() {
    let c = Credentials::new();
    for (content, want) in [
        (format!("{CANARY}\n"), CANARY.to_string()),
        (format!("{CANARY}\r\n"), CANARY.to_string()),
        (CANARY.to_string(), CANARY.to_string()),
        (format!("{CANARY}\n\n"), format!("{CANARY}\n")),
        (format!(" {CANARY} "), format!(" {CANARY} ")),
    ] {
        let mut f = tempfile::NamedTempFile::new().expect("tmp");
        f.write_all(content.as_bytes()).expect("write");
        let reference = format!("file:{}", f.path().display());
        let s = c.fetch(&reference).await.expect("fetch");
        assert!(s.expose() == want, "file value not trimmed as expected");
    }
}

#[tokio::test]
async fn missing_relative_empty_and_huge_files_are_refused() {
    let c = Credentials::new();
    let e = c
        .fetch("file:/nonexistent/intentrail/key")
        .await
        .expect_err("missing");
    assert_eq!(e.to_string(), "file:/nonexistent/intentrail/key is not set");
    assert!(matches!(
        c.fetch("file:relative/key").await,
        Err(CredentialError::Malformed { .. })
    ));
    let empty = tempfile::NamedTempFile::new().expect("tmp");
    let e = c
        .fetch(&format!("file:{}", empty.path().display()))
        .await
        .expect_err("empty");
    assert!(matches!(e, CredentialError::Invalid { .. }));
    let mut big = tempfile::NamedTempFile::new().expect("tmp");
    big.write_all(&vec![b'k'; 70 * 1024]).expect("write");
    let e = c
        .fetch(&format!("file:{}", big.path().display()))
        .await
        .expect_err("huge");
    assert!(matches!(e, CredentialError::Invalid { .. }));
    assert!(!e.to_string().contains("kkkk"));
}

#[tokio::test]
async fn unknown_scheme_and_malformed_references_are_refused() {
    let c = Credentials::new();
    assert_eq!(
        c.fetch("aws-sm:prod/stripe").await.expect_err("unknown"),
        CredentialError::UnknownScheme {
            scheme: "aws-sm".into()
        }
    );
    for bad in ["STRIPE_KEY", "env:", ":x", "ENV:X", "e nv:x"] {
        assert!(
            matches!(c.fetch(bad).await, Err(CredentialError::Malformed { .. })),
            "{bad} accepted"
        );
    }
}

struct Slow;

#[async_trait::async_trait]
impl CredentialProvider for Slow {
    async fn fetch(&self, reference: &str) -> Result<Secret, CredentialError> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Secret::new(reference.to_owned()))
    }
}

struct Fixed;

#[async_trait::async_trait]
impl CredentialProvider for Fixed {
    async fn fetch(&self, reference: &str) -> Result<Secret, CredentialError> {
        Ok(Secret::new(format!("{CANARY}-{reference}")))
    }
}

#[tokio::test]
async fn registered_providers_are_used_and_bounded_by_the_timeout() {
    let mut c = Credentials::new().with_timeout(Duration::from_millis(50));
    c.register("slow", Arc::new(Slow));
    c.register("fixed", Arc::new(Fixed));
    assert_eq!(
        c.schemes().collect::<Vec<_>>(),
        ["env", "file", "fixed", "slow"]
    );
    let s = c.fetch("fixed:a:b").await.expect("fixed");
    assert!(
        s.expose() == format!("{CANARY}-a:b"),
        "reference not passed through"
    );
    let t0 = std::time::Instant::now();
    let e = c.fetch("slow:x").await.expect_err("timeout");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(e.to_string(), "slow:x was not fetched within 50 ms");
}

#[tokio::test]
async fn debug_output_never_shows_a_value() {
    std::env::set_var("IR_TEST_CRED_DEBUG", CANARY);
    let c = Credentials::new();
    let s = c.fetch("env:IR_TEST_CRED_DEBUG").await.expect("fetch");
    let r: Result<Secret, CredentialError> = Ok(s.clone());
    let shown = format!("{c:?} {s:?} {s} {r:?} {:#?}", Some(&s));
    assert!(!shown.contains(CANARY), "a secret reached Debug output");
    assert!(shown.contains("redacted"));
}
