//! Rules that compare names rather than check one: lookalike names of one
//! kind (users, environments, agents of one environment) and the tool name
//! an agent gets when a model or an MCP client calls it
//! (`docs/decisions/0023-names-and-tool-names.md`).

use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

/// Longest tool name model APIs accept (OpenAI: `^[a-zA-Z0-9_-]{1,64}$`).
pub const MAX_TOOL_NAME: usize = 64;
/// The longest prefix put before [`tool_body`]: `__agent_` (sub-agents).
const LONGEST_PREFIX: usize = "__agent_".len();
/// Longest body, so that every prefixed tool name fits [`MAX_TOOL_NAME`].
const MAX_BODY: usize = MAX_TOOL_NAME - LONGEST_PREFIX;
/// Hex digits of the name's hash appended when the plain form loses it.
const HASH_DIGITS: usize = 8;

/// Go's normalization of an agent name for a tool name: lowercase, every
/// character other than a letter or digit becomes `_`, runs of `_` collapse,
/// and leading or trailing `_` go. The Go original kept non-ASCII letters,
/// which model APIs reject in tool names; here they become `_` too.
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

/// The part of an agent's tool name after `agent_` / `__agent_`: the Go
/// normalization when it keeps the name recognisable, else the normalization
/// cut short plus `_` and 8 hex digits of the name's SHA-256. The hash is
/// added when the name has non-ASCII letters (`агент` and `エージェント` would
/// both be empty), when nothing is left, or when the result would make a tool
/// name longer than 64 characters. It depends on the name alone, so a tool's
/// name never changes when other agents come or go.
pub fn tool_body(name: &str) -> String {
    let plain = normalize(name);
    if name.is_ascii() && !plain.is_empty() && plain.len() <= MAX_BODY {
        return plain;
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    // `plain` is ASCII, so any byte index is a character boundary.
    let keep = plain.len().min(MAX_BODY - HASH_DIGITS - 1);
    let head = plain[..keep].trim_end_matches('_');
    if head.is_empty() {
        hash
    } else {
        format!("{head}_{hash}")
    }
}

/// What a name looks like, for comparing lookalikes: the Unicode skeleton
/// (UTS #39, so Cyrillic `а` and Latin `a`, or `rn` and `m`, agree) of the
/// lowercased name.
pub fn skeleton(name: &str) -> String {
    unicode_security::skeleton(&name.to_lowercase()).collect()
}

/// Refuses `name` when one of `existing` (names of the same kind in the same
/// place) differs from it but looks the same, naming both. `place` is
/// appended to the message, e.g. " in environment `default`".
pub fn refuse_lookalike<'a>(
    what: &str,
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
    place: &str,
) -> Result<()> {
    let wanted = skeleton(name);
    match existing
        .into_iter()
        .find(|other| *other != name && skeleton(other) == wanted)
    {
        Some(other) => Err(CoreError::Rejected(format!(
            "{what} name `{name}` looks like the existing {what} `{other}`{place} \
             ({}); choose a name that reads differently",
            describe_difference(name, other)
        ))),
        None => Ok(()),
    }
}

/// Refuses an agent `name` whose tool name (`agent_…`, `__agent_…`) would be
/// the one of another agent among `existing`, naming both.
pub fn refuse_same_tool<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
    place: &str,
) -> Result<()> {
    let wanted = tool_body(name);
    match existing
        .into_iter()
        .find(|other| *other != name && tool_body(other) == wanted)
    {
        Some(other) => Err(CoreError::Rejected(format!(
            "agent `{name}` would be called as the same tool as agent `{other}`{place} \
             (`agent_{wanted}`: tool names keep only letters, digits and `_`); \
             choose a name that differs in its letters or digits"
        ))),
        None => Ok(()),
    }
}

/// Shows the characters behind a lookalike, e.g. "U+0430 where `admin` has U+0061".
fn describe_difference(name: &str, other: &str) -> String {
    let first = name
        .chars()
        .zip(other.chars())
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("U+{:04X} where `{other}` has U+{:04X}", a as u32, b as u32));
    first.unwrap_or_else(|| "the same letters in another case or script".to_owned())
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
    }

    #[test]
    fn tool_bodies_are_valid_and_keep_names_apart() {
        assert_eq!(tool_body("file-reader"), "file_reader");
        let cyrillic = tool_body("агент");
        let japanese = tool_body("エージェント");
        assert_ne!(cyrillic, japanese);
        assert_ne!(tool_body("café"), tool_body("caf"));
        let long = "a".repeat(120);
        let other_long = format!("{}b", "a".repeat(119));
        for body in [&cyrillic, &japanese, &tool_body(&long)] {
            let tool = format!("__agent_{body}");
            assert!(tool.len() <= MAX_TOOL_NAME, "{tool} is too long");
            assert!(
                tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{tool}"
            );
        }
        assert_ne!(tool_body(&long), tool_body(&other_long));
        // Stable: the same name always gives the same body.
        assert_eq!(tool_body("агент"), cyrillic);
    }

    #[test]
    fn lookalikes_are_refused_and_others_pass() {
        let err = refuse_lookalike("user", "\u{430}dmin", ["admin"], "").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`admin`"), "{text}");
        assert!(text.contains("U+0430"), "{text}");
        assert!(refuse_lookalike("user", "Admin", ["admin"], "").is_err());
        assert!(refuse_lookalike("user", "admin2", ["admin"], "").is_ok());
        assert!(refuse_lookalike("user", "admin", ["admin"], "").is_ok());
        assert!(refuse_lookalike("agent", "агент", ["エージェント"], "").is_ok());
    }

    #[test]
    fn same_tool_names_are_refused() {
        let err = refuse_same_tool("my-agent", ["my agent"], " in environment `default`")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`my-agent`") && err.contains("`my agent`"),
            "{err}"
        );
        assert!(refuse_same_tool("агент", ["エージェント"], "").is_ok());
    }
}
