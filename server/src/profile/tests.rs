#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::HeaderMap;
use serde_json::json;

use super::request::{from_http, outbound, HttpRequest};
use super::*;

const SHOP: &str = include_str!("../../tests/fixtures/shop.yaml");

fn shop() -> (Profile, ImportReport) {
    let (doc, stored) = normalize(SHOP.as_bytes()).expect("parses");
    let hash = intentrail_core::hash::sha256_tagged(&stored);
    compile("shop", 1, &hash, &doc).expect("compiles")
}

fn op<'p>(p: &'p Profile, id: &str) -> &'p Operation {
    p.operation(&format!("shop.{id}")).expect("operation")
}

fn pointers(r: Result<(), Vec<Violation>>) -> Vec<String> {
    r.expect_err("must be refused")
        .into_iter()
        .map(|v| v.pointer)
        .collect()
}

#[test]
fn yaml_document_imports_with_refs_cycles_and_skips_reported() {
    let (p, report) = shop();
    let names: Vec<&str> = p.operations.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "shop.createCharge",
            "shop.deleteFile",
            "shop.getCharge",
            "shop.listCharges",
            "shop.put_v1_trees_tree_id_nodes",
            "shop.searchCharges",
        ]
    );
    assert_eq!(report.imported, 6);
    for o in p.operations.values() {
        assert!(o.validator().is_ok(), "{}", o.action);
    }
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].operation, "POST /v1/uploads");
    assert!(report.skipped[0]
        .reason
        .contains("application/octet-stream"));
    // The recursive schema is a reference into $defs, not an endless expansion.
    let tree = op(&p, "put_v1_trees_tree_id_nodes");
    assert_eq!(
        tree.schema["properties"]["body"],
        json!({"$ref": "#/$defs/Node"})
    );
    assert!(tree.schema["$defs"]["Parent"].is_object());
}

#[test]
fn recursive_bodies_validate_at_any_depth() {
    let (p, _) = shop();
    let tree = op(&p, "put_v1_trees_tree_id_nodes");
    let good = json!({"path": {"tree_id": 7}, "body": {"name": "a", "children": [
        {"name": "b", "children": [{"name": "c", "parent": {"node": {"name": "d"}}}]}
    ]}});
    assert!(tree.validate(&good).is_ok());
    let bad = json!({"path": {"tree_id": 7}, "body": {"name": "a", "children": [
        {"name": "b", "children": [{"weight": 0}]}
    ]}});
    let ptrs = pointers(tree.validate(&bad));
    assert!(
        ptrs.contains(&"/body/children/0/children/0/name".to_string()),
        "{ptrs:?}"
    );
    // 3.0 exclusiveMinimum: true means weight > 0.
    assert!(
        ptrs.contains(&"/body/children/0/children/0/weight".to_string()),
        "{ptrs:?}"
    );
    // The path parameter is an integer.
    let ptrs = pointers(tree.validate(&json!({"path": {"tree_id": "x"}})));
    assert_eq!(ptrs, ["/path/tree_id"]);
}

#[test]
fn authorization_and_cookie_parameters_are_never_declared() {
    let (p, _) = shop();
    let charge = op(&p, "createCharge");
    let names: Vec<&str> = charge.params.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["stripe-account"]);
    let ptrs = pointers(charge.validate(&json!({
        "headers": {"authorization": "Bearer x"},
        "body": {"amount": 5, "currency": "usd"}
    })));
    assert_eq!(ptrs, ["/headers/authorization"]);
}

#[test]
fn query_params_are_typed_and_checked() {
    let (p, _) = shop();
    let list = op(&p, "listCharges");
    assert!(list
        .validate(&json!({"query": {"limit": 10, "ids": ["a", "b"], "status": ["paid"], "created": {"gte": 1}}}))
        .is_ok());
    // nullable (3.0) is honoured.
    assert!(list.validate(&json!({"query": {"limit": null}})).is_ok());
    let ptrs =
        pointers(list.validate(&json!({"query": {"limit": 500, "status": ["lost"], "nope": "1"}})));
    assert!(ptrs.contains(&"/query/limit".to_string()), "{ptrs:?}");
    assert!(ptrs.contains(&"/query/status/0".to_string()), "{ptrs:?}");
    assert!(ptrs.contains(&"/query/nope".to_string()), "{ptrs:?}");
    let search = op(&p, "searchCharges");
    assert_eq!(pointers(search.validate(&json!({}))), ["/query"]);
}

