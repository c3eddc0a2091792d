//! Tool names: how agents and MCP tools are named to a model and to MCP clients.

/// Go's normalization of an agent name for a tool name: lowercase, every
/// character other than a letter or digit becomes `_`, runs of `_` collapse,
/// and leading or trailing `_` go. The Go original kept non-ASCII letters,
/// which model APIs reject in tool names (`^[a-zA-Z0-9_-]{1,64}$`); here they
/// become `_` too.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The tool through which a parent agent calls a sub-agent: `__agent_<name>`.
pub fn sub_agent_tool(agent: &str) -> String {
    format!("__agent_{}", normalize(agent))
}

/// The tool through which an MCP client calls an agent: `agent_<name>`.
pub fn served_agent_tool(agent: &str) -> String {
    format!("agent_{}", normalize(agent))
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
    fn normalizes_like_go() {
        assert_eq!(normalize("Code Reviewer"), "code_reviewer");
        assert_eq!(normalize("--A.b!!c--"), "a_b_c");
        assert_eq!(normalize("x (v2)"), "x_v2");
        assert_eq!(normalize("café"), "caf");
        assert_eq!(sub_agent_tool("File Reader"), "__agent_file_reader");
        assert_eq!(served_agent_tool("file-reader"), "agent_file_reader");
    }

    #[test]
    fn accepts_both_tool_spellings() {
        assert_eq!(mcp_tool_name("__read_text_file"), "read_text_file");
        assert_eq!(mcp_tool_name("read_text_file"), "read_text_file");
    }
}
