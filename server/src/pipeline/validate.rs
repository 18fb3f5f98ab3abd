//! Stage 2, validate: the params against the action's JSON Schema.
//!
//! Guarantees: params pass only if they match the schema of the resolved target (and, for a
//! profile operation, make a request); a refusal lists every violation with its pointer and
//! never echoes a value.

use std::time::Instant;

use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use super::target::Target;
use crate::problem::AppError;
use crate::rail::Rail;

/// Check `params` against the schema of `action` (`schema_invalid` with every violation).
pub(crate) fn params(
    rail: &Rail,
    action: &str,
    target: &Target<'_>,
    params: &Value,
) -> Result<(), AppError> {
    let started = Instant::now();
    let unknown = || AppError::new(ErrorKind::UnknownAction, format!("no action {action:?}"));
    let checked = match target {
        Target::Native(_) => rail
            .catalog
            .get(action)
            .ok_or_else(unknown)?
            .validate(params),
        Target::Profile { profile, .. } => profile
            .operation(action)
            .ok_or_else(unknown)?
            .validate(params),
    };
    rail.metrics.stage("validate", started.elapsed());
    checked.map_err(|violations| {
        AppError::new(
            ErrorKind::SchemaInvalid,
            format!("{} violation(s) of the {action} schema", violations.len()),
        )
        .with("violations", json!(violations))
    })
}
