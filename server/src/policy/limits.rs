//! Stateful limits, as pure specs: which counters and sums one request adds to. The ledger
//! applies the [`LimitAdd`]s atomically and refuses the request when one has no room.
//!
//! Windows are fixed and aligned to the epoch: `window_start = now − now mod window`. A limit
//! is per tenant, per agent, per limit id. Anything unexpected (a summed param missing, not a
//! number, negative) is an error, so the caller fails closed.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{LimitAdd, UnixMs};

/// One limit from config, e.g. "at most 20 refunds and $500 refunded per agent per hour":
///
/// ```toml
/// [[limits]]
/// id = "hourly_refunds"
/// actions = ["money.refund"]
/// window_secs = 3600
/// max_count = 20
/// sum_param = "/amount"
/// max_sum = 50000
/// ```
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Unique id, named in `rate_limited` errors and receipts.
    pub id: String,
    /// The action names it counts, or `["*"]` for every action.
    pub actions: Vec<String>,
    /// Window length in seconds (> 0).
    pub window_secs: u64,
    /// At most this many requests per window.
    pub max_count: Option<u64>,
    /// RFC 6901 JSON pointer into params to the number summed, e.g. `/amount`. Required
    /// exactly when `max_sum` is set.
    pub sum_param: Option<String>,
    /// At most this total of `sum_param` per window.
    pub max_sum: Option<f64>,
}

impl LimitConfig {
    /// Whether this limit counts `action`.
    pub fn applies_to(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == "*" || a == action)
    }
}

/// Check a set of limits: ids non-empty and unique; at least one action, each a name or `*`;
/// `window_secs > 0` (and small enough to count in milliseconds); at least one of
/// `max_count`/`max_sum`; `sum_param` (a JSON pointer starting with `/`) exactly when
/// `max_sum`; `max_sum` finite and ≥ 0.
pub fn validate_config(limits: &[LimitConfig]) -> Result<(), String> {
    let mut ids = HashSet::new();
    for l in limits {
        if l.id.trim().is_empty() {
            return Err("limit with an empty id".to_owned());
        }
        let id = &l.id;
        if !ids.insert(id.as_str()) {
            return Err(format!("duplicate limit id `{id}`"));
        }
        if l.actions.is_empty() {
            return Err(format!(
                "limit `{id}`: `actions` is empty (use [\"*\"] for every action)"
            ));
        }
        if let Some(a) = l
            .actions
            .iter()
            .find(|a| a.is_empty() || (a.contains('*') && a.as_str() != "*"))
        {
            return Err(format!(
                "limit `{id}`: bad action {a:?} (an action name, or \"*\" alone)"
            ));
        }
        if l.window_secs == 0 {
            return Err(format!("limit `{id}`: `window_secs` must be > 0"));
        }
        if window_ms(l.window_secs).is_none() {
            return Err(format!("limit `{id}`: `window_secs` is too large"));
        }
        if l.max_count.is_none() && l.max_sum.is_none() {
            return Err(format!("limit `{id}`: set `max_count`, `max_sum` or both"));
        }
        match (&l.sum_param, l.max_sum) {
            (Some(p), Some(max)) => {
                if !p.starts_with('/') {
                    return Err(format!(
                        "limit `{id}`: `sum_param` must be a JSON pointer such as \"/amount\""
                    ));
                }
                if !max.is_finite() || max < 0.0 {
                    return Err(format!(
                        "limit `{id}`: `max_sum` must be a finite number ≥ 0"
                    ));
                }
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(format!("limit `{id}`: `sum_param` needs `max_sum`"));
            }
            (None, Some(_)) => {
                return Err(format!("limit `{id}`: `max_sum` needs `sum_param`"));
            }
        }
    }
    Ok(())
}

