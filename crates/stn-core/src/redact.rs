//! Keeping secret values out of what Station stores, logs and returns.
//!
//! A secret can reach a run's record by paths nobody wrote on purpose: an MCP
//! server echoing its environment to stderr, which becomes the run's error; a
//! tool result; a model repeating a key. So every text a run stores passes
//! through a [`Redactor`] that knows the values that must not appear: the
//! environment's `variables.yml` values, secret-looking process variables
//! (`*_TOKEN`, `*_KEY`, …) and the configured credentials.
//!
//! Values shorter than [`MIN_SECRET_LEN`] are not replaced: a value like `1`
//! or `yes` would cut every text it occurs in to shreds and hides nothing.
//! Numbers and booleans of `variables.yml` (ports, flags) are not secrets.

use std::borrow::Cow;

use crate::files::variables::{Variables, is_secret_name};

/// Shortest value replaced.
pub const MIN_SECRET_LEN: usize = 4;

/// What a redacted value becomes.
pub const MASK: &str = "[redacted]";

/// Replaces known secret values in text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so a value containing another is replaced whole.
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for the given values (short and empty ones are dropped).
    pub fn new<I, S>(values: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut redactor = Redactor::default();
        redactor.extend(values);
        redactor
    }

    /// Adds values to hide.
    pub fn extend<I, S>(&mut self, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for value in values {
            let value = value.into();
            let value = value.trim();
            if value.len() >= MIN_SECRET_LEN && !self.values.iter().any(|v| v == value) {
                self.values.push(value.to_owned());
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Adds the values `other` hides.
    pub fn merge(&mut self, other: &Redactor) {
        self.extend(other.values.iter().cloned());
    }

    /// The values of an environment's `variables.yml` (not numbers or
    /// booleans) and the process variables whose names look secret.
    pub fn for_variables(file: &Variables) -> Redactor {
        let from_file = file
            .iter()
            .map(|(_, value)| value)
            .filter(|value| !is_plain_setting(value))
            .map(str::to_owned);
        let from_env = std::env::vars_os().filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            is_secret_name(&name).then(|| value.into_string().ok())?
        });
        Redactor::new(from_file.chain(from_env))
    }

    /// `text` with every known value replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        out
    }

    /// [`Redactor::redact`] for an owned text.
    pub fn redact_string(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => redacted,
        }
    }

    /// Every string inside a JSON value (tool arguments), redacted.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(redacted) = self.redact(s) {
                    *s = redacted;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
}

/// Shows how many values, never the values.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.values.len())
            .finish()
    }
}

/// A number or a boolean: a port, a limit, a flag.
fn is_plain_setting(value: &str) -> bool {
    let value = value.trim();
    value.parse::<f64>().is_ok() || matches!(value, "true" | "false" | "yes" | "no")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_longest_first_and_short_ones_kept() {
        let r = Redactor::new(["s3cr3t", "s3cr3t-longer", "ab", ""]);
        assert_eq!(
            r.redact("a s3cr3t-longer and s3cr3t but ab"),
            "a [redacted] and [redacted] but ab"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn variables_skip_numbers_and_flags() {
        let vars: Variables = [
            ("PORT".to_owned(), "8080".to_owned()),
            ("DEBUG".to_owned(), "true".to_owned()),
            ("API_TOKEN".to_owned(), "tok-123456".to_owned()),
        ]
        .into_iter()
        .collect();
        let r = Redactor::for_variables(&vars);
        assert_eq!(
            r.redact("port 8080 debug true token tok-123456"),
            "port 8080 debug true token [redacted]"
        );
    }

    #[test]
    fn json_strings_are_redacted_in_place() {
        let r = Redactor::new(["hunter22"]);
        let mut v = serde_json::json!({"a": ["x hunter22"], "b": 1});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x [redacted]"], "b": 1}));
    }
}
