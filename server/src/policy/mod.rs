//! Policy: stateless rules in Cedar, evaluated on every intent, and stateful limit specs
//! ([`limits`]) the ledger enforces.
//!
//! Guarantees: every policy is named by an `@id`; the decision names the policies behind it;
//! any evaluation error denies (fail closed) without echoing param values; [`PolicyEngine::hash`]
//! changes exactly when the meaning of the policy text changes.
//!
//! # The Cedar request
//!
//! - principal `Agent::"<agent id>"`, action `Action::"<action name>"` (e.g.
//!   `Action::"money.refund"`), resource `Connector::"<connector or profile name>"`;
//! - context `{ params: <params as a Cedar record>, tenant: "<tenant id>" }` — see
//!   [`context`] for how JSON maps to Cedar (integers → Long, other numbers → String,
//!   `null` → absent);
//! - no entity store: `==` on principal, action and resource works, group membership does
//!   not.
//!
//! # Outcomes
//!
//! - Cedar allows, and no determining `permit` carries `@approval("required")` → [`Decision::Allow`];
//! - Cedar allows, and some determining `permit` carries `@approval("required")` →
//!   [`Decision::RequireApproval`] naming those permits;
//! - Cedar denies → [`Decision::Deny`] naming the determining `forbid`s, or `default_deny`
//!   when no `permit` matched;
//! - any policy fails to evaluate (missing attribute, type error, overflow…) →
//!   [`Decision::Deny`] naming the failing policies, whatever Cedar decided.
//!
//! ```cedar
//! @id("allow_refunds")
//! permit(principal, action == Action::"money.refund", resource);
//!
//! @id("refund_cap")
//! forbid(principal, action == Action::"money.refund", resource)
//!   when { context.params.amount > 10000 };
//!
//! @id("big_transfers_need_approval")
//! @approval("required")
//! permit(principal, action == Action::"money.transfer", resource)
//!   when { context.params.amount > 100000 };
//! ```
//!
//! # The policy hash
//!
//! [`PolicyEngine::hash`] is `intentrail_core::hash::sha256_tagged` over the compact JSON
//! (serde_json, object keys sorted recursively) of the array, sorted by `@id`, of
//! `{"id": <@id>, "policy": <the policy's Cedar JSON form (EST)>}`. So whitespace, comments
//! and the order of policies do not change it; any change to a policy's scope, conditions or
//! annotations does. (The EST is Cedar's own; a Cedar upgrade that changes it changes the
//! hash.)

pub mod context;
pub mod limits;

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Effect, Entities, EntityId, EntityTypeName, EntityUid,
    EvaluationError, PolicyId, PolicySet, Request, RestrictedExpression,
};
use miette::Diagnostic as _;
use serde_json::Value;

/// A policy that allows everything (for examples and `intentrail init`).
pub const DEFAULT_POLICY: &str = r#"// Allow every catalogued action. Replace with your rules.
@id("allow_all")
permit(principal, action, resource);
"#;

/// The id named when Cedar denies because no `permit` matched.
pub const DEFAULT_DENY_ID: &str = "default_deny";

/// The id named when the request itself cannot be given to Cedar (e.g. params out of range).
pub const INVALID_INPUT_ID: &str = "invalid_policy_input";

/// Why a policy source was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not valid Cedar.
    #[error("policy parse error: {0}")]
    Parse(String),
    /// A policy has no `@id("...")` annotation (or an empty one).
    #[error("policy {position} has no @id(\"...\") annotation")]
    MissingId {
        /// Where the policy starts: `#<n> (line L, column C)`, n counting from 1.
        position: String,
    },
    /// Anything else wrong with a policy: duplicate id, bad `@approval`, template…
    #[error("policy {position}: {message}")]
    Invalid {
        /// Where the policy starts: `#<n> (line L, column C)`, or its `@id` when known.
        position: String,
        /// What is wrong.
        message: String,
    },
}

/// What a policy is asked about: who does what, through which connector, with which params.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// Tenant id (`context.tenant`).
    pub tenant: &'a str,
    /// Agent id (principal `Agent::"<id>"`).
    pub agent: &'a str,
    /// Action name (action `Action::"<name>"`).
    pub action: &'a str,
    /// Connector or profile name (resource `Connector::"<name>"`).
    pub resource: &'a str,
    /// The validated params (`context.params`).
    pub params: &'a Value,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused.
    Deny {
        /// The `@id`s of the policies behind the denial, sorted; `["default_deny"]` when no
        /// permit matched.
        policy_ids: Vec<String>,
        /// A human-readable reason naming them (never containing param values).
        reason: String,
    },
    /// Allowed once a human approves.
    RequireApproval {
        /// The `@id`s of the determining permits marked `@approval("required")`, sorted.
        policy_ids: Vec<String>,
    },
}

