//! `variables.yml`: an environment's variables, the values behind `{{.NAME}}` placeholders
//! in its MCP configs.
//!
//! The file is a flat YAML mapping of NAME to a string, number or boolean:
//!
//! ```yaml
//! ROOT_PATH: /home/me/projects
//! API_TOKEN: "s3cr3t"
//! PORT: 8080
//! ```
//!
//! Values are often secrets, so nothing here ever prints one: not `Debug`, not errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use yaml_serde::Value;

use super::FileError;

/// The file name Station writes and reads first.
const FILE_NAME: &str = "variables.yml";
/// The other spelling, accepted when it is the only one present.
const ALTERNATE_FILE_NAME: &str = "variables.yaml";

/// An environment's variables, NAME → value (numbers and booleans as their text).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Variables(BTreeMap<String, String>);

impl Variables {
    /// Loads `variables.yml` (or `variables.yaml`) from an environment directory.
    ///
    /// A directory without either file has no variables, which is not an error. Having both
    /// files is an error: which one wins would be a guess.
    pub fn load(dir: &Path) -> Result<Variables, FileError> {
        let main = dir.join(FILE_NAME);
        let alternate = dir.join(ALTERNATE_FILE_NAME);
        let path = match (main.is_file(), alternate.is_file()) {
            (true, true) => {
                return Err(FileError::Invalid {
                    file: dir.display().to_string(),
                    problem: format!(
                        "both {FILE_NAME} and {ALTERNATE_FILE_NAME} exist; \
                         merge them into {FILE_NAME} and delete {ALTERNATE_FILE_NAME}"
                    ),
                });
            }
            (true, false) => main,
            (false, true) => alternate,
            (false, false) => return Ok(Variables::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| FileError::Read {
            path: path.clone(),
            source,
        })?;
        parse(&text, &path.display().to_string())
    }

    /// The value of a variable, if it is defined.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every NAME and value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// These variables, then the process environment's for names not
    /// defined here: what MCP placeholders are filled from, at sync (to check
    /// nothing is missing) and when a server is started. Non-UTF-8 entries
    /// of the environment are skipped.
    pub fn with_process_env(self) -> Variables {
        let mut all: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        all.extend(self.0);
        Variables(all)
    }
}

/// Words that mark a variable or env name as holding a secret (the Go
/// original's rule), compared case-insensitively anywhere in the name.
const SECRET_WORDS: &[&str] = &["TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH"];

/// Whether a name like `GITHUB_TOKEN` or `db_password` suggests a secret value.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|word| upper.contains(word))
}

/// Builds variables from pairs, e.g. values a user typed in when asked for missing ones.
impl FromIterator<(String, String)> for Variables {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Variables(pairs.into_iter().collect())
    }
}

/// Shows the names only: the values may be secrets and debug output ends up in logs.
impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variables")
            .field("names", &self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses the text of a variables file; `file` names it in errors.
fn parse(text: &str, file: &str) -> Result<Variables, FileError> {
    let root: Value = yaml_serde::from_str(text).map_err(|e| FileError::Syntax {
        file: file.to_owned(),
        problem: format!("invalid YAML: {e}"),
    })?;
    let mapping = match root {
        // An empty file, or one with only comments.
        Value::Null => return Ok(Variables::default()),
        Value::Mapping(mapping) => mapping,
        _ => {
            return Err(FileError::Invalid {
                file: file.to_owned(),
                problem: "expected a mapping of NAME: value lines, like `API_TOKEN: abc123`"
                    .to_owned(),
            });
        }
    };

    let mut variables = BTreeMap::new();
    for (key, value) in mapping {
        let Value::String(name) = key else {
            return Err(FileError::Invalid {
                file: file.to_owned(),
                problem: format!(
                    "variable names must be text, found {}; write names like API_TOKEN",
                    kind_of(&key)
                ),
            });
        };
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => {
                return Err(FileError::Invalid {
                    file: file.to_owned(),
                    problem: format!(
                        "`{name}` has no value; write `{name}: \"\"` for an empty value, \
                         or remove the line"
                    ),
                });
            }
            other => {
                return Err(FileError::Invalid {
                    file: file.to_owned(),
                    problem: format!(
                        "`{name}` must be a string, number or boolean, found {}",
                        kind_of(&other)
                    ),
                });
            }
        };
        variables.insert(name, text);
    }
    Ok(Variables(variables))
}

