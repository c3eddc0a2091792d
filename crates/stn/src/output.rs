//! Printing: aligned tables for people, JSON for programs, errors with hints.
//!
//! Text from the database (descriptions, prompts, run output) may hold
//! control characters that would drive the terminal (ANSI escapes that
//! rewrite the screen or the title, `\r` that hides a line). Printed for
//! people it goes through [`text`] or [`block`]; JSON prints it exactly.

use std::borrow::Cow;
use std::io::IsTerminal as _;

use serde::Serialize;
use unicode_width::UnicodeWidthStr as _;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `value` safe for a terminal line: control characters, and the Unicode
/// controls that reorder text, appear escaped as Rust writes them (`\u{1b}`, `\r`).
pub fn text(value: &str) -> Cow<'_, str> {
    escape(value, false)
}

/// Like [`text`] but keeps line breaks and tabs: for prompts and other
/// multi-line text printed on lines of its own.
pub fn block(value: &str) -> Cow<'_, str> {
    escape(value, true)
}

fn escape(value: &str, keep_lines: bool) -> Cow<'_, str> {
    let needs = |c: char| {
        let layout = keep_lines && matches!(c, '\n' | '\t');
        (c.is_control() && !layout)
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !value.chars().any(needs) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if needs(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Prints a listing: `items` as JSON with `--json`, otherwise a table with
/// `header` and one row per item from `row`. The JSON is the items
/// themselves, so programs see every field, not only the table's columns.
pub fn list<T: Serialize>(
    json: bool,
    items: &[T],
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        return self::json(items);
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    table(header, &rows);
    Ok(())
}

/// Prints rows as a table with a header, columns padded to the widest cell
/// as a terminal shows it (a CJK character takes two columns). Cells go
/// through [`text`].
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(header, rows) {
        println!("{line}");
    }
}

fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| text(cell).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.width()))))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines
}

/// The first line of `text`, cut to `max` characters; `…` marks what was left out.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    let line = text.lines().next().unwrap_or_default().trim_end();
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None if text.lines().nth(1).is_some() => format!("{line} …"),
        None => line.to_owned(),
    }
}

/// "1 tool call", "2 tool calls" (the one rule, in stn-core).
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    stn_core::model::count(i64::try_from(n.into()).unwrap_or(i64::MAX), noun)
}

/// Prints an error and its causes, then a `hint:` line when one applies.
pub fn print_error(error: &anyhow::Error) {
    eprintln!("error: {}", chain_text(error));
    if let Some(hint) = hint(error) {
        eprintln!("hint: {hint}");
    }
}

/// An error as JSON on stdout, for a command run with `--json` (the shape is
/// in docs/cli-json.md): `{"error": {"message", "hint", ...}}`, plus what the
/// error names (a refused row's `table` and `row`, a `backup`) when it does.
pub fn print_json_error(error: &anyhow::Error) {
    let mut object = serde_json::json!({
        "message": chain_text(error),
        "hint": hint(error),
    });
    if let Some(go) = error
        .chain()
        .find_map(|c| match c.downcast_ref::<stn_core::CoreError>() {
            Some(stn_core::CoreError::GoImport(e)) => Some(&**e),
            _ => c.downcast_ref::<stn_core::go_import::GoImportError>(),
        })
    {
        object["table"] = go.table().into();
        object["row"] = go.row().into();
        object["backup"] = go.backup().into();
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "error": object })).unwrap_or_default()
    );
}

/// The error and its causes joined with `: `, each text once. Many errors
/// (ours wrapping I/O or SQLite errors, reqwest's, object_store's) already
/// repeat their source in their own message, which `{:#}` would print again.
fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(part.as_str()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The first hint offered by a library error in the chain. Every library
/// error type with a `hint()` is asked, so a hint written there reaches the
/// user whichever command failed.
fn hint(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(hint_of)
}

/// The hint of one cause, if its type is one of the library errors.
fn hint_of(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! ask {
        ($($error:ty),+ $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$error>() {
                return e.hint();
            })+
        };
    }
    ask!(
        stn_core::CoreError,
        stn_core::bundle::BundleError,
        stn_db::DbError,
        stn_replicate::Error,
        stn_agent::AgentError,
        stn_mcp::McpError,
        stn_llm::LlmError,
        stn_llm::PromptError,
    );
    None
}

/// 2 for a request that breaks a rule (a bad name: the same class as a
/// usage error), 1 for every other failure.
pub fn exit_code(error: &anyhow::Error) -> std::process::ExitCode {
    let rejected = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<stn_core::CoreError>(),
            Some(stn_core::CoreError::Rejected(_))
        )
    });
    if rejected {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Asks "question [y/N]" on a terminal. Without a terminal there is nobody to
/// ask, so the caller must pass --yes.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question}: refusing without confirmation; pass --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(stn_core::CoreError::Io {
            path: "/x/a.prompt".into(),
            source: io,
        })
        .context("creating agent a");
        assert_eq!(
            chain_text(&error),
            "creating agent a: /x/a.prompt: disk on fire"
        );
    }

    #[test]
    fn every_library_error_gives_its_hint() {
        let agent = stn_agent::AgentError::MaxSteps {
            max_steps: 3,
            pending: "search".into(),
        };
        let llm = stn_llm::LlmError::BadConfig {
            message: "no model".into(),
            hint: "set STN_AI_MODEL".into(),
        };
        for (error, expected) in [
            (anyhow::Error::new(agent), "raise `max_steps`"),
            (
                anyhow::Error::new(llm).context("running agent a"),
                "set STN_AI_MODEL",
            ),
        ] {
            let hint = hint(&error).unwrap_or_default();
            assert!(hint.contains(expected), "{error:#}: hint {hint:?}");
        }
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1u32, "tool call"), "1 tool call");
        assert_eq!(count(0u32, "tool call"), "0 tool calls");
        assert_eq!(count(2u32, "model turn"), "2 model turns");
    }

    #[test]
    fn columns_line_up_after_wide_characters() {
        let rows = vec![
            vec!["エージェント".to_owned(), "ok".to_owned()],
            vec!["agent".to_owned(), "ok".to_owned()],
        ];
        let lines = table_lines(&["NAME", "STATUS"], &rows);
        // The second column starts at the same terminal column on every line.
        let at = |line: &str| {
            let start = line.rfind(' ').unwrap() + 1;
            line[..start].width()
        };
        assert_eq!(at(&lines[1]), at(&lines[0]), "{lines:#?}");
        assert_eq!(at(&lines[2]), at(&lines[0]), "{lines:#?}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(text("plain text"), "plain text");
        assert_eq!(
            text("red\u{1b}[31m\rgone\u{7}\nnext\ttab"),
            "red\\u{1b}[31m\\rgone\\u{7}\\nnext\\ttab"
        );
        assert_eq!(
            block("one\ntwo\tx\u{1b}]0;t\u{7}"),
            "one\ntwo\tx\\u{1b}]0;t\\u{7}"
        );
        assert_eq!(text("a\u{202e}b"), "a\\u{202e}b");
    }
}
