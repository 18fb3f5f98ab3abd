//! A real, large, public document: GitHub's REST API description (npm `@octokit/openapi`,
//! installed by `scripts/test-all.sh`, found through `INTENTRAIL_TEST_GITHUB_OPENAPI`). It must
//! import completely (only operations whose bodies are neither JSON nor form are skipped), and
//! a handful of its operations must accept good params and refuse bad ones with the right
//! pointers. Timings are printed (stderr), never asserted.

use std::time::Instant;

use axum::http::HeaderMap;
use intentrail_server::profile::request::{from_http, outbound, HttpRequest};
use intentrail_server::profile::{compile, normalize, Operation, Profile};
use serde_json::{json, Value};

/// The document, or `None` to skip (outside CI only; in CI a missing document fails).
fn document() -> Option<Vec<u8>> {
    let path = match std::env::var("INTENTRAIL_TEST_GITHUB_OPENAPI") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "INTENTRAIL_TEST_GITHUB_OPENAPI is not set in CI (scripts/test-all.sh installs @octokit/openapi)"
            );
            eprintln!("skipped: INTENTRAIL_TEST_GITHUB_OPENAPI is not set");
            return None;
        }
    };
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")))
}

fn op<'p>(p: &'p Profile, id: &str) -> &'p Operation {
    p.operation(&format!("github.{id}"))
        .unwrap_or_else(|| panic!("github.{id} was not imported"))
}

fn refused_at(op: &Operation, params: Value) -> Vec<String> {
    op.validate(&params)
        .expect_err("must be refused")
        .into_iter()
        .map(|v| v.pointer)
        .collect()
}