/// A parsed, checked Cedar policy set, ready to evaluate. Cheap to share behind an `Arc`.
pub struct PolicyEngine {
    policies: PolicySet,
    authorizer: Authorizer,
    entities: Entities,
    approval: HashSet<String>,
    hash: String,
    agent_type: EntityTypeName,
    action_type: EntityTypeName,
    resource_type: EntityTypeName,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("hash", &self.hash)
            .field("policies", &self.policies.num_of_policies())
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// Parse and check a Cedar source. Every policy needs a unique, non-empty `@id("...")`;
    /// `@approval`, when present, must be `"required"` and on a `permit`; templates are
    /// refused. An empty source is valid and denies everything.
    pub fn new(cedar_source: &str) -> Result<PolicyEngine, PolicyError> {
        let parsed = PolicySet::from_str(cedar_source)
            .map_err(|e| PolicyError::Parse(describe_parse_errors(&e, cedar_source)))?;
        if let Some(t) = parsed.templates().next() {
            return Err(PolicyError::Invalid {
                position: t.annotation("id").unwrap_or("?").to_owned(),
                message:
                    "templates (policies with ?principal or ?resource slots) are not supported"
                        .to_owned(),
            });
        }

        // `from_str` names policies `policy0`, `policy1`… in source order.
        let mut ordered: Vec<(usize, &cedar_policy::Policy)> = parsed
            .policies()
            .map(|p| {
                let n = p
                    .id()
                    .to_string()
                    .strip_prefix("policy")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                (n, p)
            })
            .collect();
        ordered.sort_by_key(|(n, _)| *n);

        let mut policies = PolicySet::new();
        let mut approval = HashSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut hashed: Vec<(String, Value)> = Vec::with_capacity(ordered.len());
        let mut cursor = 0;
        for (i, (_, policy)) in ordered.iter().enumerate() {
            let text = policy.to_string();
            let start = cedar_source[cursor..]
                .find(text.as_str())
                .map(|o| cursor + o);
            if let Some(s) = start {
                cursor = s + text.len();
            }
            let position = describe_position(i, start, cedar_source);

            let id = match policy.annotation("id") {
                Some(id) if !id.trim().is_empty() => id.to_owned(),
                _ => return Err(PolicyError::MissingId { position }),
            };
            if !seen.insert(id.clone()) {
                return Err(PolicyError::Invalid {
                    position,
                    message: format!("duplicate @id(\"{id}\")"),
                });
            }
            match (policy.annotation("approval"), policy.effect()) {
                (None, _) => {}
                (Some("required"), Effect::Permit) => {
                    approval.insert(id.clone());
                }
                (Some("required"), Effect::Forbid) => {
                    return Err(PolicyError::Invalid {
                        position,
                        message: "@approval(\"required\") only applies to permit policies"
                            .to_owned(),
                    })
                }
                (Some(other), _) => {
                    return Err(PolicyError::Invalid {
                        position,
                        message: format!(
                            "@approval must be \"required\", not {:?}",
                            truncate(other, 40)
                        ),
                    })
                }
            }
            let est = policy.to_json().map_err(|e| PolicyError::Invalid {
                position: position.clone(),
                message: format!("cannot convert to JSON form: {e}"),
            })?;
            hashed.push((id.clone(), est));
            policies
                .add(policy.new_id(PolicyId::new(&id)))
                .map_err(|e| PolicyError::Invalid {
                    position,
                    message: e.to_string(),
                })?;
        }

        hashed.sort_by(|a, b| a.0.cmp(&b.0));
        let doc = Value::Array(
            hashed
                .into_iter()
                .map(|(id, est)| {
                    let mut m = serde_json::Map::new();
                    m.insert("id".to_owned(), Value::String(id));
                    m.insert("policy".to_owned(), est);
                    sort_keys(Value::Object(m))
                })
                .collect(),
        );
        let bytes = serde_json::to_vec(&doc).map_err(|e| PolicyError::Invalid {
            position: "set".to_owned(),
            message: format!("cannot serialize for hashing: {e}"),
        })?;
        let hash = intentrail_core::hash::sha256_tagged(&bytes);

        Ok(PolicyEngine {
            policies,
            authorizer: Authorizer::new(),
            entities: Entities::empty(),
            approval,
            hash,
            agent_type: type_name("Agent")?,
            action_type: type_name("Action")?,
            resource_type: type_name("Connector")?,
        })
    }

    /// The policy set's hash (`sha256:<b64url>`), as permits and receipts record it; see the
    /// module docs for exactly what is hashed.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `@id`s of the policies, sorted.
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .policies
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Decide. Deterministic and side-effect free; any error denies.
    pub fn evaluate(&self, input: &PolicyInput<'_>) -> Decision {
        let request = match self.request(input) {
            Ok(r) => r,
            Err(reason) => {
                return Decision::Deny {
                    policy_ids: vec![INVALID_INPUT_ID.to_owned()],
                    reason,
                }
            }
        };
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &self.entities);
        let diagnostics = response.diagnostics();

        let mut determining: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
        determining.sort_unstable();

        let mut errored: Vec<String> = Vec::new();
        let mut error_text = String::new();
        for err in diagnostics.errors() {
            let AuthorizationError::PolicyEvaluationError(e) = err;
            let id = e.policy_id().to_string();
            if !error_text.is_empty() {
                error_text.push_str("; ");
            }
            let _ = write!(
                error_text,
                "policy `{id}` could not be evaluated: {}",
                describe_eval_error(e.inner())
            );
            errored.push(id);
        }
        errored.sort_unstable();
        errored.dedup();

