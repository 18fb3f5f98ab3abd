//! The action catalog: every action the rail knows, with its JSON Schema compiled once.
//!
//! Guarantees: an action's params are accepted only if they match its schema (draft 2020-12);
//! a rejection lists every violation with its JSON pointer, and messages never echo values.

pub mod native;

use std::collections::BTreeMap;
use std::fmt;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

/// Longest message a [`Violation`] carries (characters); longer ones are cut and end in `…`.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// One way params fail their action's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// RFC 6901 JSON pointer to the offending value (`""` is the params object itself). For a
    /// missing required property or a property that is not allowed, it points at that
    /// property (e.g. `/amount`).
    pub pointer: String,
    /// What is wrong, without the offending value.
    pub message: String,
}

/// A catalogued action: its name, description and compiled params schema.
pub struct Action {
    /// Canonical action name, e.g. `money.refund`.
    pub name: String,
    /// One-line description (for humans and LLM tool definitions).
    pub description: String,
    /// The params JSON Schema, as published by `GET /v1/actions`.
    pub schema: Value,
    validator: Validator,
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Action")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Action {
    /// Build an action, compiling its schema once (as draft 2020-12, whatever `$schema`
    /// says). Errors when the schema itself is invalid.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        schema: Value,
    ) -> Result<Action, String> {
        let name = name.into();
        let validator = jsonschema::draft202012::options()
            .build(&schema)
            .map_err(|e| {
                format!(
                    "invalid schema for action `{name}`: {}",
                    truncate(&e.to_string())
                )
            })?;
        Ok(Action {
            name,
            description: description.into(),
            schema,
            validator,
        })
    }

    /// Build an action from a Rust params type: the schema is derived with `schemars`.
    pub fn from_type<T: JsonSchema>(
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Result<Action, String> {
        let schema = schemars::schema_for!(T).to_value();
        Action::new(name, description, schema)
    }

    /// Check params against the schema. On failure, returns every violation (in the
    /// validator's order), each with its pointer.
    pub fn validate(&self, params: &Value) -> Result<(), Vec<Violation>> {
        violations(&self.validator, params)
    }
}

/// Check `instance` against a compiled schema. On failure, returns every violation (in the
/// validator's order), each with its pointer; messages never echo values.
pub fn violations(validator: &Validator, instance: &Value) -> Result<(), Vec<Violation>> {
    if validator.is_valid(instance) {
        return Ok(());
    }
    let mut out = collect(validator, instance);
    if out.is_empty() {
        // `is_valid` and `iter_errors` disagreeing would be a validator bug: stay closed.
        out.push(Violation {
            pointer: String::new(),
            message: "params do not match the schema".to_owned(),
        });
    }
    Err(out)
}

/// Every violation `validator` finds in `instance` (none when it is valid).
pub(crate) fn collect(validator: &Validator, instance: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    for err in validator.iter_errors(instance) {
        let at = err.instance_path.as_str();
        match &err.kind {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.push(Violation {
                    pointer: child_pointer(at, name),
                    message: "required property is missing".to_owned(),
                });
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    out.push(Violation {
                        pointer: child_pointer(at, name),
                        message: "property is not allowed".to_owned(),
                    });
                }
            }
            ValidationErrorKind::Custom { message } => {
                match crate::profile::bounds::nested(message) {
                    Some(below) => {
                        out.extend(below.into_iter().map(|(pointer, message)| Violation {
                            pointer: truncate(&format!("{at}{pointer}")),
                            message,
                        }))
                    }
                    None => out.push(Violation {
                        pointer: truncate(at),
                        message: truncate(message),
                    }),
                }
            }
            _ => out.push(Violation {
                pointer: truncate(at),
                message: truncate(&err.masked_with("value").to_string()),
            }),
        }
    }
    out
}

/// `parent` + `/` + the RFC 6901-escaped `name`, cut to a sane length.
fn child_pointer(parent: &str, name: &str) -> String {
    let escaped = name.replace('~', "~0").replace('/', "~1");
    truncate(&format!("{parent}/{escaped}"))
}

/// Cut `s` to [`MAX_MESSAGE_CHARS`] characters, marking the cut with `…`.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The set of actions a tenant can call. Immutable once built; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Catalog {
    actions: BTreeMap<String, Action>,
}

impl Catalog {
    /// An empty catalog.
    pub fn empty() -> Catalog {
        Catalog::default()
    }

    /// The native actions: `money.payment`, `money.refund`, `money.transfer`,
    /// `deploy.release`. Every schema is compiled here, once.
    pub fn native() -> Catalog {
        let mut catalog = Catalog::empty();
        let actions = [
            Action::from_type::<native::Payment>("money.payment", "Charge a customer."),
            Action::from_type::<native::Refund>(
                "money.refund",
                "Refund (part of) an earlier payment.",
            ),
            Action::from_type::<native::Transfer>(
                "money.transfer",
                "Move money between two accounts.",
            ),
            Action::from_type::<native::Release>(
                "deploy.release",
                "Release a version of a service to an environment.",
            ),
        ];
        for action in actions {
            match action {
                Ok(a) => catalog.insert(a),
                // The native schemas are fixed at compile time and covered by tests.
                Err(e) => panic!("native catalog: {e}"),
            }
        }
        catalog
    }

    /// Add (or replace) an action, e.g. an operation of an uploaded profile.
    pub fn insert(&mut self, action: Action) {
        self.actions.insert(action.name.clone(), action);
    }

    /// The action with this name.
    pub fn get(&self, name: &str) -> Option<&Action> {
        self.actions.get(name)
    }

    /// Every action, ordered by name.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.values()
    }

    /// The body of `GET /v1/actions`: `{"actions":[{"name","description","schema"}]}`,
    /// ordered by name.
    pub fn to_json(&self) -> Value {
        let actions: Vec<Value> = self
            .actions()
            .map(|a| json!({"name": a.name, "description": a.description, "schema": a.schema}))
            .collect();
        json!({ "actions": actions })
    }
}

#[cfg(test)]
mod tests;