#[test]
fn most_specific_template_wins_and_multi_variable_segments_match() {
    let (p, _) = shop();
    let (o, vars) = p.route("GET", "/v1/charges/search").expect("route");
    assert_eq!(o.operation_id, "searchCharges");
    assert!(vars.is_empty());
    let (o, vars) = p.route("get", "/v1/charges/ch_1").expect("route");
    assert_eq!(o.operation_id, "getCharge");
    assert_eq!(vars, [("charge_id".to_string(), "ch_1".to_string())]);
    let (o, vars) = p.route("DELETE", "/v1/files/report.v2.csv").expect("route");
    assert_eq!(o.operation_id, "deleteFile");
    assert_eq!(
        vars,
        [
            ("name".to_string(), "report".to_string()),
            ("ext".to_string(), "v2.csv".to_string())
        ]
    );
    assert!(p.route("PATCH", "/v1/charges/ch_1").is_none());
    assert!(p.route("GET", "/v1/charges/ch_1/refunds").is_none());
    assert!(p.route("GET", "/v2/charges").is_none());
}

fn http<'a>(
    vars: Vec<(String, String)>,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> HttpRequest<'a> {
    HttpRequest {
        path_vars: vars,
        query,
        headers,
        body,
    }
}

#[test]
fn form_bodies_round_trip_with_nested_keys() {
    let (p, _) = shop();
    let charge = op(&p, "createCharge");
    let mut headers = HeaderMap::new();
    headers.insert("stripe-account", "acct_1".parse().unwrap());
    headers.insert("authorization", "Bearer agent-key".parse().unwrap());
    headers.insert("cookie", "session=x".parse().unwrap());
    let body = b"amount=2000&currency=usd&capture=true&metadata[order]=6735&metadata[note]=a%20b&expand[]=customer&expand[]=invoice";
    let params = from_http(charge, &http(vec![], None, &headers, body)).expect("params");
    assert_eq!(
        params,
        json!({
            "headers": {"stripe-account": "acct_1"},
            "body": {"amount": 2000, "currency": "usd", "capture": true,
                     "metadata": {"order": "6735", "note": "a b"},
                     "expand": ["customer", "invoice"]}
        })
    );
    assert!(charge.validate(&params).is_ok());
    let out = outbound(charge, &params, Some("pmt_1".into())).expect("outbound");
    assert_eq!(out.method, "POST");
    assert_eq!(out.path, "/v1/charges");
    assert_eq!(
        out.headers,
        [("stripe-account".to_string(), "acct_1".to_string())]
    );
    let (bytes, ct) = out.body.expect("body");
    assert_eq!(ct, "application/x-www-form-urlencoded");
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        "amount=2000&capture=true&currency=usd&expand%5B0%5D=customer&expand%5B1%5D=invoice&metadata%5Bnote%5D=a+b&metadata%5Border%5D=6735"
    );
    // The same params always give the same bytes.
    let again = outbound(charge, &params, Some("pmt_1".into())).expect("outbound");
    assert_eq!(again.body.expect("body").0, bytes);
}

#[test]
fn query_styles_parse_and_serialize() {
    let (p, _) = shop();
    let list = op(&p, "listCharges");
    let headers = HeaderMap::new();
    let q = "limit=5&ids=a,b&status=paid&status=failed&created[gte]=10&extra=1";
    let params = from_http(list, &http(vec![], Some(q), &headers, b"")).expect("params");
    assert_eq!(
        params,
        json!({"query": {"limit": 5, "ids": ["a", "b"], "status": ["paid", "failed"],
                         "created": {"gte": 10}, "extra": "1"}})
    );
    assert_eq!(pointers(list.validate(&params)), ["/query/extra"]);
    let mut params = params;
    params["query"].as_object_mut().unwrap().remove("extra");
    assert!(list.validate(&params).is_ok());
    let out = outbound(list, &params, None).expect("outbound");
    assert_eq!(
        out.query,
        [
            ("created[gte]".to_string(), "10".to_string()),
            ("ids".to_string(), "a,b".to_string()),
            ("limit".to_string(), "5".to_string()),
            ("status".to_string(), "paid".to_string()),
            ("status".to_string(), "failed".to_string()),
        ]
    );
    assert!(out.body.is_none());
}