/// The increments one request makes: one [`LimitAdd`] per limit that applies to `action`,
/// in config order. Errors (fail closed) when a summed param is missing, not a number,
/// negative, or a limit is malformed.
pub fn adds(
    limits: &[LimitConfig],
    tenant: &str,
    agent: &str,
    action: &str,
    params: &Value,
    now_ms: UnixMs,
) -> Result<Vec<LimitAdd>, String> {
    let mut out = Vec::new();
    for l in limits.iter().filter(|l| l.applies_to(action)) {
        let id = &l.id;
        let window = window_ms(l.window_secs)
            .filter(|w| *w > 0)
            .ok_or_else(|| format!("limit `{id}`: bad `window_secs`"))?;
        let window_start_ms = now_ms - now_ms.rem_euclid(window);
        let amount = match (l.max_sum, &l.sum_param) {
            (None, _) => 0.0,
            (Some(_), None) => return Err(format!("limit `{id}`: `max_sum` needs `sum_param`")),
            (Some(_), Some(pointer)) => summed(params, pointer)
                .map_err(|why| format!("limit `{id}`: param `{}` {why}", short(pointer)))?,
        };
        out.push(LimitAdd {
            tenant: tenant.to_owned(),
            agent: agent.to_owned(),
            limit_id: id.clone(),
            window_start_ms,
            max_count: l.max_count,
            max_sum: l.max_sum,
            amount,
        });
    }
    Ok(out)
}

/// The number at `pointer`: present, numeric, finite and ≥ 0.
fn summed(params: &Value, pointer: &str) -> Result<f64, &'static str> {
    let v = params.pointer(pointer).ok_or("is missing")?;
    let n = v.as_f64().ok_or("is not a number")?;
    if !n.is_finite() {
        return Err("is not a finite number");
    }
    if n < 0.0 {
        return Err("is negative");
    }
    Ok(n)
}

fn window_ms(secs: u64) -> Option<i64> {
    i64::try_from(secs).ok()?.checked_mul(1000)
}

