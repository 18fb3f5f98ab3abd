use serde_json::json;

use super::*;

fn violations(action: &str, params: Value) -> Vec<Violation> {
    let catalog = Catalog::native();
    let a = catalog.get(action).expect("ok");
    a.validate(&params).expect_err("should fail")
}

fn pointers(v: &[Violation]) -> Vec<&str> {
    let mut p: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
    p.sort_unstable();
    p
}

fn accepts(action: &str, params: Value) {
    let catalog = Catalog::native();
    let a = catalog.get(action).expect("ok");
    assert_eq!(
        a.validate(&params),
        Ok(()),
        "{action} should accept {params}"
    );
}

#[test]
fn native_catalog_lists_the_four_actions_in_name_order() {
    let c = Catalog::native();
    let names: Vec<&str> = c.actions().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "deploy.release",
            "money.payment",
            "money.refund",
            "money.transfer"
        ]
    );
    assert!(c.get("money.nope").is_none());
}

#[test]
fn catalog_json_has_name_description_and_schema() {
    let j = Catalog::native().to_json();
    let actions = j["actions"].as_array().expect("ok");
    assert_eq!(actions.len(), 4);
    for a in actions {
        let obj = a.as_object().expect("ok");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["description", "name", "schema"]);
        assert!(!a["description"].as_str().expect("ok").is_empty());
        let schema = &a["schema"];
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
    let refund = &actions[2];
    assert_eq!(refund["name"], "money.refund");
    assert_eq!(
        refund["schema"]["required"],
        json!(["payment_id", "amount", "currency"])
    );
    // Doc comments become descriptions.
    assert!(refund["schema"]["properties"]["amount"]["description"]
        .as_str()
        .expect("ok")
        .contains("minor unit"));
    assert_eq!(refund["schema"]["properties"]["amount"]["minimum"], 1);
}

#[test]
fn payment_accepts_a_good_payload() {
    accepts(
        "money.payment",
        json!({"amount": 1999, "currency": "usd", "customer": "cus_123"}),
    );
    accepts(
        "money.payment",
        json!({"amount": 1, "currency": "eur", "customer": "c", "description": "tea"}),
    );
}

#[test]
fn payment_lists_every_violation() {
    let v = violations(
        "money.payment",
        json!({"amount": -5, "currency": "USD", "extra": 1, "description": 7}),
    );
    assert_eq!(
        pointers(&v),
        [
            "/amount",
            "/currency",
            "/customer",
            "/description",
            "/extra"
        ]
    );
}

#[test]
fn refund_accepts_a_good_payload() {
    accepts(
        "money.refund",
        json!({"payment_id": "pay_1", "amount": 5000, "currency": "usd"}),
    );
    accepts(
        "money.refund",
        json!({"payment_id": "pay_1", "amount": 5000, "currency": "usd", "reason": "dup"}),
    );
}

#[test]
fn refund_rejects_missing_wrong_type_extra_negative_and_bad_currency() {
    // Missing field.
    let v = violations("money.refund", json!({"payment_id": "pay_1", "amount": 5}));
    assert_eq!(pointers(&v), ["/currency"]);
    assert_eq!(v[0].message, "required property is missing");

    // Wrong type.
    let v = violations(
        "money.refund",
        json!({"payment_id": "pay_1", "amount": "5000", "currency": "usd"}),
    );
    assert_eq!(pointers(&v), ["/amount"]);
    assert!(v[0].message.contains("integer"), "{}", v[0].message);

    // Extra field.
    let v = violations(
        "money.refund",
        json!({"payment_id": "pay_1", "amount": 5, "currency": "usd", "note": "x"}),
    );
    assert_eq!(pointers(&v), ["/note"]);
    assert_eq!(v[0].message, "property is not allowed");

    // Zero, negative and fractional amounts.
    for amount in [json!(0), json!(-100), json!(10.5)] {
        let v = violations(
            "money.refund",
            json!({"payment_id": "pay_1", "amount": amount, "currency": "usd"}),
        );
        assert_eq!(pointers(&v), ["/amount"], "{amount}");
    }

    // Bad currencies.
    for c in ["US", "usdd", "USD", "us1", ""] {
        let v = violations(
            "money.refund",
            json!({"payment_id": "pay_1", "amount": 5, "currency": c}),
        );
        assert_eq!(pointers(&v), ["/currency"], "{c}");
    }

    // Several at once: every one is reported (the empty id breaks two rules).
    let v = violations(
        "money.refund",
        json!({"payment_id": "", "amount": -1, "currency": "EURO", "x": 1, "y": 2}),
    );
    assert_eq!(
        pointers(&v),
        [
            "/amount",
            "/currency",
            "/payment_id",
            "/payment_id",
            "/x",
            "/y"
        ],
        "{v:?}"
    );
}