#[test]
fn path_values_are_encoded_and_cannot_escape_their_segment() {
    let (p, _) = shop();
    let get = op(&p, "getCharge");
    let out = outbound(get, &json!({"path": {"charge_id": "../x?y"}}), None).expect("outbound");
    assert_eq!(out.path, "/v1/charges/..%2Fx%3Fy");
    assert!(outbound(get, &json!({"path": {"charge_id": ".."}}), None).is_err());
    let del = op(&p, "deleteFile");
    let out =
        outbound(del, &json!({"path": {"name": "a b", "ext": "csv"}}), None).expect("outbound");
    assert_eq!(out.path, "/v1/files/a%20b.csv");
    // Params that name an undeclared place or parameter are never turned into a request.
    assert!(outbound(
        get,
        &json!({"path": {"charge_id": "ch_1"}, "cookies": {}}),
        None
    )
    .is_err());
    assert!(outbound(
        get,
        &json!({"path": {"charge_id": "ch_1"}, "headers": {"authorization": "x"}}),
        None
    )
    .is_err());
}

#[test]
fn json_bodies_are_sent_as_their_canonical_bytes() {
    let (p, _) = shop();
    let tree = op(&p, "put_v1_trees_tree_id_nodes");
    let headers = HeaderMap::new();
    let params = from_http(
        tree,
        &http(
            vec![("tree_id".into(), "7".into())],
            None,
            &headers,
            br#"{"name": "a", "weight": 1.50, "children": []}"#,
        ),
    )
    .expect("params");
    assert_eq!(params["path"]["tree_id"], json!(7));
    let out = outbound(tree, &params, None).expect("outbound");
    let (bytes, ct) = out.body.expect("body");
    assert_eq!(ct, "application/json");
    assert_eq!(&bytes[..], br#"{"children":[],"name":"a","weight":1.5}"#);
    // Duplicate keys are refused, never normalized.
    assert!(from_http(
        tree,
        &http(
            vec![("tree_id".into(), "7".into())],
            None,
            &headers,
            br#"{"name":"a","name":"b"}"#
        )
    )
    .is_err());
}

fn compile_text(text: &str) -> Result<(Profile, ImportReport), String> {
    let (doc, _) = normalize(text.as_bytes())?;
    compile("t", 1, "sha256:x", &doc)
}

#[test]
fn refused_documents_say_why() {
    let ok_path = r#""paths": {"/a": {"get": {"operationId": "a"}}}"#;
    for (servers, why) in [
        (r#"[{"url": "http://127.0.0.1:8080"}]"#, "private"),
        (r#"[{"url": "http://169.254.169.254/latest"}]"#, "private"),
        (r#"[{"url": "https://[::1]/"}]"#, "private"),
        (r#"[{"url": "http://localhost/v1"}]"#, "private"),
        (r#"[{"url": "http://10.1.2.3"}]"#, "private"),
        (r#"[{"url": "ftp://example.com"}]"#, "http"),
        (r#"[{"url": "https://user:pw@example.com"}]"#, "userinfo"),
        (
            r#"[{"url": "https://{tenant}.example.com", "variables": {"tenant": {"default": "x"}}}]"#,
            "variables",
        ),
    ] {
        let doc = format!(r#"{{"openapi": "3.1.0", "servers": {servers}, {ok_path}}}"#);
        let err = compile_text(&doc).expect_err(servers);
        assert!(err.contains(why), "{servers}: {err}");
    }
    let doc = format!(
        r#"{{"openapi": "3.1.0", "servers": [{{"url": "https://api.example.com/v1"}}], {ok_path}}}"#
    );
    assert!(compile_text(&doc).is_ok());

    let remote = r#"{"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "https://evil.example/p.json"}]}}}}"#;
    assert!(compile_text(remote)
        .expect_err("remote")
        .contains("remote $ref"));
    let file_ref = r#"{"openapi": "3.0.0", "paths": {"/a": {"$ref": "other.yaml#/paths/~1a"}}}"#;
    assert!(compile_text(file_ref)
        .expect_err("file")
        .contains("remote $ref"));
    assert!(compile_text(r#"{"swagger": "2.0", "paths": {}}"#)
        .expect_err("swagger")
        .contains("OpenAPI 3"));
    assert!(compile_text(r#"{"openapi": "4.0.0", "paths": {}}"#)
        .expect_err("4.0")
        .contains("not supported"));
    assert!(compile_text("openapi: [unclosed")
        .expect_err("yaml")
        .contains("YAML"));
    // A $ref cycle outside components/schemas ends with an error, never a hang.
    let cycle = r##"{"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/p"}]}}},
                    "components": {"parameters": {"p": {"$ref": "#/components/parameters/q"}, "q": {"$ref": "#/components/parameters/p"}}}}"##;
    assert!(compile_text(cycle)
        .expect_err("cycle")
        .contains("no operation"));
    assert!(!valid_name("Bad.Name"));
    assert!(compile("a.b", 1, "h", &json!({"openapi": "3.1.0", "paths": {}})).is_err());
}

#[test]
fn derived_names_are_stable() {
    assert_eq!(
        derived_id("PUT", "/v1/trees/{tree_id}/nodes"),
        "put_v1_trees_tree_id_nodes"
    );
    assert_eq!(derived_id("get", "/"), "get");
}

#[test]
fn an_operation_whose_schema_cannot_compile_accepts_nothing() {
    let doc = r#"{"openapi": "3.1.0", "paths": {"/a": {"get": {"operationId": "a",
        "parameters": [{"name": "q", "in": "query", "schema": {"type": "string", "pattern": "(unclosed"}}]}}}}"#;
    let (p, report) = compile_text(doc).expect("imports");
    assert_eq!(report.imported, 1);
    let op = p.operation("t.a").expect("op");
    assert!(op.validator().is_err());
    assert!(op.validate(&json!({})).is_err());
    assert!(op.validate(&json!({"query": {"q": "x"}})).is_err());
}

#[test]
fn yaml_aliases_are_refused_before_they_can_expand() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nopenapi: 3.0.0\n";
    let err = normalize(bomb.as_bytes()).expect_err("refused");
    assert!(err.contains("aliases"), "{err}");
    // Anchors alone (no alias) are harmless.
    assert!(normalize(b"openapi: &v 3.0.0\npaths: {}\n").is_ok());
}

#[test]
fn an_earlier_literal_segment_is_more_specific() {
    let doc = r#"{"openapi": "3.1.0", "paths": {
        "/a/{x}/c": {"get": {"operationId": "xc"}},
        "/a/b/{y}": {"get": {"operationId": "by"}},
        "/a/{x}/{z}": {"get": {"operationId": "xz"}},
        "/f/{name}.json": {"get": {"operationId": "json"}},
        "/f/{file}": {"get": {"operationId": "any"}}
    }}"#;
    let (p, _) = compile_text(doc).expect("compiles");
    let id = |path: &str| p.route("GET", path).map(|(o, _)| o.operation_id.clone());
    assert_eq!(id("/a/b/c").as_deref(), Some("by"));
    assert_eq!(id("/a/q/c").as_deref(), Some("xc"));
    assert_eq!(id("/a/q/r").as_deref(), Some("xz"));
    assert_eq!(id("/f/x.json").as_deref(), Some("json"));
    assert_eq!(id("/f/x.yaml").as_deref(), Some("any"));
}

fn hostile(name: &str) -> (Profile, ImportReport) {
    let path = format!(
        "{}/tests/fixtures/hostile/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    compile_text(&text).expect("the rest of the document imports")
}

#[test]
fn a_reference_loop_on_the_same_value_is_skipped_at_import() {
    let (p, report) = hostile("ref-cycle.json");
    assert!(p.operation("t.x").is_none());
    assert!(p.operation("t.ok").is_some());
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].operation, "POST /x");
    assert!(
        report.skipped[0]
            .reason
            .contains("loop back to the same value (A → B → A)"),
        "{}",
        report.skipped[0].reason
    );
}

#[test]
fn references_that_fan_out_are_skipped_at_import() {
    let (p, report) = hostile("allof-fanout.json");
    assert!(p.operation("t.x").is_none());
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(
        report.skipped[0]
            .reason
            .contains("expands to more than 10000 schema objects"),
        "{}",
        report.skipped[0].reason
    );
}

/// A tree whose nodes reference their own definition from several members.
fn wide_tree() -> Profile {
    let doc = r##"{"openapi": "3.1.0", "paths": {"/t": {"post": {"operationId": "t",
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/N"}}}}}}},
        "components": {"schemas": {"N": {"type": "object", "required": ["v"], "properties": {
            "v": {"type": "integer"},
            "a": {"$ref": "#/components/schemas/N"}, "b": {"$ref": "#/components/schemas/N"},
            "list": {"type": "array", "items": {"$ref": "#/components/schemas/N"}}}}}}}"##;
    compile_text(doc).expect("imports").0
}

fn nest(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, _| json!({"v": 1, "a": inner}))
}

