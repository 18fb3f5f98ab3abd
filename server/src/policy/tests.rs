use serde_json::json;

use super::*;

const RULES: &str = r#"
// Refunds are fine up to $100.
@id("allow_refunds")
permit(principal, action == Action::"money.refund", resource);

@id("refund_cap")
forbid(principal, action == Action::"money.refund", resource)
  when { context.params.amount > 10000 };

@id("allow_small_transfers")
permit(principal, action == Action::"money.transfer", resource)
  when { context.params.amount <= 100000 };

@id("big_transfers_need_approval")
@approval("required")
permit(principal, action == Action::"money.transfer", resource)
  when { context.params.amount > 100000 };

@id("no_prod_deploys_for_intern")
forbid(principal == Agent::"intern", action == Action::"deploy.release", resource)
  when { context.params.environment == "production" };

@id("allow_deploys")
permit(principal, action == Action::"deploy.release", resource == Connector::"ci");
"#;

fn engine() -> PolicyEngine {
    PolicyEngine::new(RULES).expect("valid rules")
}

fn eval(e: &PolicyEngine, agent: &str, action: &str, resource: &str, params: Value) -> Decision {
    e.evaluate(&PolicyInput {
        tenant: "acme",
        agent,
        action,
        resource,
        params: &params,
    })
}

fn deny_ids(d: &Decision) -> Vec<String> {
    match d {
        Decision::Deny { policy_ids, .. } => policy_ids.clone(),
        other => panic!("expected deny, got {other:?}"),
    }
}

fn deny_reason(d: &Decision) -> String {
    match d {
        Decision::Deny { reason, .. } => reason.clone(),
        other => panic!("expected deny, got {other:?}"),
    }
}

#[test]
fn permit_allows() {
    let e = engine();
    let d = eval(
        &e,
        "bot",
        "money.refund",
        "stripe",
        json!({"amount": 5000, "payment_id": "p"}),
    );
    assert_eq!(d, Decision::Allow);
    let d = eval(
        &e,
        "bot",
        "money.refund",
        "stripe",
        json!({"amount": 10000}),
    );
    assert_eq!(d, Decision::Allow);
}

#[test]
fn forbid_denies_naming_the_rule() {
    let e = engine();
    let d = eval(
        &e,
        "bot",
        "money.refund",
        "stripe",
        json!({"amount": 10001}),
    );
    assert_eq!(deny_ids(&d), ["refund_cap"]);
    assert!(deny_reason(&d).contains("refund_cap"), "{d:?}");
    // Principal scoping.
    let prod = json!({"environment": "production", "service": "api", "version": "v1"});
    assert_eq!(
        deny_ids(&eval(&e, "intern", "deploy.release", "ci", prod.clone())),
        ["no_prod_deploys_for_intern"]
    );
    assert_eq!(
        eval(&e, "lead", "deploy.release", "ci", prod),
        Decision::Allow
    );
}

#[test]
fn nothing_permitted_is_default_deny() {
    let e = engine();
    let d = eval(&e, "bot", "money.payment", "stripe", json!({"amount": 1}));
    assert_eq!(deny_ids(&d), [DEFAULT_DENY_ID]);
    assert!(deny_reason(&d).contains("money.payment"));
    // Resource scoping: deploys only through the `ci` connector.
    let d = eval(
        &e,
        "lead",
        "deploy.release",
        "other",
        json!({"environment": "staging"}),
    );
    assert_eq!(deny_ids(&d), [DEFAULT_DENY_ID]);
    // An empty policy set denies everything.
    let empty = PolicyEngine::new("").expect("empty is valid");
    let d = eval(&empty, "bot", "money.refund", "stripe", json!({}));
    assert_eq!(deny_ids(&d), [DEFAULT_DENY_ID]);
}

#[test]
fn approval_annotation_requires_approval() {
    let e = engine();
    let d = eval(
        &e,
        "bot",
        "money.transfer",
        "bank",
        json!({"amount": 100001}),
    );
    assert_eq!(
        d,
        Decision::RequireApproval {
            policy_ids: vec!["big_transfers_need_approval".into()]
        }
    );
    let d = eval(
        &e,
        "bot",
        "money.transfer",
        "bank",
        json!({"amount": 100000}),
    );
    assert_eq!(d, Decision::Allow);
}

#[test]
fn approval_wins_over_a_plain_permit_and_loses_to_a_forbid() {
    let src = r#"
        @id("all") permit(principal, action, resource);
        @id("review") @approval("required") permit(principal, action == Action::"money.transfer", resource);
        @id("never_on_sunday") forbid(principal, action, resource) when { context.params has sunday };
    "#;
    let e = PolicyEngine::new(src).expect("valid");
    assert_eq!(
        eval(&e, "bot", "money.transfer", "bank", json!({"amount": 1})),
        Decision::RequireApproval {
            policy_ids: vec!["review".into()]
        }
    );
    assert_eq!(
        deny_ids(&eval(
            &e,
            "bot",
            "money.transfer",
            "bank",
            json!({"sunday": true})
        )),
        ["never_on_sunday"]
    );
}