/// Names the kind of a YAML value without showing it, since it may be a secret.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Variables {
        parse(text, "variables.yml").unwrap()
    }

    #[test]
    fn scalars_become_strings() {
        let vars =
            parse_ok("ROOT_PATH: /tmp/x\nPORT: 8080\nRATIO: 0.5\nDEBUG: true\nQUOTED: \"42\"\n");
        assert_eq!(vars.get("ROOT_PATH"), Some("/tmp/x"));
        assert_eq!(vars.get("PORT"), Some("8080"));
        assert_eq!(vars.get("RATIO"), Some("0.5"));
        assert_eq!(vars.get("DEBUG"), Some("true"));
        assert_eq!(vars.get("QUOTED"), Some("42"));
        assert_eq!(vars.get("MISSING"), None);
    }

    #[test]
    fn empty_or_comment_only_file_has_no_variables() {
        assert_eq!(parse_ok(""), Variables::default());
        assert_eq!(parse_ok("# nothing yet\n"), Variables::default());
    }

    #[test]
    fn nested_values_are_rejected_without_showing_them() {
        let err = parse("TOKEN:\n  inner: hunter2\n", "variables.yml").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`TOKEN` must be a string, number or boolean, found a mapping"));
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn null_value_is_rejected_with_a_fix() {
        let err = parse("TOKEN:\n", "variables.yml").unwrap_err();
        assert!(err.to_string().contains("`TOKEN` has no value"));
    }

    #[test]
    fn non_mapping_and_bad_yaml_are_rejected() {
        assert!(matches!(
            parse("- a\n- b\n", "variables.yml"),
            Err(FileError::Invalid { .. })
        ));
        assert!(matches!(
            parse("A: [unclosed\n", "variables.yml"),
            Err(FileError::Syntax { .. })
        ));
        assert!(matches!(
            parse("1: x\n", "variables.yml"),
            Err(FileError::Invalid { .. })
        ));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let vars = parse_ok("API_TOKEN: hunter2\nHOST: example.com\n");
        let shown = format!("{vars:?}");
        assert_eq!(shown, r#"Variables { names: ["API_TOKEN", "HOST"] }"#);
    }

    #[test]
    fn load_reads_yml_or_yaml_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Variables::load(dir.path()).unwrap(), Variables::default());

        std::fs::write(dir.path().join("variables.yaml"), "A: 1\n").unwrap();
        assert_eq!(Variables::load(dir.path()).unwrap().get("A"), Some("1"));

        std::fs::write(dir.path().join("variables.yml"), "A: 2\n").unwrap();
        let err = Variables::load(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("both variables.yml and variables.yaml exist")
        );

        std::fs::remove_file(dir.path().join("variables.yaml")).unwrap();
        assert_eq!(Variables::load(dir.path()).unwrap().get("A"), Some("2"));
    }

    #[test]
    fn secret_names_follow_the_go_rule() {
        for name in [
            "GITHUB_TOKEN",
            "api_key",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "Credentials",
            "AUTH_HEADER",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["ROOT_PATH", "PORT", "MODE"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn the_file_wins_over_the_process_environment() {
        let path = std::env::var("PATH").unwrap();
        let vars: Variables = [("HOME".to_owned(), "/from/file".to_owned())]
            .into_iter()
            .collect();
        let vars = vars.with_process_env();
        assert_eq!(vars.get("HOME"), Some("/from/file"));
        assert_eq!(vars.get("PATH"), Some(path.as_str()));
    }

    #[test]
    fn from_iterator_builds_variables() {
        let vars: Variables = [("A".to_owned(), "1".to_owned())].into_iter().collect();
        assert_eq!(vars.get("A"), Some("1"));
    }
}
