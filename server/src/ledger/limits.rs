//! The limit rule both backends apply inside their limit transaction: which windows a set of
//! adds touches, and whether every add has room. An add has room when `count + 1 <= max_count`
//! and `sum + amount <= max_sum`, counting earlier adds of the same call on the same window.

use std::collections::HashMap;

use crate::model::LimitAdd;

/// One stateful-limit window: the key of a `limit_windows` row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Window {
    /// Tenant id.
    pub tenant: String,
    /// Agent id.
    pub agent: String,
    /// The limit's id from config.
    pub limit_id: String,
    /// Start of the window (ms).
    pub start_ms: i64,
}

impl Window {
    fn of(add: &LimitAdd) -> Self {
        Window {
            tenant: add.tenant.clone(),
            agent: add.agent.clone(),
            limit_id: add.limit_id.clone(),
            start_ms: add.window_start_ms,
        }
    }
}

/// A window's totals: requests counted, amount summed.
pub(super) type Totals = (u64, f64);

/// The windows `adds` touch, each once, sorted: one global order, so two calls that lock the
/// same windows in it never deadlock.
pub(super) fn windows(adds: &[LimitAdd]) -> Vec<Window> {
    let mut w: Vec<Window> = adds.iter().map(Window::of).collect();
    w.sort();
    w.dedup();
    w
}

/// What a set of adds does to its windows.
#[derive(Debug, PartialEq)]
pub(super) enum Check {
    /// Every add has room: the new totals of every touched window, in [`windows`] order.
    Allowed(Vec<(Window, Totals)>),
    /// This limit (the first in call order without room) refuses; nothing is applied.
    Exceeded {
        /// The limit's id.
        limit_id: String,
    },
}

/// Check `adds` in call order against the `stored` totals of their windows (a window missing
/// from `stored` starts at zero).
pub(super) fn check(adds: &[LimitAdd], mut stored: HashMap<Window, Totals>) -> Check {
    for add in adds {
        let window = Window::of(add);
        let (count, sum) = stored.get(&window).copied().unwrap_or((0, 0.0));
        let new_count = count.saturating_add(1);
        let new_sum = sum + add.amount;
        let count_ok = add.max_count.is_none_or(|m| new_count <= m);
        // Written so that a NaN amount or sum has no room.
        let sum_ok = add.max_sum.is_none_or(|m| new_sum <= m);
        if !(count_ok && sum_ok) {
            return Check::Exceeded {
                limit_id: add.limit_id.clone(),
            };
        }
        stored.insert(window, (new_count, new_sum));
    }
    let mut totals: Vec<(Window, Totals)> = stored.into_iter().collect();
    totals.sort_by(|a, b| a.0.cmp(&b.0));
    Check::Allowed(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(id: &str, window: i64, max_count: Option<u64>, amount: f64) -> LimitAdd {
        LimitAdd {
            tenant: "t".into(),
            agent: "a".into(),
            limit_id: id.into(),
            window_start_ms: window,
            max_count,
            max_sum: Some(10.0),
            amount,
        }
    }

    #[test]
    fn windows_are_sorted_and_named_once() {
        let w = windows(&[
            add("b", 0, None, 0.0),
            add("a", 5, None, 0.0),
            add("b", 0, None, 1.0),
        ]);
        let names: Vec<(&str, i64)> = w
            .iter()
            .map(|w| (w.limit_id.as_str(), w.start_ms))
            .collect();
        assert_eq!(names, [("a", 5), ("b", 0)]);
    }

    #[test]
    fn earlier_adds_of_the_call_count_and_the_first_without_room_is_named() {
        let stored = HashMap::from([(Window::of(&add("a", 0, None, 0.0)), (1, 4.0))]);
        let adds = [add("a", 0, Some(2), 3.0), add("a", 0, Some(2), 3.0)];
        assert_eq!(
            check(&adds, stored.clone()),
            Check::Exceeded {
                limit_id: "a".into()
            }
        );
        let Check::Allowed(totals) = check(&adds[..1], stored) else {
            panic!("room for one")
        };
        assert_eq!(totals[0].1, (2, 7.0));
    }

    #[test]
    fn a_nan_amount_has_no_room() {
        assert!(matches!(
            check(&[add("a", 0, None, f64::NAN)], HashMap::new()),
            Check::Exceeded { .. }
        ));
    }
}