#[test]
fn a_missing_attribute_fails_closed_without_values() {
    let e = engine();
    // `refund_cap` reads `context.params.amount`, which is missing: Cedar would skip the
    // erroring forbid and allow through `allow_refunds`; we deny.
    let d = eval(
        &e,
        "bot",
        "money.refund",
        "stripe",
        json!({"payment_id": "secret-ish-value"}),
    );
    assert_eq!(deny_ids(&d), ["refund_cap"]);
    let reason = deny_reason(&d);
    assert!(reason.contains("amount"), "{reason}");
    assert!(reason.contains("refund_cap"), "{reason}");
    assert!(!reason.contains("secret-ish-value"), "{reason}");

    // A type error (string compared with a Long) also fails closed, naming no value.
    let d = eval(
        &e,
        "bot",
        "money.refund",
        "stripe",
        json!({"amount": "9999999-leak"}),
    );
    assert_eq!(deny_ids(&d), ["refund_cap"]);
    assert!(!deny_reason(&d).contains("leak"), "{d:?}");
}

#[test]
fn overflow_and_extension_errors_fail_closed_without_values() {
    let src = r#"
        @id("all") permit(principal, action, resource);
        @id("overflow") forbid(principal, action, resource) when { context.params.n * 1000000000000 > 0 };
        @id("dec") forbid(principal, action, resource) when { decimal(context.params.rate).greaterThan(decimal("1.5")) };
    "#;
    let e = PolicyEngine::new(src).expect("valid");
    let d = eval(
        &e,
        "bot",
        "a",
        "c",
        json!({"n": 9007199254740991_i64, "rate": "0.5"}),
    );
    assert_eq!(deny_ids(&d), ["overflow"]);
    assert!(!deny_reason(&d).contains("9007199254740991"), "{d:?}");
    assert!(deny_reason(&d).contains("overflow"), "{d:?}");
    let d = eval(
        &e,
        "bot",
        "a",
        "c",
        json!({"n": 0, "rate": "not-a-decimal-xyz"}),
    );
    assert_eq!(deny_ids(&d), ["dec"], "{d:?}");
    assert!(!deny_reason(&d).contains("xyz"), "{d:?}");
}

#[test]
fn numbers_and_nulls_map_as_documented() {
    let src = r#"
        @id("all") permit(principal, action, resource);
        @id("big") forbid(principal, action, resource) when { context.params.amount > 100 };
        @id("rate") forbid(principal, action, resource) when { context.params has rate && decimal(context.params.rate).greaterThan(decimal("1.5")) };
        @id("note") forbid(principal, action, resource) when { context.params has note };
        @id("tenant") forbid(principal, action, resource) when { context.tenant != "acme" };
        @id("tags") forbid(principal, action, resource) when { context.params has tags && context.params.tags.contains("blocked") };
    "#;
    let e = PolicyEngine::new(src).expect("valid");
    // An integral float is a Long.
    assert_eq!(
        eval(&e, "b", "a", "c", json!({"amount": 50.0})),
        Decision::Allow
    );
    assert_eq!(
        deny_ids(&eval(&e, "b", "a", "c", json!({"amount": 101.0}))),
        ["big"]
    );
    // A non-integral number is a String: comparing it as a Long fails closed…
    assert_eq!(
        deny_ids(&eval(&e, "b", "a", "c", json!({"amount": 50.5}))),
        ["big"]
    );
    // …and `decimal(...)` reads it.
    assert_eq!(
        eval(&e, "b", "a", "c", json!({"amount": 1, "rate": 1.25})),
        Decision::Allow
    );
    assert_eq!(
        deny_ids(&eval(&e, "b", "a", "c", json!({"amount": 1, "rate": 1.75}))),
        ["rate"]
    );
    // `null` is absent.
    assert_eq!(
        eval(&e, "b", "a", "c", json!({"amount": 1, "note": null})),
        Decision::Allow
    );
    // Arrays are sets; nested nulls are dropped.
    assert_eq!(
        deny_ids(&eval(
            &e,
            "b",
            "a",
            "c",
            json!({"amount": 1, "tags": ["x", null, "blocked"]})
        )),
        ["tags"]
    );
    // The tenant is in the context.
    let d = e.evaluate(&PolicyInput {
        tenant: "other",
        agent: "b",
        action: "a",
        resource: "c",
        params: &json!({"amount": 1}),
    });
    assert_eq!(deny_ids(&d), ["tenant"]);
}

