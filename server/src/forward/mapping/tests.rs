use serde_json::json;

use super::*;

fn t(method: &str, path: &str, body: BodyEncoding) -> RequestTemplate {
    RequestTemplate {
        method: method.into(),
        path: path.into(),
        body,
    }
}

fn params(src: &str) -> Value {
    intentrail_core::json::parse_strict(src.as_bytes()).expect("params")
}

#[test]
fn json_body_is_the_canonical_bytes_the_permit_hashes() {
    let p = params(r#"{"currency":"usd","amount":5000,"meta":{"z":1,"a":[true,null,1.5e0]}}"#);
    let out = build(
        &t("post", "/v1/payments", BodyEncoding::Json),
        &p,
        Some("jti-1".into()),
    )
    .expect("build");
    assert_eq!(out.method, "POST");
    assert_eq!(out.path, "/v1/payments");
    assert!(out.query.is_empty());
    assert_eq!(out.idempotency_key.as_deref(), Some("jti-1"));
    let (bytes, ct) = out.body.expect("body");
    assert_eq!(ct, "application/json");
    assert_eq!(
        bytes.as_ref(),
        intentrail_core::jcs::canonicalize(&p)
            .expect("jcs")
            .as_slice()
    );
    assert_eq!(
        bytes.as_ref(),
        br#"{"amount":5000,"currency":"usd","meta":{"a":[true,null,1.5],"z":1}}"#
    );
}

#[test]
fn path_params_are_substituted_encoded_and_removed_from_the_body() {
    let p = params(r#"{"payment_id":"pay 1/../x?y#z%","n":42,"amount":100}"#);
    let out = build(
        &t(
            "POST",
            "/v1/payments/{payment_id}/refunds/{n}",
            BodyEncoding::Json,
        ),
        &p,
        None,
    )
    .expect("build");
    assert_eq!(
        out.path,
        "/v1/payments/pay%201%2F..%2Fx%3Fy%23z%25/refunds/42"
    );
    let (bytes, _) = out.body.expect("body");
    assert_eq!(bytes.as_ref(), br#"{"amount":100}"#);

    let unicode = build(
        &t("GET", "/u/{id}", BodyEncoding::None),
        &json!({"id": "é~_-."}),
        None,
    )
    .expect("unicode");
    assert_eq!(unicode.path, "/u/%C3%A9~_-.");
    assert!(unicode.body.is_none());

    // The same param twice is fine and removed once.
    let twice = build(
        &t("GET", "/a/{x}/b/{x}", BodyEncoding::None),
        &json!({"x": "1"}),
        None,
    )
    .expect("twice");
    assert_eq!(twice.path, "/a/1/b/1");
}

#[test]
fn bad_path_params_and_templates_are_refused() {
    let tpl = t("POST", "/p/{id}", BodyEncoding::Json);
    for p in [
        json!({}),
        json!({"id": ""}),
        json!({"id": "."}),
        json!({"id": ".."}),
        json!({"id": 1.5}),
        json!({"id": true}),
        json!({"id": null}),
        json!({"id": {"a": 1}}),
    ] {
        assert!(build(&tpl, &p, None).is_err(), "{p} accepted");
    }
    assert!(build(&tpl, &json!([1]), None).is_err());
    for path in [
        "p/{id}",
        "/p/{id",
        "/p/id}",
        "/p/{}",
        "/p/{a-b}",
        "/p/../{id}",
        "/p?x={id}",
        "/p/{id}#f",
        "/p q/{id}",
    ] {
        let tpl = t("POST", path, BodyEncoding::Json);
        assert!(
            build(&tpl, &json!({"id": "1", "a-b": "1"}), None).is_err(),
            "{path} accepted"
        );
    }
    assert!(build(&t("PO ST", "/p", BodyEncoding::Json), &json!({}), None).is_err());
    assert!(build(
        &t("GET", "/p", BodyEncoding::None),
        &json!({"left": 1}),
        None
    )
    .is_err());
}

#[test]
fn form_body_is_deterministic_and_stripe_style() {
    let p = params(
        r#"{"metadata":{"order":"o 1","b":"x&y=z"},"amount":5000,"items":[{"price":"p_1","qty":2},{"price":"p_2"}],
            "capture":false,"ratio":0.5,"big":1e21,"note":null,"empty":[],"nested":{"deep":{"k":"v"}}}"#,
    );
    let out = build(&t("POST", "/v1/charges", BodyEncoding::Form), &p, None).expect("form");
    let (bytes, ct) = out.body.expect("body");
    assert_eq!(ct, "application/x-www-form-urlencoded");
    let want = "amount=5000&big=1e%2B21&capture=false\
        &items%5B0%5D%5Bprice%5D=p_1&items%5B0%5D%5Bqty%5D=2&items%5B1%5D%5Bprice%5D=p_2\
        &metadata%5Bb%5D=x%26y%3Dz&metadata%5Border%5D=o+1\
        &nested%5Bdeep%5D%5Bk%5D=v&note=&ratio=0.5";
    assert_eq!(std::str::from_utf8(&bytes).expect("utf8"), want);
    // Key order in the input does not matter.
    let q = params(
        r#"{"ratio":0.5,"note":null,"nested":{"deep":{"k":"v"}},"metadata":{"b":"x&y=z","order":"o 1"},"items":[{"qty":2,"price":"p_1"},{"price":"p_2"}],
            "empty":[],"capture":false,"big":1e21,"amount":5000}"#,
    );
    let again = build(&t("POST", "/v1/charges", BodyEncoding::Form), &q, None).expect("form");
    assert_eq!(again.body.expect("body").0, bytes);
    // Decoding gives the Stripe-style names.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    assert!(pairs.contains(&("items[0][price]".into(), "p_1".into())));
    assert!(pairs.contains(&("metadata[order]".into(), "o 1".into())));
}

#[test]
fn form_keys_with_brackets_are_refused() {
    for p in [json!({"a[b]": 1}), json!({"a": {"b]": 1}}), json!({"": 1})] {
        assert!(
            build(&t("POST", "/f", BodyEncoding::Form), &p, None).is_err(),
            "{p}"
        );
    }
}

#[test]
fn query_encoding_puts_params_in_the_query() {
    let out = build(
        &t("GET", "/v1/customers/{id}/charges", BodyEncoding::Query),
        &json!({"id": "cus_1", "limit": 10, "expand": ["data.customer"]}),
        None,
    )
    .expect("query");
    assert!(out.body.is_none());
    assert_eq!(out.path, "/v1/customers/cus_1/charges");
    assert_eq!(
        out.query,
        vec![
            ("expand[0]".to_string(), "data.customer".to_string()),
            ("limit".into(), "10".into())
        ]
    );
}

#[test]
fn templates_load_from_toml() {
    let tpl: RequestTemplate =
        toml::from_str("method = \"POST\"\npath = \"/v1/refunds\"\nbody = \"form\"\n")
            .expect("toml");
    assert_eq!(tpl.body, BodyEncoding::Form);
    let tpl: RequestTemplate =
        toml::from_str("method = \"POST\"\npath = \"/v1/refunds\"\n").expect("toml");
    assert_eq!(tpl.body, BodyEncoding::Json);
    assert!(
        toml::from_str::<RequestTemplate>("method = \"POST\"\npath = \"/\"\nbody = \"xml\"\n")
            .is_err()
    );
    assert!(
        toml::from_str::<RequestTemplate>("method = \"POST\"\npath = \"/\"\nquery = 1\n").is_err()
    );
}
