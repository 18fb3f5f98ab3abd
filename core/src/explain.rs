//! One rendering of an error for a model (and a person reading a log): a short text that names
//! the code, what happened, the rules that decided, every schema violation with its pointer,
//! and what calling again can do. Every SDK uses it as its exception's message, so an agent
//! framework hands the model the same words in every language.
//!
//! The text is bounded: at most [`MAX_LISTED`] rules and violations are listed (then how many
//! more), each item cut at [`MAX_ITEM`] characters.

use serde_json::Value;

use crate::error::{ErrorKind, Retry};

/// The most rules, and the most violations, listed by name.
pub const MAX_LISTED: usize = 20;
/// The most characters of one detail, rule id or violation message.
pub const MAX_ITEM: usize = 300;

/// What an error says, as the SDKs receive it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Explained<'a> {
    /// The wire `code` (a code this build does not know is rendered as given).
    pub code: &'a str,
    /// The human detail (never a secret).
    pub detail: &'a str,
    /// The policy rules that decided, or the limit that was reached.
    pub rules: &'a [String],
    /// Schema violations as the rail sends them (`{"pointer": …, "message": …}`).
    pub violations: &'a [Value],
    /// The approval to wait for.
    pub approval_id: Option<&'a str>,
}

/// The advice of `retry`, as a sentence.
pub const fn advice(retry: Retry) -> &'static str {
    match retry {
        Retry::Never => "Calling again with the same request will be refused again",
        Retry::AfterFix => "Fix the request as described, then call again",
        Retry::Later => "Nothing was done; the same call can succeed later",
        Retry::CheckFirst => {
            "The action may have run: check its outcome before calling again, or it may run twice"
        }
        Retry::AfterApproval => {
            "Nothing was done: a person must approve it first; do not call again until then"
        }
    }
}

/// The text: `code: detail. Rules: … . Violations: … . Approval: … . Advice.` (the approval
/// id only when the detail does not already name it).
pub fn explain(e: &Explained<'_>) -> String {
    let kind = ErrorKind::from_code(e.code).unwrap_or(ErrorKind::Internal);
    let mut parts = vec![format!(
        "{}: {}",
        e.code,
        cut(e.detail.trim().trim_end_matches('.'))
    )];
    if !e.rules.is_empty() {
        let label = if kind == ErrorKind::RateLimited {
            "Limit"
        } else {
            "Rules"
        };
        parts.push(format!(
            "{label}: {}",
            listed(e.rules.iter().map(|r| cut(r)), ", ")
        ));
    }
    if !e.violations.is_empty() {
        parts.push(format!(
            "Violations: {}",
            listed(e.violations.iter().map(violation), "; ")
        ));
    }
    if let Some(id) = e.approval_id.filter(|id| !e.detail.contains(id)) {
        parts.push(format!("Approval: {}", cut(id)));
    }
    parts.push(advice(kind.retry()).to_owned());
    let mut text = parts.join(". ");
    text.push('.');
    text
}

/// The text of a problem document as the rail writes it (`code`, `detail`, `policy_ids` or
/// `limit_id`, `violations`, `approval_id`), for a server that renders its own refusal, e.g.
/// as an MCP tool error. An approval answer without a detail says what it waits for.
pub fn problem(doc: &Value) -> String {
    let s = |name: &str| doc.get(name).and_then(Value::as_str);
    let approval_id = s("approval_id");
    let waits;
    let detail = match (s("detail"), approval_id) {
        (Some(d), _) => d,
        (None, Some(id)) => {
            waits = format!("the action waits for approval {id}");
            &waits
        }
        (None, None) => s("title").unwrap_or("the rail refused the request"),
    };
    let mut rules: Vec<String> = doc
        .get("policy_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if rules.is_empty() {
        rules.extend(s("limit_id").map(str::to_owned));
    }
    let violations = doc
        .get("violations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    explain(&Explained {
        code: s("code").unwrap_or("internal"),
        detail,
        rules: &rules,
        violations,
        approval_id,
    })
}

/// `pointer: message` of one violation (`(params)` for the whole object).
fn violation(v: &Value) -> String {
    let s = |name: &str| v.get(name).and_then(Value::as_str);
    let pointer = s("pointer").or_else(|| s("path")).unwrap_or("");
    let pointer = if pointer.is_empty() {
        "(params)"
    } else {
        pointer
    };
    match s("message") {
        Some(m) => format!("{}: {}", cut(pointer), cut(m)),
        None => cut(pointer),
    }
}

/// The first [`MAX_LISTED`] items joined by `sep`, then how many more.
fn listed(items: impl ExactSizeIterator<Item = String>, sep: &str) -> String {
    let n = items.len();
    let mut out: Vec<String> = items.take(MAX_LISTED).collect();
    if n > MAX_LISTED {
        out.push(format!("and {} more", n - MAX_LISTED));
    }
    out.join(sep)
}

