//! The catalog as MCP tools: a tool per action, with the action's published JSON Schema, its
//! description and annotations, and the way back from a tool name to the action.
//!
//! Rules:
//! - A tool's name is its action's name with every character outside `A-Z a-z 0-9 _ -`
//!   replaced by `_` (`money.refund` → `money_refund`), at most 64 characters: the rule of
//!   the model APIs an MCP client hands tools to (OpenAI's, Anthropic's), stricter than MCP's
//!   own, and the same rule as the SDKs' tool names. Two actions with one tool name are both
//!   left out of the list and cannot be called by it: a name never stands for a guess.
//! - Annotations are hints from what the rail knows: a profile operation's HTTP method
//!   (`GET`/`HEAD` read only and idempotent; `PUT`/`DELETE` destructive and idempotent;
//!   anything else destructive), and for a native action that it acts on the world
//!   (destructive, not idempotent). Every tool is open-world: it reaches a downstream API.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::Value;

/// The longest tool name model APIs accept.
const MAX_NAME: usize = 64;

/// The tool name of one character of an action name.
fn tool_char(c: char) -> char {
    if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
        c
    } else {
        '_'
    }
}

/// The MCP tool name of `action` (`None` if it is longer than allowed).
pub fn tool_name(action: &str) -> Option<String> {
    let name: String = action.chars().map(tool_char).collect();
    (!name.is_empty() && name.len() <= MAX_NAME).then_some(name)
}

/// Whether `tool` is the tool name of `action` (without building it).
pub fn is_tool_name_of(tool: &str, action: &str) -> bool {
    !tool.is_empty()
        && tool.len() <= MAX_NAME
        && tool.len() == action.len()
        && tool.chars().eq(action.chars().map(tool_char))
}

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
    fn names_keep_the_action_name_where_mcp_allows_it() {
        assert_eq!(tool_name("money.refund").unwrap(), "money_refund");
        assert_eq!(tool_name("github.repos/get").unwrap(), "github_repos_get");
        assert_eq!(tool_name(&"a".repeat(65)), None);
        assert_eq!(tool_name(""), None);
        assert!(is_tool_name_of("github_repos_get", "github.repos/get"));
        assert!(!is_tool_name_of("github_repos_get", "github.repos/gets"));
        assert!(!is_tool_name_of("github_repos_gex", "github.repos/get"));
        assert!(!is_tool_name_of("", ""));
    }

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