#[test]
fn unrepresentable_params_fail_closed() {
    let e = PolicyEngine::new(DEFAULT_POLICY).expect("valid");
    let d = eval(&e, "b", "a", "c", json!({"n": u64::MAX}));
    assert_eq!(deny_ids(&d), [INVALID_INPUT_ID]);
    assert!(deny_reason(&d).contains("/n"), "{d:?}");
    assert!(!deny_reason(&d).contains(&u64::MAX.to_string()), "{d:?}");
    let d = eval(&e, "b", "a", "c", json!([1]));
    assert_eq!(deny_ids(&d), [INVALID_INPUT_ID]);
    let mut deep = json!(1);
    for _ in 0..70 {
        deep = json!({ "a": deep });
    }
    assert_eq!(deny_ids(&eval(&e, "b", "a", "c", deep)), [INVALID_INPUT_ID]);
}

#[test]
fn entity_ids_are_not_parsed() {
    // Quotes in ids cannot break out of the entity literal.
    let src = r#"@id("p") permit(principal == Agent::"a\"b", action, resource);"#;
    let e = PolicyEngine::new(src).expect("valid");
    assert_eq!(eval(&e, "a\"b", "x", "c", json!({})), Decision::Allow);
    assert_eq!(
        deny_ids(&eval(&e, "a", "x", "c", json!({}))),
        [DEFAULT_DENY_ID]
    );
}

#[test]
fn default_policy_allows_everything() {
    let e = PolicyEngine::new(DEFAULT_POLICY).expect("valid");
    assert_eq!(e.policy_ids(), ["allow_all"]);
    assert_eq!(
        eval(&e, "any", "money.transfer", "bank", json!({"amount": 1})),
        Decision::Allow
    );
}

#[test]
fn a_policy_without_id_is_refused_with_its_position() {
    let src = "@id(\"a\") permit(principal, action, resource);\n\n  forbid(principal, action, resource);\n";
    let err = PolicyEngine::new(src).expect_err("no @id");
    assert_eq!(
        err,
        PolicyError::MissingId {
            position: "#2 (line 3, column 3)".into()
        }
    );
    assert!(err.to_string().contains("@id"), "{err}");
    let err =
        PolicyEngine::new(r#"@id("") permit(principal, action, resource);"#).expect_err("empty");
    assert!(matches!(err, PolicyError::MissingId { .. }), "{err:?}");
}

#[test]
fn bad_annotations_duplicates_and_templates_are_refused() {
    let dup = r#"@id("x") permit(principal, action, resource);
@id("x") forbid(principal, action, resource);"#;
    let err = PolicyEngine::new(dup).expect_err("dup");
    assert!(err.to_string().contains("duplicate"), "{err}");
    assert!(err.to_string().contains("line 2"), "{err}");

    let bad = r#"@id("x") @approval("maybe") permit(principal, action, resource);"#;
    assert!(PolicyEngine::new(bad)
        .expect_err("bad")
        .to_string()
        .contains("approval"));
    let on_forbid = r#"@id("x") @approval("required") forbid(principal, action, resource);"#;
    assert!(PolicyEngine::new(on_forbid).is_err());
    let template = r#"@id("t") permit(principal == ?principal, action, resource);"#;
    assert!(PolicyEngine::new(template)
        .expect_err("template")
        .to_string()
        .contains("template"));
}

#[test]
fn parse_errors_say_where() {
    let src = "@id(\"a\") permit(principal, action, resource);\n@id(\"b\") permit(principal, action resource);";
    let err = PolicyEngine::new(src).expect_err("parse error");
    let PolicyError::Parse(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("line 2"), "{msg}");
    assert!(err.to_string().starts_with("policy parse error"), "{err}");
}

#[test]
fn hash_is_stable_and_changes_with_meaning() {
    let a = engine();
    let b = engine();
    assert_eq!(a.hash(), b.hash());
    assert!(a.hash().starts_with("sha256:"));
    assert_eq!(a.hash().len(), "sha256:".len() + 43);

    // Whitespace, comments and order do not change it.
    let reformatted = r#"
@id("allow_refunds") permit(principal, action == Action::"money.refund", resource);
// a comment
@id("b") permit (
    principal,
    action,
    resource
);
"#;
    let reordered = r#"@id("b") permit(principal, action, resource);
@id("allow_refunds")
permit(principal, action == Action::"money.refund", resource);"#;
    let x = PolicyEngine::new(reformatted).expect("valid");
    let y = PolicyEngine::new(reordered).expect("valid");
    assert_eq!(x.hash(), y.hash());

    // A changed condition, id or annotation changes it.
    let changed = RULES.replace("> 10000", "> 10001");
    assert_ne!(PolicyEngine::new(&changed).expect("valid").hash(), a.hash());
    let renamed = RULES.replace("\"refund_cap\"", "\"refund_limit\"");
    assert_ne!(PolicyEngine::new(&renamed).expect("valid").hash(), a.hash());
    let annotated = RULES.replace("@approval(\"required\")\n", "");
    assert_ne!(
        PolicyEngine::new(&annotated).expect("valid").hash(),
        a.hash()
    );
    assert_ne!(PolicyEngine::new("").expect("valid").hash(), a.hash());
}

#[test]
fn engine_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicyEngine>();
}
