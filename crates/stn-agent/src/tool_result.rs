//! How much of a tool's result goes where. A tool may answer megabytes (a file
//! read, a web page); sent whole, that is a request the model refuses or bills
//! in full on every later turn, a step row as large and an API answer larger.
//! So the model sees at most [`ResultLimits::to_model`] bytes and the step row
//! keeps at most [`ResultLimits::stored`], each cut marked with what was cut.

/// Size limits for one tool result, in bytes of UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultLimits {
    /// What the model is sent (config `max_tool_result_bytes`).
    pub to_model: usize,
    /// What the run's step keeps (config `max_stored_tool_result_bytes`).
    pub stored: usize,
}

impl ResultLimits {
    /// 64 KiB: about 16,000 tokens, well inside every current context window.
    pub const DEFAULT_TO_MODEL: usize = 64 * 1024;
    /// 1 MiB: enough to see what a tool answered without a row per megabyte.
    pub const DEFAULT_STORED: usize = 1024 * 1024;
}

impl Default for ResultLimits {
    fn default() -> Self {
        Self {
            to_model: Self::DEFAULT_TO_MODEL,
            stored: Self::DEFAULT_STORED,
        }
    }
}

/// What the step row keeps of a tool's result. The run's conversation is
/// rebuilt from its step rows, so this is also what later turns start from.
pub(crate) fn for_storage(text: String, limits: &ResultLimits) -> String {
    if text.len() <= limits.stored {
        text
    } else {
        cut(&text, limits.stored, "max_stored_tool_result_bytes")
    }
}

/// What the model is sent of a stored tool result.
pub(crate) fn for_model(stored: &str, limits: &ResultLimits) -> String {
    cut(stored, limits.to_model, "max_tool_result_bytes")
}

/// The first `max` bytes of `text` (on a character boundary) and a marker
/// that says how much was cut and which setting decides it.
fn cut(text: &str, max: usize, setting: &str) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!(
        "{}\n[truncated by Station: the tool returned {} bytes; the first {end} are shown, {} bytes were cut ({setting})]",
        &text[..end],
        text.len(),
        text.len() - end
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_results_pass_whole() {
        let limits = ResultLimits::default();
        assert_eq!(for_storage("ok".to_owned(), &limits), "ok");
        assert_eq!(for_model("ok", &limits), "ok");
    }

    #[test]
    fn long_results_are_cut_on_a_character_boundary_with_a_marker() {
        let limits = ResultLimits {
            to_model: 5,
            stored: 7,
        };
        // 'é' is two bytes: byte 5 falls inside the third one.
        let for_model = for_model("ééééé", &limits);
        assert!(for_model.starts_with("éé\n[truncated by Station"));
        assert!(for_model.contains(
            "returned 10 bytes; the first 4 are shown, 6 bytes were cut (max_tool_result_bytes)"
        ));
        let stored = for_storage("ééééé".to_owned(), &limits);
        assert!(stored.starts_with("ééé\n[truncated"));
        assert!(stored.contains("max_stored_tool_result_bytes"));
    }
}
