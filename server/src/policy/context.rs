//! JSON params → Cedar values, by hand (never through Cedar's JSON format, whose `__entity`
//! and `__extn` escapes would let params smuggle entity references into a policy).
//!
//! The mapping, total and deterministic:
//!
//! | JSON | Cedar |
//! |------|-------|
//! | string, bool | String, Bool |
//! | integer (or an integral number such as `5.0`) within ±(2^53 − 1) | Long |
//! | non-integral number (`12.5`) | String holding its shortest JSON text (`"12.5"`); compare it with `decimal(...)` |
//! | integer outside ±(2^53 − 1) | error (the strict parser already rejects these) |
//! | `null` | dropped: the attribute is absent (`has` is false) and a set loses that element |
//! | array | Set (unordered, duplicates merged) |
//! | object | Record |
//!
//! Nesting deeper than [`MAX_DEPTH`] is an error. Every error fails the evaluation closed.

use cedar_policy::RestrictedExpression;
use serde_json::Value;

/// Deepest nesting converted (the strict JSON parser allows 64 levels in a whole request).
pub const MAX_DEPTH: usize = 64;

/// Largest magnitude converted to a Cedar Long (2^53 − 1, the I-JSON limit).
const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// Why a value could not be converted. Never contains a param value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError(pub String);

/// Convert a JSON value. `None` for `null` (the caller drops it).
pub fn to_cedar(v: &Value) -> Result<Option<RestrictedExpression>, ConvertError> {
    convert(v, 0, &mut String::new())
}

fn convert(
    v: &Value,
    depth: usize,
    path: &mut String,
) -> Result<Option<RestrictedExpression>, ConvertError> {
    if depth > MAX_DEPTH {
        return Err(ConvertError(format!(
            "params nest deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Number(n) => number(n).ok_or_else(|| {
            ConvertError(format!(
                "number at `{}` is outside ±(2^53 − 1)",
                display_path(path)
            ))
        })?,
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                let converted = convert(item, depth + 1, path)?;
                path.truncate(len);
                out.extend(converted);
            }
            RestrictedExpression::new_set(out)
        }
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (k, item) in map {
                let len = path.len();
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                let converted = convert(item, depth + 1, path)?;
                path.truncate(len);
                if let Some(c) = converted {
                    fields.push((k.clone(), c));
                }
            }
            RestrictedExpression::new_record(fields)
                .map_err(|_| ConvertError("duplicate key in params".to_owned()))?
        }
    }))
}

/// A Long for integral numbers within ±(2^53 − 1), a String for non-integral ones, `None`
/// for integers out of range.
fn number(n: &serde_json::Number) -> Option<RestrictedExpression> {
    if let Some(i) = n.as_i64() {
        return (-MAX_SAFE..=MAX_SAFE)
            .contains(&i)
            .then(|| RestrictedExpression::new_long(i));
    }
    if n.is_u64() {
        return None; // above i64::MAX
    }
    let f = n.as_f64()?;
    if f.fract() == 0.0 {
        // Integral: the same value as the integer (RFC 8785 prints `5.0` as `5`).
        #[allow(clippy::cast_possible_truncation)] // checked against ±2^53 − 1 first
        return (f.abs() <= MAX_SAFE as f64).then(|| RestrictedExpression::new_long(f as i64));
    }
    Some(RestrictedExpression::new_string(n.to_string()))
}

fn display_path(path: &str) -> String {
    const MAX: usize = 100;
    match path.char_indices().nth(MAX) {
        None => path.to_owned(),
        Some((i, _)) => format!("{}…", &path[..i]),
    }
}