#[test]
fn params_must_be_an_object() {
    let v = violations("money.refund", json!([1, 2]));
    assert_eq!(pointers(&v), [""]);
    assert!(v[0].message.contains("object"), "{}", v[0].message);
}

#[test]
fn transfer_accepts_and_rejects() {
    accepts(
        "money.transfer",
        json!({"amount": 100000, "currency": "gbp", "from_account": "acc_a", "to_account": "acc_b"}),
    );
    accepts(
        "money.transfer",
        json!({"amount": 1, "currency": "gbp", "from_account": "a", "to_account": "b", "reference": "rent"}),
    );
    let v = violations(
        "money.transfer",
        json!({"amount": 0, "currency": "gbp", "from_account": "has space", "reference": ""}),
    );
    assert_eq!(
        pointers(&v),
        ["/amount", "/from_account", "/reference", "/to_account"]
    );
}

#[test]
fn release_accepts_and_rejects_with_defs_ref() {
    accepts(
        "deploy.release",
        json!({"service": "api", "version": "v1.2.3", "environment": "production"}),
    );
    accepts(
        "deploy.release",
        json!({"service": "api", "version": "v1.2.3", "environment": "staging", "commit_sha": "abc1234"}),
    );
    // `environment` is a `$ref` into `$defs`: the enum is enforced through it.
    let v = violations(
        "deploy.release",
        json!({"service": "API!", "version": "1", "environment": "prod", "commit_sha": "XYZ"}),
    );
    assert_eq!(pointers(&v), ["/commit_sha", "/environment", "/service"]);
}

#[test]
fn long_values_are_never_echoed() {
    let huge = "A".repeat(10_000);
    let v = violations(
        "money.payment",
        json!({"amount": 1, "currency": huge.clone(), "customer": huge.clone(), "description": huge.clone()}),
    );
    assert_eq!(pointers(&v), ["/currency", "/customer", "/description"]);
    for x in &v {
        assert!(!x.message.contains("AAAA"), "{}", x.message);
        assert!(x.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
    // A huge unexpected key: its pointer is cut.
    let v = violations(
        "money.payment",
        json!({"amount": 1, "currency": "usd", "customer": "c", huge.clone(): 1}),
    );
    assert_eq!(v.len(), 1);
    assert!(v[0].pointer.chars().count() <= MAX_MESSAGE_CHARS + 1);
}

#[test]
fn pointers_are_escaped() {
    let v = violations(
        "money.refund",
        json!({"payment_id": "p", "amount": 1, "currency": "usd", "a/b~c": 1}),
    );
    assert_eq!(pointers(&v), ["/a~1b~0c"]);
}

#[test]
fn custom_actions_can_be_inserted_and_bad_schemas_are_refused() {
    let mut c = Catalog::native();
    let a = Action::new(
        "github.repos/create-release",
        "Create a release.",
        json!({"type": "object", "properties": {"tag": {"type": "string"}}, "required": ["tag"]}),
    )
    .expect("ok");
    c.insert(a);
    let a = c.get("github.repos/create-release").expect("ok");
    assert!(a.validate(&json!({"tag": "v1"})).is_ok());
    assert_eq!(
        a.validate(&json!({})).expect_err("should fail"),
        vec![Violation {
            pointer: "/tag".into(),
            message: "required property is missing".into()
        }]
    );
    let err = Action::new("bad", "bad", json!({"type": 12})).expect_err("should fail");
    assert!(err.contains("bad"), "{err}");
}

#[test]
fn remote_refs_are_never_fetched() {
    let err = Action::new(
        "x",
        "x",
        json!({"type": "object", "properties": {"a": {"$ref": "https://example.invalid/s.json"}}}),
    );
    assert!(err.is_err(), "a remote $ref must not compile");
}

#[test]
fn violations_serialize_as_pointer_and_message() {
    let v = violations("money.refund", json!({"payment_id": "p", "amount": 1}));
    assert_eq!(
        serde_json::to_value(&v).expect("ok"),
        json!([{"pointer": "/currency", "message": "required property is missing"}])
    );
}

#[test]
fn catalog_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
    assert_send_sync::<std::sync::Arc<Catalog>>();
}