fn short(s: &str) -> String {
    const MAX: usize = 100;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn limit(id: &str, actions: &[&str], window_secs: u64) -> LimitConfig {
        LimitConfig {
            id: id.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            window_secs,
            max_count: Some(10),
            sum_param: None,
            max_sum: None,
        }
    }

    fn summing(id: &str, pointer: &str, max: f64) -> LimitConfig {
        LimitConfig {
            sum_param: Some(pointer.into()),
            max_sum: Some(max),
            max_count: None,
            ..limit(id, &["money.refund"], 3600)
        }
    }

    #[test]
    fn fixed_windows_align_to_the_epoch() {
        let limits = [
            limit("minute", &["money.refund"], 60),
            limit("hour", &["*"], 3600),
        ];
        let now = 7_384_123_456_i64; // 2204 s into some hour, 4.123456 s into a minute
        let adds = adds(&limits, "t", "a", "money.refund", &json!({}), now).expect("ok");
        assert_eq!(adds.len(), 2);
        assert_eq!(adds[0].limit_id, "minute");
        assert_eq!(adds[0].window_start_ms, now - now % 60_000);
        assert_eq!(adds[0].window_start_ms % 60_000, 0);
        assert!(now - adds[0].window_start_ms < 60_000);
        assert_eq!(adds[1].limit_id, "hour");
        assert_eq!(adds[1].window_start_ms, now - now % 3_600_000);
        assert_eq!(adds[1].max_count, Some(10));
        assert_eq!(adds[1].amount, 0.0);
        assert_eq!(
            (adds[1].tenant.as_str(), adds[1].agent.as_str()),
            ("t", "a")
        );

        // The last millisecond of a window and the first of the next.
        let w = |now| {
            super::adds(&limits[..1], "t", "a", "money.refund", &json!({}), now).expect("ok")[0]
                .window_start_ms
        };
        assert_eq!(w(119_999), 60_000);
        assert_eq!(w(120_000), 120_000);
        assert_eq!(w(0), 0);
    }

    #[test]
    fn only_matching_actions_are_counted() {
        let limits = [limit("refunds", &["money.refund", "money.payment"], 60)];
        assert_eq!(
            adds(&limits, "t", "a", "money.payment", &json!({}), 1)
                .expect("ok")
                .len(),
            1
        );
        assert!(adds(&limits, "t", "a", "money.transfer", &json!({}), 1)
            .expect("ok")
            .is_empty());
    }

    #[test]
    fn sums_read_the_pointer() {
        let limits = [summing("refunded", "/amount", 50_000.0)];
        let a = adds(
            &limits,
            "t",
            "a",
            "money.refund",
            &json!({"amount": 5000}),
            1,
        )
        .expect("ok");
        assert_eq!(a[0].amount, 5000.0);
        assert_eq!(a[0].max_sum, Some(50_000.0));
        assert_eq!(a[0].max_count, None);

        let nested = [summing("nested", "/body/amount", 10.0)];
        let a = adds(
            &nested,
            "t",
            "a",
            "money.refund",
            &json!({"body": {"amount": 2.5}}),
            1,
        )
        .expect("ok");
        assert_eq!(a[0].amount, 2.5);
        let escaped = [summing("escaped", "/a~1b", 10.0)];
        let a = adds(&escaped, "t", "a", "money.refund", &json!({"a/b": 3}), 1).expect("ok");
        assert_eq!(a[0].amount, 3.0);
    }

    #[test]
    fn a_missing_or_bad_summed_param_fails_closed() {
        let limits = [summing("refunded", "/amount", 50_000.0)];
        for (params, why) in [
            (json!({}), "missing"),
            (json!({"amount": "5000"}), "not a number"),
            (json!({"amount": null}), "not a number"),
            (json!({"amount": -1}), "negative"),
        ] {
            let err = adds(&limits, "t", "a", "money.refund", &params, 1).expect_err("closed");
            assert!(err.contains("refunded") && err.contains(why), "{err}");
        }
        // Not summed when the action does not match: no error.
        assert!(adds(&limits, "t", "a", "money.payment", &json!({}), 1)
            .expect("ok")
            .is_empty());
        // A malformed limit never reaches the ledger.
        let zero = [limit("zero", &["*"], 0)];
        assert!(adds(&zero, "t", "a", "x", &json!({}), 1).is_err());
    }

    #[test]
    fn config_validation() {
        let good = [
            limit("a", &["*"], 60),
            summing("b", "/amount", 100.0),
            LimitConfig {
                max_count: Some(3),
                ..summing("c", "/amount", 0.0)
            },
        ];
        assert_eq!(validate_config(&good), Ok(()));
        assert_eq!(validate_config(&[]), Ok(()));

        let bad: Vec<(Vec<LimitConfig>, &str)> = vec![
            (
                vec![limit("a", &["*"], 60), limit("a", &["x"], 60)],
                "duplicate",
            ),
            (vec![limit("", &["*"], 60)], "empty id"),
            (vec![limit("w", &["*"], 0)], "window_secs"),
            (vec![limit("w", &["*"], u64::MAX)], "too large"),
            (vec![limit("n", &[], 60)], "actions"),
            (vec![limit("n", &["money.*"], 60)], "bad action"),
            (
                vec![LimitConfig {
                    max_count: None,
                    ..limit("none", &["*"], 60)
                }],
                "max_count",
            ),
            (
                vec![LimitConfig {
                    sum_param: None,
                    ..summing("s", "/amount", 1.0)
                }],
                "needs `sum_param`",
            ),
            (
                vec![LimitConfig {
                    sum_param: Some("/amount".into()),
                    ..limit("p", &["*"], 60)
                }],
                "needs `max_sum`",
            ),
            (vec![summing("ptr", "amount", 1.0)], "JSON pointer"),
            (vec![summing("neg", "/amount", -1.0)], "max_sum"),
            (vec![summing("nan", "/amount", f64::NAN)], "max_sum"),
        ];
        for (limits, why) in bad {
            let err = validate_config(&limits).expect_err(why);
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn config_rejects_unknown_fields() {
        let ok: LimitConfig = serde_json::from_value(json!({
            "id": "x", "actions": ["*"], "window_secs": 60, "max_count": 5
        }))
        .expect("ok");
        assert_eq!(ok.max_sum, None);
        let err = serde_json::from_value::<LimitConfig>(json!({
            "id": "x", "actions": ["*"], "window_secs": 60, "max_count": 5, "maxcount": 6
        }));
        assert!(err.is_err());
    }
}