#[test]
fn github_rest_api_imports_completely_and_validates() {
    let Some(bytes) = document() else { return };
    let started = Instant::now();
    let (doc, stored) = normalize(&bytes).expect("parses");
    let hash = intentrail_core::hash::sha256_tagged(&stored);
    let (p, report) = compile("github", 1, &hash, &doc).expect("compiles");
    let elapsed = started.elapsed();
    drop(doc);
    eprintln!(
        "github: {} bytes, {} operations imported, {} skipped, parse+compile {} ms (this build profile)",
        bytes.len(),
        report.imported,
        report.skipped.len(),
        elapsed.as_millis()
    );
    for s in &report.skipped {
        eprintln!("  skipped {}: {}", s.operation, s.reason);
        assert!(
            s.reason.contains("which the rail does not govern"),
            "only non-JSON, non-form bodies may be skipped: {} ({})",
            s.operation,
            s.reason
        );
    }
    assert!(report.imported > 1000, "{}", report.imported);
    // Validators are compiled on first use; every one of them compiles.
    let started = Instant::now();
    for (name, o) in &p.operations {
        assert!(o.validator().is_ok(), "{name}: {:?}", o.validator().err());
    }
    let largest = p
        .operations
        .values()
        .max_by_key(|o| o.schema_nodes())
        .expect("operations");
    eprintln!(
        "github: compiling all {} validators {} ms (done lazily, per operation, in the rail); {} schema objects in all, largest {}: {}",
        p.operations.len(),
        started.elapsed().as_millis(),
        p.operations.values().map(Operation::schema_nodes).sum::<u64>(),
        largest.action,
        largest.schema_nodes()
    );
    assert!(report.skipped.len() <= 5, "{:?}", report.skipped);

    // Path params.
    let get = op(&p, "repos/get");
    assert!(get
        .validate(&json!({"path": {"owner": "octocat", "repo": "hello-world"}}))
        .is_ok());
    assert_eq!(
        refused_at(get, json!({"path": {"owner": "octocat"}})),
        ["/path/repo"]
    );
    assert_eq!(
        refused_at(
            get,
            json!({"path": {"owner": "octocat", "repo": "x"}, "query": {"per_page": 1}})
        ),
        ["/query/per_page"]
    );

    // Query params: enums, integers, arrays.
    let list = op(&p, "issues/list-for-repo");
    let path = json!({"owner": "octocat", "repo": "hello-world"});
    assert!(list
        .validate(
            &json!({"path": path, "query": {"state": "open", "per_page": 30, "labels": "bug,ui"}})
        )
        .is_ok());
    let bad = refused_at(
        list,
        json!({"path": path, "query": {"state": "weird", "per_page": "thirty"}}),
    );
    assert!(bad.contains(&"/query/state".to_string()), "{bad:?}");
    assert!(bad.contains(&"/query/per_page".to_string()), "{bad:?}");
    let migrations = op(&p, "migrations/list-for-org");
    assert!(migrations
        .validate(&json!({"path": {"org": "github"}, "query": {"exclude": ["repositories"]}}))
        .is_ok());
    assert_eq!(
        refused_at(
            migrations,
            json!({"path": {"org": "github"}, "query": {"exclude": ["everything"]}})
        ),
        ["/query/exclude/0"]
    );
    assert_eq!(
        refused_at(
            migrations,
            json!({"path": {"org": "github"}, "query": {"exclude": "repositories"}})
        ),
        ["/query/exclude"]
    );

    // JSON bodies.
    let release = op(&p, "repos/create-release");
    let good = json!({"path": path, "body": {"tag_name": "v1.0.0", "name": "One", "draft": false}});
    assert!(release.validate(&good).is_ok());
    let bad = refused_at(
        release,
        json!({"path": path, "body": {"name": "One", "draft": "no"}}),
    );
    assert!(bad.contains(&"/body/tag_name".to_string()), "{bad:?}");
    assert!(bad.contains(&"/body/draft".to_string()), "{bad:?}");
    assert_eq!(refused_at(release, json!({"path": path})), ["/body"]);
    let out = outbound(release, &good, Some("pmt_1".into())).expect("outbound");
    assert_eq!(
        (out.method.as_str(), out.path.as_str()),
        ("POST", "/repos/octocat/hello-world/releases")
    );
    assert_eq!(
        &out.body.expect("body").0[..],
        br#"{"draft":false,"name":"One","tag_name":"v1.0.0"}"#
    );

    // Transparent mode: the Octokit request shape routes to the operation, most specific
    // template first, and becomes the same params.
    let (o, vars) = p
        .route("GET", "/repos/octocat/hello-world/issues")
        .expect("routes");
    assert_eq!(o.action, "github.issues/list-for-repo");
    let headers = HeaderMap::new();
    let params = from_http(
        o,
        &HttpRequest {
            path_vars: vars,
            query: Some("state=open&per_page=5"),
            headers: &headers,
            body: b"",
        },
    )
    .expect("params");
    assert_eq!(
        params,
        json!({"path": path, "query": {"state": "open", "per_page": 5}})
    );
    assert!(o.validate(&params).is_ok());
    let (o, _) = p.route("GET", "/user").expect("routes");
    assert_eq!(o.action, "github.users/get-authenticated");
    let (o, vars) = p
        .route("GET", "/repos/octocat/hello-world/compare/main...topic")
        .expect("routes a two-variable segment");
    assert_eq!(o.action, "github.repos/compare-commits");
    assert_eq!(vars[2], ("base".to_string(), "main".to_string()));
    assert_eq!(vars[3], ("head".to_string(), "topic".to_string()));
    assert!(p
        .route("GET", "/repos/octocat/hello-world/not-a-thing")
        .is_none());
    assert!(p.route("TRACE", "/user").is_none());

    // Per-request cost of a profile operation (stderr, never asserted), in nanoseconds.
    let n = 5000u32;
    let body = br#"{"tag_name":"v1.0.0","name":"One","draft":false}"#;
    let per = |started: Instant| started.elapsed().as_nanos() / u128::from(n);
    let started = Instant::now();
    for _ in 0..n {
        assert!(release.validate(&good).is_ok());
    }
    let validate = per(started);
    let started = Instant::now();
    for _ in 0..n {
        let (o, _) = p
            .route("POST", "/repos/octocat/hello-world/releases")
            .expect("routes");
        assert_eq!(o.action, "github.repos/create-release");
    }
    let route = per(started);
    let (ro, rvars) = p
        .route("POST", "/repos/octocat/hello-world/releases")
        .expect("routes");
    let started = Instant::now();
    for _ in 0..n {
        let params = from_http(
            ro,
            &HttpRequest {
                path_vars: rvars.clone(),
                query: None,
                headers: &headers,
                body,
            },
        )
        .expect("params");
        assert_eq!(params["body"]["tag_name"], "v1.0.0");
    }
    let parse = per(started);
    let started = Instant::now();
    for _ in 0..n {
        assert!(outbound(release, &good, None).is_ok());
    }
    let build = per(started);
    eprintln!(
        "github.repos/create-release per request (this build profile): validate {validate} ns, \
         route {route} ns, request → params {parse} ns, params → request {build} ns"
    );
}
