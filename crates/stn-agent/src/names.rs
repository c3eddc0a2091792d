//! Tool names: how agents and MCP tools are named to a model and to MCP clients.

pub use stn_core::names::normalize;
use stn_core::names::tool_body;

/// The tool through which a parent agent calls a sub-agent: `__agent_<name>`
/// (see [`tool_body`]: unique per name and at most 64 characters).
pub fn sub_agent_tool(agent: &str) -> String {
    format!("__agent_{}", tool_body(agent))
}

/// The tool through which an MCP client calls an agent: `agent_<name>`.
pub fn served_agent_tool(agent: &str) -> String {
    format!("agent_{}", tool_body(agent))
}

/// The MCP tool an agent's `tools:` entry names: Go's `__read_file` spelling
/// (Genkit's `<client>_<tool>` with the client named `_`) or the bare name.
pub fn mcp_tool_name(declared: &str) -> &str {
    declared.strip_prefix("__").unwrap_or(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_go_for_ascii_names() {
        assert_eq!(sub_agent_tool("File Reader"), "__agent_file_reader");
        assert_eq!(served_agent_tool("file-reader"), "agent_file_reader");
    }

    #[test]
    fn different_names_give_different_valid_tools() {
        let valid = |t: &str| {
            t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let long = "x".repeat(120);
        let names = ["агент", "エージェント", long.as_str()];
        for name in names {
            for tool in [sub_agent_tool(name), served_agent_tool(name)] {
                assert!(valid(&tool), "`{tool}` for `{name}`");
            }
        }
        assert_ne!(
            served_agent_tool("агент"),
            served_agent_tool("エージェント")
        );
        assert_ne!(
            served_agent_tool(&long),
            served_agent_tool(&"x".repeat(121))
        );
    }

    #[test]
    fn accepts_both_tool_spellings() {
        assert_eq!(mcp_tool_name("__read_text_file"), "read_text_file");
        assert_eq!(mcp_tool_name("read_text_file"), "read_text_file");
    }
}