#[test]
fn recursive_schemas_check_deep_and_wide_values_with_exact_pointers() {
    let p = wide_tree();
    let op = p.operation("t.t").expect("op");
    // 60 levels deep, then a wrong type and a missing member at the bottom.
    let good = json!({"body": nest(60, json!({"v": 2}))});
    assert!(op.validate(&good).is_ok());
    let bad = json!({"body": nest(60, json!({"v": "x", "b": {}}))});
    let ptrs = pointers(op.validate(&bad));
    let deep = "/a".repeat(60);
    assert!(ptrs.contains(&format!("/body{deep}/v")), "{ptrs:?}");
    assert!(ptrs.contains(&format!("/body{deep}/b/v")), "{ptrs:?}");
    // Many items at one position: each one is checked.
    let items: Vec<Value> = (0..500).map(|i| json!({"v": i})).collect();
    assert!(op
        .validate(&json!({"body": {"v": 0, "list": items}}))
        .is_ok());
    let mut items: Vec<Value> = (0..500).map(|i| json!({"v": i})).collect();
    items[321] = json!({"v": true});
    assert_eq!(
        pointers(op.validate(&json!({"body": {"v": 0, "list": items}}))),
        ["/body/list/321/v"]
    );
}

#[test]
fn checking_a_recursive_schema_is_bounded_in_depth_and_work() {
    let p = wide_tree();
    let op = p.operation("t.t").expect("op");
    let too_deep =
        json!({"body": nest(bounds::MAX_RECURSION_DEPTH as usize + 10, json!({"v": 1}))});
    let found = op.validate(&too_deep).expect_err("refused");
    assert!(
        found
            .iter()
            .any(|v| v.message.contains("nested too deeply")),
        "{found:?}"
    );
    let items: Vec<Value> = (0..bounds::MAX_RECURSIVE_STEPS as usize + 1)
        .map(|_| json!({"v": 1}))
        .collect();
    let found = op
        .validate(&json!({"body": {"v": 0, "list": items}}))
        .expect_err("refused");
    assert!(
        found
            .iter()
            .any(|v| v.message.contains("too large to check")),
        "{found:?}"
    );
    // The bounds are per check: a normal value passes right after.
    assert!(op
        .validate(&json!({"body": nest(3, json!({"v": 1}))}))
        .is_ok());
}

