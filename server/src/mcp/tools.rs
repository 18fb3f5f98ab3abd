//! The catalog as MCP tools: a tool per action, with the action's published JSON Schema, its
//! description and annotations, and the way back from a tool name to the action.
//!
//! Rules:
//! - A tool's name is core's [`tool_name`] of its action (`money.refund` → `money_refund`):
//!   the rule of the model APIs an MCP client hands tools to, stricter than MCP's own. Two
//!   actions with one tool name are both left out of the list and cannot be called by it: a
//!   name never stands for a guess.
//! - Annotations are hints from what the rail knows: a profile operation's HTTP method
//!   (`GET`/`HEAD` read only and idempotent; `PUT`/`DELETE` destructive and idempotent;
//!   anything else destructive), and for a native action that it acts on the world
//!   (destructive, not idempotent). Every tool is open-world: it reaches a downstream API.

use std::collections::BTreeMap;
use std::sync::Arc;

pub use intentrail_core::tools::{is_tool_name_of, tool_name};
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::Value;

/// The tools of a catalog document (`GET /v1/actions`), in its order, and the action each
/// tool name stands for.
pub struct Tools {
    /// The tools, as `tools/list` answers them.
    pub list: Vec<Tool>,
    /// Tool name → action.
    pub actions: BTreeMap<String, String>,
}

impl Tools {
    /// The tools of `catalog`. Entries without a name, or whose tool name is ambiguous or too
    /// long, are left out.
    pub fn of_catalog(catalog: &Value) -> Tools {
        let entries: Vec<&Value> = catalog
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let named: Vec<(String, &Value)> = entries
            .into_iter()
            .filter_map(|e| {
                let name = tool_name(e.get("name")?.as_str()?)?;
                *seen.entry(name.clone()).or_default() += 1;
                Some((name, e))
            })
            .collect();
        let mut tools = Tools {
            list: Vec::new(),
            actions: BTreeMap::new(),
        };
        for (name, entry) in named {
            if seen.get(&name).copied() != Some(1) {
                tracing::warn!(tool = %name, "actions share an MCP tool name: left out");
                continue;
            }
            let action = entry["name"].as_str().unwrap_or_default().to_owned();
            tools.list.push(tool(&name, entry));
            tools.actions.insert(name, action);
        }
        tools
    }
}

/// One catalog entry as a tool.
fn tool(name: &str, entry: &Value) -> Tool {
    let schema = match entry.get("schema") {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::from_iter([("type".to_owned(), Value::from("object"))]),
    };
    let action = entry["name"].as_str().unwrap_or(name);
    let description = entry
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map_or_else(
            || format!("IntentRail governed action {action}"),
            str::to_owned,
        );
    let mut t = Tool::new(name.to_owned(), description, Arc::new(schema));
    t.annotations = Some(annotations(entry));
    t
}

/// What a client may assume about the action (hints only).
fn annotations(entry: &Value) -> ToolAnnotations {
    let method = entry
        .pointer("/profile/method")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    let (read_only, destructive, idempotent) = match method.as_deref() {
        Some("GET" | "HEAD" | "OPTIONS") => (true, false, true),
        Some("PUT" | "DELETE") => (false, true, true),
        _ => (false, true, false),
    };
    let mut a = ToolAnnotations::new()
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent);
    a.open_world_hint = Some(true);
    a
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_catalog_becomes_tools_with_schemas_and_hints() {
        let catalog = json!({"actions": [
            {"name": "money.refund", "description": "Refund.",
             "schema": {"type": "object", "required": ["amount"]}},
            {"name": "gh.repos/get", "description": "", "schema": {"type": "object"},
             "profile": {"method": "GET"}},
            {"name": "gh.repos_get", "schema": {"type": "object"}, "profile": {"method": "get"}},
            {"name": "gh.issues/delete", "profile": {"method": "DELETE"}},
            {"description": "no name"},
        ]});
        let tools = Tools::of_catalog(&catalog);
        let names: Vec<&str> = tools.list.iter().map(|t| t.name.as_ref()).collect();
        // `gh.repos/get` and `gh.repos_get` share a tool name: neither is listed.
        assert_eq!(names, ["money_refund", "gh_issues_delete"]);
        assert_eq!(tools.actions["gh_issues_delete"], "gh.issues/delete");
        assert!(!tools.actions.contains_key("gh_repos_get"));
        let refund = &tools.list[0];
        assert_eq!(refund.input_schema["required"], json!(["amount"]));
        assert_eq!(refund.description.as_deref(), Some("Refund."));
        let hints = refund.annotations.as_ref().unwrap();
        assert_eq!(
            (
                hints.read_only_hint,
                hints.destructive_hint,
                hints.idempotent_hint
            ),
            (Some(false), Some(true), Some(false))
        );
        let delete = &tools.list[1];
        assert_eq!(delete.input_schema["type"], "object");
        assert!(delete
            .description
            .as_deref()
            .unwrap()
            .contains("gh.issues/delete"));
        let hints = delete.annotations.as_ref().unwrap();
        assert_eq!(
            (hints.destructive_hint, hints.idempotent_hint),
            (Some(true), Some(true))
        );
    }

    #[test]
    fn reads_are_read_only_and_idempotent() {
        let tools = Tools::of_catalog(&json!({"actions": [
            {"name": "gh.repos/get", "profile": {"method": "get"}}]}));
        let hints = tools.list[0].annotations.as_ref().unwrap();
        assert_eq!(
            (
                hints.read_only_hint,
                hints.destructive_hint,
                hints.idempotent_hint
            ),
            (Some(true), Some(false), Some(true))
        );
    }
}
