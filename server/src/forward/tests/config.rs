//! Connector configuration, error mapping, and what `Debug` shows.

use super::*;

#[test]
fn connector_config_is_validated() {
    let ok = connector(
        "https://api.example.com/v1",
        AuthStyle::Bearer,
        Some("env:K"),
    );
    assert_eq!(validate_connector(&ok), Ok(()));
    let mut strict = ok.clone();
    strict.allow_private = false;
    assert_eq!(validate_connector(&strict), Ok(()));
    let bad = |f: &dyn Fn(&mut ConnectorConfig)| {
        let mut c = strict.clone();
        f(&mut c);
        validate_connector(&c).expect_err("should be refused")
    };
    bad(&|c| c.base_url = "http://api.example.com".into());
    bad(&|c| c.base_url = "ftp://api.example.com".into());
    bad(&|c| c.base_url = "https://user:pw@api.example.com".into());
    bad(&|c| c.base_url = "https://api.example.com/?a=1".into());
    bad(&|c| c.base_url = "https://api.example.com/#f".into());
    bad(&|c| c.base_url = "https://10.0.0.1".into());
    bad(&|c| c.base_url = "https://[fd00::1]".into());
    bad(&|c| c.base_url = "https://169.254.169.254/latest".into());
    bad(&|c| c.base_url = "not a url".into());
    bad(&|c| c.name = " ".into());
    bad(&|c| c.credential = None);
    bad(&|c| c.credential = Some("K".into()));
    bad(&|c| c.auth = AuthStyle::None);
    bad(&|c| {
        c.auth = AuthStyle::Header {
            name: "Host".into(),
        }
    });
    bad(&|c| {
        c.auth = AuthStyle::Header {
            name: "Idempotency-Key".into(),
        }
    });
    bad(&|c| {
        c.auth = AuthStyle::Header {
            name: "bad header".into(),
        }
    });
    bad(&|c| {
        c.auth = AuthStyle::Basic {
            username: "a:b".into(),
        }
    });
    bad(&|c| {
        c.auth = AuthStyle::Query {
            name: String::new(),
        }
    });
    bad(&|c| c.timeout_ms = 0);
    bad(&|c| c.connect_timeout_ms = c.timeout_ms + 1);
    bad(&|c| c.timeout_ms = MAX_TIMEOUT_MS + 1);
    bad(&|c| c.idempotency_header = Some("Authorization".into()));
    let mut private = strict.clone();
    private.allow_private = true;
    private.base_url = "http://127.0.0.1:8080".into();
    assert_eq!(validate_connector(&private), Ok(()));
}

#[test]
fn connector_config_loads_from_toml_with_defaults() {
    let c: ConnectorConfig = toml::from_str(
        r#"
        name = "stripe"
        base_url = "https://api.stripe.com"
        credential = "env:STRIPE_KEY"
        auth = { type = "bearer" }
        "#,
    )
    .expect("toml");
    assert_eq!(c.connect_timeout_ms, 2000);
    assert_eq!(c.timeout_ms, 10_000);
    assert!(!c.allow_private);
    assert_eq!(c.idempotency_header.as_deref(), Some("Idempotency-Key"));
    assert_eq!(validate_connector(&c), Ok(()));
    let h: ConnectorConfig = toml::from_str(
        r#"
        name = "h"
        base_url = "https://h.example"
        credential = "file:/run/secrets/h"
        auth = { type = "header", name = "X-API-Key" }
        "#,
    )
    .expect("toml");
    assert_eq!(
        h.auth,
        AuthStyle::Header {
            name: "X-API-Key".into()
        }
    );
    let unknown = toml::from_str::<ConnectorConfig>(
        r#"
        name = "h"
        base_url = "https://h.example"
        auth = { type = "none" }
        follow_redirects = true
        "#,
    );
    assert!(unknown.is_err());
    let unknown_auth = toml::from_str::<ConnectorConfig>(
        r#"
        name = "h"
        base_url = "https://h.example"
        auth = { type = "bearer", extra = 1 }
        "#,
    );
    assert!(unknown_auth.is_err());
    for bad in [
        r#"{ type = "bearer", name = "X-Key" }"#,
        r#"{ type = "header" }"#,
        r#"{ type = "header", name = "X", username = "u" }"#,
        r#"{ type = "basic", name = "u" }"#,
        r#"{ type = "oauth" }"#,
    ] {
        let src = format!("name = \"h\"\nbase_url = \"https://h.example\"\nauth = {bad}\n");
        assert!(
            toml::from_str::<ConnectorConfig>(&src).is_err(),
            "{bad} accepted"
        );
    }
    let basic: ConnectorConfig = toml::from_str(
        "name = \"b\"\nbase_url = \"https://b.example\"\ncredential = \"env:B\"\n\
         auth = { type = \"basic\", username = \"acct\" }\n",
    )
    .expect("basic");
    assert_eq!(
        basic.auth,
        AuthStyle::Basic {
            username: "acct".into()
        }
    );
    // Serialization keeps the tagged form and reads back.
    let round: ConnectorConfig =
        toml::from_str(&toml::to_string(&basic).expect("ser")).expect("round trip");
    assert_eq!(round, basic);
}

#[test]
fn forward_errors_map_to_outcomes_and_codes() {
    let d = || "d".to_string();
    let cases = [
        (
            ForwardError::NotSent { detail: d() },
            Outcome::NotForwarded,
            "downstream_error",
            502,
        ),
        (
            ForwardError::Timeout { detail: d() },
            Outcome::Unknown,
            "downstream_timeout",
            504,
        ),
        (
            ForwardError::Broken { detail: d() },
            Outcome::Unknown,
            "downstream_error",
            502,
        ),
    ];
    for (e, outcome, code, status) in cases {
        assert_eq!(e.outcome(), outcome);
        assert_eq!(e.kind().code(), code);
        assert_eq!(e.kind().http_status(), status);
        let core: intentrail_core::error::Error = e.into();
        assert_eq!(core.code(), code);
    }
}

#[test]
fn debug_of_forwarding_types_shows_no_secret() {
    let f = Forwarder::new();
    let c = connector("https://x.example", AuthStyle::Bearer, Some("env:K"));
    let key = Secret::new(KEY.into());
    let shown = format!("{f:?} {c:?} {:?}", (Some(&key), &key));
    assert!(!shown.contains("canary"));
}