#[test]
fn a_profile_whose_operations_expand_too_far_in_all_is_refused() {
    // Each operation unfolds to 1,648 schema objects (9 × 9 × 9 references, each `allOf`
    // member an object too): within the per-operation bound, but 100 of them are not.
    let mut schemas = serde_json::Map::new();
    for i in 0..3 {
        let refs: Vec<Value> = (0..9)
            .map(|_| json!({"$ref": format!("#/components/schemas/S{}", i + 1)}))
            .collect();
        schemas.insert(format!("S{i}"), json!({"allOf": refs}));
    }
    schemas.insert("S3".into(), json!({"type": "object"}));
    let op = |n: usize| {
        json!({"post": {"operationId": format!("o{n}"), "requestBody": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}})
    };
    let doc = |ops: usize| {
        let paths: serde_json::Map<String, Value> =
            (0..ops).map(|n| (format!("/o{n}"), op(n))).collect();
        json!({"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}})
    };
    let (p, _) = compile_text(&doc(3).to_string()).expect("a few are fine");
    assert_eq!(p.operation("t.o0").expect("op").schema_nodes(), 1_648);
    let err = compile_text(&doc(100).to_string()).expect_err("refused");
    assert!(
        err.contains("more than 100000 schema objects in all"),
        "{err}"
    );
}
