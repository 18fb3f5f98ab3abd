//! Tool names: the name of an action as a tool of a model's tool-calling API or of MCP.
//!
//! Rule: every character of the action name outside `A-Z a-z 0-9 _ -` becomes `_`
//! (`money.refund` → `money_refund`), and the name has 1 to 64 characters: what the OpenAI and
//! Anthropic APIs accept (MCP's own rule also allows `.`, but MCP clients hand tools to those
//! APIs). The SDKs and the rail's MCP server name tools by it; two actions with one tool name
//! are refused or left out by their callers, never guessed.

/// The longest tool name model APIs accept.
pub const MAX_TOOL_NAME: usize = 64;

fn tool_char(c: char) -> char {
    if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
        c
    } else {
        '_'
    }
}

/// The tool name of `action` (`None` if it would be empty or longer than [`MAX_TOOL_NAME`]).
pub fn tool_name(action: &str) -> Option<String> {
    let name: String = action.chars().map(tool_char).collect();
    (!name.is_empty() && name.len() <= MAX_TOOL_NAME).then_some(name)
}

/// Whether `tool` is the tool name of `action`, without building it.
pub fn is_tool_name_of(tool: &str, action: &str) -> bool {
    !tool.is_empty()
        && tool.len() <= MAX_TOOL_NAME
        && tool.len() == action.len()
        && tool.chars().eq(action.chars().map(tool_char))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_model_apis_rule() {
        assert_eq!(tool_name("money.refund").unwrap(), "money_refund");
        assert_eq!(tool_name("github.repos/get").unwrap(), "github_repos_get");
        assert_eq!(tool_name(&"a".repeat(65)), None);
        assert_eq!(tool_name(""), None);
        assert!(is_tool_name_of("github_repos_get", "github.repos/get"));
        assert!(!is_tool_name_of("github_repos_get", "github.repos/gets"));
        assert!(!is_tool_name_of("github_repos_gex", "github.repos/get"));
        assert!(!is_tool_name_of("", ""));
    }
}