        match response.decision() {
            cedar_policy::Decision::Allow if errored.is_empty() => {
                let needs: Vec<String> = determining
                    .into_iter()
                    .filter(|id| self.approval.contains(id))
                    .collect();
                if needs.is_empty() {
                    Decision::Allow
                } else {
                    Decision::RequireApproval { policy_ids: needs }
                }
            }
            cedar_policy::Decision::Allow => Decision::Deny {
                policy_ids: errored,
                reason: format!("denied (fail closed): {error_text}"),
            },
            cedar_policy::Decision::Deny if !determining.is_empty() => {
                let mut reason = format!("denied by {}", name_list(&determining));
                if !error_text.is_empty() {
                    let _ = write!(reason, "; also {error_text}");
                }
                Decision::Deny {
                    policy_ids: determining,
                    reason,
                }
            }
            cedar_policy::Decision::Deny if !errored.is_empty() => Decision::Deny {
                policy_ids: errored,
                reason: format!("denied (fail closed): {error_text}"),
            },
            cedar_policy::Decision::Deny => Decision::Deny {
                policy_ids: vec![DEFAULT_DENY_ID.to_owned()],
                reason: format!(
                    "no policy permits action `{}` (default deny)",
                    truncate(input.action, 100)
                ),
            },
        }
    }

    fn request(&self, input: &PolicyInput<'_>) -> Result<Request, String> {
        if !input.params.is_object() {
            return Err("params must be a JSON object".to_owned());
        }
        let params = match context::to_cedar(input.params) {
            Ok(Some(p)) => p,
            Ok(None) => return Err("params must be a JSON object".to_owned()),
            Err(e) => return Err(format!("params cannot be evaluated by policy: {}", e.0)),
        };
        let ctx = Context::from_pairs([
            ("params".to_owned(), params),
            (
                "tenant".to_owned(),
                RestrictedExpression::new_string(input.tenant.to_owned()),
            ),
        ])
        .map_err(|e| {
            format!(
                "cannot build the policy context: {}",
                truncate(&e.to_string(), 200)
            )
        })?;
        let uid = |t: &EntityTypeName, id: &str| {
            EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
        };
        Request::new(
            uid(&self.agent_type, input.agent),
            uid(&self.action_type, input.action),
            uid(&self.resource_type, input.resource),
            ctx,
            None,
        )
        .map_err(|e| {
            format!(
                "cannot build the policy request: {}",
                truncate(&e.to_string(), 200)
            )
        })
    }
}

fn type_name(name: &str) -> Result<EntityTypeName, PolicyError> {
    EntityTypeName::from_str(name).map_err(|e| PolicyError::Invalid {
        position: "engine".to_owned(),
        message: format!("bad entity type {name}: {e}"),
    })
}

/// `` policy `a` `` or `` policies `a`, `b` ``.
fn name_list(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
    if ids.len() == 1 {
        format!("policy {}", quoted.join(", "))
    } else {
        format!("policies {}", quoted.join(", "))
    }
}

/// An evaluation error, described without any value it may carry (overflow operands,
/// extension-function inputs and unknown expressions can hold params).
fn describe_eval_error(e: &EvaluationError) -> String {
    match e {
        // These name an attribute, an entity or types — never a param value.
        EvaluationError::RecordAttrDoesNotExist(_)
        | EvaluationError::EntityAttrDoesNotExist(_)
        | EvaluationError::EntityDoesNotExist(_)
        | EvaluationError::TypeError(_)
        | EvaluationError::WrongNumArguments(_)
        | EvaluationError::FailedExtensionFunctionLookup(_) => truncate(&e.to_string(), 200),
        EvaluationError::IntegerOverflow(_) => "integer overflow".to_owned(),
        EvaluationError::FailedExtensionFunctionExecution(_) => {
            "an extension function (decimal, ip, datetime…) rejected its input".to_owned()
        }
        EvaluationError::RecursionLimit(_) => "recursion limit reached".to_owned(),
        _ => "evaluation error".to_owned(),
    }
}

/// Every parse error with its line and column.
fn describe_parse_errors(errs: &cedar_policy::ParseErrors, src: &str) -> String {
    let mut out = String::new();
    for (i, e) in errs.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&e.to_string());
        let offset = e
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|l| l.offset());
        if let Some(o) = offset {
            let (line, col) = line_col(src, o);
            let _ = write!(out, " (line {line}, column {col})");
        }
    }
    truncate(&out, 1000)
}

/// `#n (line L, column C)` for the `i`th policy (0-based) starting at byte `start`.
fn describe_position(i: usize, start: Option<usize>, src: &str) -> String {
    match start {
        Some(s) => {
            let (line, col) = line_col(src, s);
            format!("#{} (line {line}, column {col})", i + 1)
        }
        None => format!("#{}", i + 1),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let before = &src[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Objects rebuilt with their keys in sorted order, recursively.
fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests;