/// `s` cut at [`MAX_ITEM`] characters (`…` marks the cut).
fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_ITEM) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_document_reads_like_the_sdks_error() {
        let denial = json!({"code": "policy_denied", "detail": "denied by policy `refund_cap`",
                            "policy_ids": ["refund_cap"], "status": 403});
        assert_eq!(
            problem(&denial),
            "policy_denied: denied by policy `refund_cap`. Rules: refund_cap. Calling again \
             with the same request will be refused again."
        );
        let limited = json!({"code": "rate_limited", "detail": "over", "limit_id": "per_hour"});
        assert!(problem(&limited).contains("Limit: per_hour."));
        let pending = json!({"code": "approval_pending", "approval_id": "apr_1",
                             "policy_ids": ["needs_approval"]});
        assert_eq!(
            problem(&pending),
            "approval_pending: the action waits for approval apr_1. Rules: needs_approval. \
             Nothing was done: a person must approve it first; do not call again until then."
        );
        let bare = json!({"title": "Internal error"});
        assert!(problem(&bare).starts_with("internal: Internal error."));
    }

    #[test]
    fn a_schema_refusal_names_every_pointer_and_says_to_fix() {
        let v = [
            json!({"pointer": "/amount", "message": "10001 is greater than the maximum of 10000"}),
            json!({"pointer": "", "message": "\"currency\" is a required property"}),
        ];
        let t = explain(&Explained {
            code: "schema_invalid",
            detail: "2 violation(s) of the money.refund schema",
            violations: &v,
            ..Explained::default()
        });
        assert_eq!(
            t,
            "schema_invalid: 2 violation(s) of the money.refund schema. Violations: /amount: \
             10001 is greater than the maximum of 10000; (params): \"currency\" is a required \
             property. Fix the request as described, then call again."
        );
    }

    #[test]
    fn a_denial_names_its_rules_and_says_retrying_will_not_help() {
        let rules = ["refund_cap".to_owned(), "no_weekend".to_owned()];
        let t = explain(&Explained {
            code: "policy_denied",
            detail: "denied by policy refund_cap.",
            rules: &rules,
            ..Explained::default()
        });
        assert_eq!(
            t,
            "policy_denied: denied by policy refund_cap. Rules: refund_cap, no_weekend. \
             Calling again with the same request will be refused again."
        );
        let limit = ["refunds_per_hour".to_owned()];
        let t = explain(&Explained {
            code: "rate_limited",
            detail: "limit reached",
            rules: &limit,
            ..Explained::default()
        });
        assert!(
            t.contains(
                "Limit: refunds_per_hour. Nothing was done; the same call can succeed later."
            ),
            "{t}"
        );
    }

    #[test]
    fn every_code_has_advice_and_unknown_codes_read_as_internal() {
        for k in ErrorKind::ALL {
            let t = explain(&Explained {
                code: k.code(),
                detail: "d",
                ..Explained::default()
            });
            assert!(t.starts_with(&format!("{}: d. ", k.code())), "{t}");
            assert!(t.ends_with(&format!("{}.", advice(k.retry()))), "{t}");
        }
        let t = explain(&Explained {
            code: "brand_new_code",
            detail: "x",
            ..Explained::default()
        });
        assert!(
            t.ends_with(&format!("{}.", advice(Retry::CheckFirst))),
            "{t}"
        );
        let t = explain(&Explained {
            code: "downstream_timeout",
            detail: "no answer in 10 s",
            ..Explained::default()
        });
        assert!(t.contains("check its outcome before calling again"), "{t}");
        // Never "nothing was done" where the action may have been forwarded.
        for k in [
            ErrorKind::LedgerUnavailable,
            ErrorKind::RailUnavailable,
            ErrorKind::Internal,
            ErrorKind::DownstreamError,
        ] {
            assert_eq!(k.retry(), Retry::CheckFirst, "{k}");
        }
    }

    #[test]
    fn the_text_is_bounded() {
        let v: Vec<Value> = (0..1000)
            .map(|i| json!({"pointer": format!("/items/{i}"), "message": "x".repeat(10_000)}))
            .collect();
        let t = explain(&Explained {
            code: "schema_invalid",
            detail: &"d".repeat(100_000),
            violations: &v,
            ..Explained::default()
        });
        assert!(t.contains("and 980 more"), "{}", &t[t.len() - 200..]);
        assert!(
            t.chars().count() < (MAX_LISTED + 2) * (2 * MAX_ITEM + 10),
            "{}",
            t.len()
        );
        assert!(!t.contains("/items/20:"));
    }

    #[test]
    fn an_approval_names_its_id() {
        let t = explain(&Explained {
            code: "approval_pending",
            detail: "the action waits for approval",
            rules: &["big_transfers".to_owned()],
            approval_id: Some("apr_1"),
            ..Explained::default()
        });
        assert!(t.contains("Rules: big_transfers. Approval: apr_1. Nothing was done: a person must approve it first"), "{t}");
        // Named once when the detail already names it.
        let t = explain(&Explained {
            code: "approval_pending",
            detail: "the action waits for approval apr_1",
            approval_id: Some("apr_1"),
            ..Explained::default()
        });
        assert_eq!(t.matches("apr_1").count(), 1, "{t}");
    }
}
