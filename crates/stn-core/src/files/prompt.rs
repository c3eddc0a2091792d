//! Agent `.prompt` files (dotprompt): YAML front matter between two `---` lines, then the
//! prompt body (Handlebars: `{{role "system"}}`, `{{userInput}}`, …).
//!
//! ```text
//! ---
//! metadata:
//!   name: "aws-cost-analyzer"
//!   description: "Analyzes AWS costs"
//! model: gpt-4o-mini
//! max_steps: 8
//! tools:
//!   - "__read_text_file"
//! ---
//!
//! {{role "system"}}
//! You analyze costs.
//! ```
//!
//! The keys Station stores become an [`AgentSpec`]; every other key (`config`, `sandbox`,
//! `metadata.tags`, …) is kept as written, so rewriting a file after an update never loses
//! what the user put there.

use serde_json::Value as Json;
use yaml_serde::{Mapping, Value};

use super::FileError;
use crate::model::{AgentSpec, DEFAULT_MAX_STEPS};

/// A parsed `.prompt` file: the agent definition plus the front-matter keys Station does
/// not model.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    /// The agent definition.
    pub spec: AgentSpec,
    /// Front-matter keys not mapped to `spec`, in file order. Sections Station partly owns
    /// (`metadata`, `input`, `output`, `cloudshipai`, `schedule`) keep only their other keys
    /// here, and parsing has checked that they are mappings.
    extra: Mapping,
    /// `metadata.name` as written, when it is not the file stem (the stem wins).
    other_name: Option<String>,
}

impl PromptFile {
    /// A file for a new agent, with no extra keys.
    pub fn new(spec: AgentSpec) -> Self {
        PromptFile {
            spec,
            extra: Mapping::new(),
            other_name: None,
        }
    }

    /// The same file with an updated agent definition; extra keys are kept.
    pub fn with_spec(self, spec: AgentSpec) -> Self {
        PromptFile {
            spec,
            extra: self.extra,
            other_name: self.other_name,
        }
    }

    /// The front-matter keys Station does not store, e.g. `config` (temperature …) or
    /// `sandbox`, which the executor reads at run time.
    pub fn extra(&self) -> &Mapping {
        &self.extra
    }

    /// A `metadata.name` that differs from the file name: the file name is
    /// the agent's name, so this one is ignored, and sync says so.
    pub fn ignored_name(&self) -> Option<&str> {
        self.other_name.as_deref()
    }
}

/// Parses the text of `<file_stem>.prompt`.
///
/// The file stem is the agent's name: a different `metadata.name` is ignored (and replaced
/// by the stem when the file is rewritten), so renaming the file renames the agent, as in
/// the Go version. The body is stored without surrounding whitespace.
///
/// Without a top-level `max_steps`, `station.max_steps` and then `metadata.max_steps` (read
/// by the Go version's sync) are used, else [`DEFAULT_MAX_STEPS`]. A schedule with a
/// `cron` is enabled unless it says `enabled: false`.
pub fn parse_prompt(text: &str, file_stem: &str) -> Result<PromptFile, FileError> {
    let file = format!("{file_stem}.prompt");
    let (front_matter, body) = split_front_matter(text).map_err(|problem| FileError::Invalid {
        file: file.clone(),
        problem: problem.to_owned(),
    })?;
    let mut keys = FrontMatter::parse(front_matter, file)?;

    // The file stem is the name; a different one is kept only to warn about it.
    let other_name = keys
        .take_string("metadata.name")?
        .filter(|name| name != file_stem);
    let cron_schedule = keys.take_string("schedule.cron")?;
    let schedule_enabled = keys
        .take_bool("schedule.enabled")?
        .unwrap_or(cron_schedule.is_some());
    let spec = AgentSpec {
        name: file_stem.to_owned(),
        description: keys
            .take_string("metadata.description")?
            .unwrap_or_default(),
        prompt: body.trim().to_owned(),
        model: keys.take_string("model")?,
        max_steps: keys.take_max_steps()?,
        tools: keys.take_string_list("tools")?,
        agents: keys.take_string_list("agents")?,
        input_schema: keys.take_json("input.schema")?,
        output_schema: keys.take_output_schema()?,
        output_schema_preset: keys.take_either_string("output_schema_preset", "output.preset")?,
        app: keys.take_string("app")?,
        app_subtype: keys.take_either_string("app_type", "app_subtype")?,
        memory_topic_key: keys.take_string("cloudshipai.memory")?,
        memory_max_tokens: keys.take_u32("cloudshipai.memory_max_tokens")?,
        cron_schedule,
        schedule_enabled,
        schedule_variables: keys.take_json("schedule.variables")?,
    };
    Ok(PromptFile {
        spec,
        extra: keys.map,
        other_name,
    })
}

/// Writes a `.prompt` file in the Go version's layout: `metadata`, `model`, `max_steps`,
/// `tools`, `agents`, the other stored keys, then the extra keys in their original order,
/// and the body after a blank line.
pub fn render_prompt(file: &PromptFile) -> String {
    let spec = &file.spec;
    let mut extra = file.extra.clone();
    let mut out = Mapping::new();

    let mut metadata = Mapping::new();
    metadata.insert("name".into(), spec.name.as_str().into());
    metadata.insert("description".into(), spec.description.as_str().into());
    insert_section(&mut out, &mut extra, "metadata", metadata);

    insert_opt(&mut out, "model", spec.model.as_deref());
    out.insert("max_steps".into(), spec.max_steps.into());
    if !spec.tools.is_empty() {
        out.insert("tools".into(), string_list(&spec.tools));
    }
    if !spec.agents.is_empty() {
        out.insert("agents".into(), string_list(&spec.agents));
    }

    let mut input = Mapping::new();
    if let Some(schema) = &spec.input_schema {
        input.insert("schema".into(), json_to_yaml(schema));
    }
    insert_section(&mut out, &mut extra, "input", input);
    let mut output = Mapping::new();
    if let Some(schema) = &spec.output_schema {
        output.insert("schema".into(), json_to_yaml(schema));
    }
    insert_section(&mut out, &mut extra, "output", output);

    insert_opt(
        &mut out,
        "output_schema_preset",
        spec.output_schema_preset.as_deref(),
    );
    insert_opt(&mut out, "app", spec.app.as_deref());
    // `app_type` is the key the Go version reads.
    insert_opt(&mut out, "app_type", spec.app_subtype.as_deref());

    let mut cloudshipai = Mapping::new();
    insert_opt(&mut cloudshipai, "memory", spec.memory_topic_key.as_deref());
    if let Some(tokens) = spec.memory_max_tokens {
        cloudshipai.insert("memory_max_tokens".into(), tokens.into());
    }
    insert_section(&mut out, &mut extra, "cloudshipai", cloudshipai);

    let mut schedule = Mapping::new();
    if spec.cron_schedule.is_some() || spec.schedule_enabled || spec.schedule_variables.is_some() {
        insert_opt(&mut schedule, "cron", spec.cron_schedule.as_deref());
        schedule.insert("enabled".into(), spec.schedule_enabled.into());
        if let Some(variables) = &spec.schedule_variables {
            schedule.insert("variables".into(), json_to_yaml(variables));
        }
    }
    insert_section(&mut out, &mut extra, "schedule", schedule);

    for (key, value) in extra {
        out.entry(key).or_insert(value);
    }
    // A mapping built from parsed YAML and JSON values always serializes back to YAML.
    let yaml =
        yaml_serde::to_string(&Value::Mapping(out)).expect("front matter serializes to YAML");
    format!("---\n{yaml}---\n\n{}\n", spec.prompt.trim())
}

const NO_FRONT_MATTER: &str = "expected front matter starting with --- on the first line, \
    then YAML keys such as `model: gpt-4o-mini`, then a closing --- line";
const UNCLOSED_FRONT_MATTER: &str =
    "the front matter has no closing --- line; add one between the YAML keys and the prompt";

/// Splits a file into front matter and body, or says what is missing.
fn split_front_matter(text: &str) -> Result<(&str, &str), &'static str> {
    // Editors on Windows may start the file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    if first.trim_end() != "---" {
        return Err(NO_FRONT_MATTER);
    }
    let start = first.len();
    let mut end = start;
    for line in lines {
        if line.trim_end() == "---" {
            return Ok((&text[start..end], &text[end + line.len()..]));
        }
        end += line.len();
    }
    Err(UNCLOSED_FRONT_MATTER)
}

/// The front-matter keys not yet taken, and the file they came from for errors.
struct FrontMatter {
    file: String,
    map: Mapping,
}

impl FrontMatter {
    fn parse(yaml: &str, file: String) -> Result<FrontMatter, FileError> {
        // The YAML starts on line 2 of the file; a leading newline makes the parser's line
        // numbers match the file's.
        let root: Value =
            yaml_serde::from_str(&format!("\n{yaml}")).map_err(|e| FileError::Syntax {
                file: file.clone(),
                problem: format!("invalid YAML in the front matter: {e}"),
            })?;
        let map = match root {
            Value::Null => Mapping::new(),
            Value::Mapping(map) => map,
            _ => {
                return Err(FileError::Invalid {
                    file,
                    problem: "the front matter must be YAML keys such as `model: gpt-4o-mini`"
                        .to_owned(),
                });
            }
        };
        Ok(FrontMatter { file, map })
    }

    /// Removes a key given as `key` or `section.key`; a null value counts as absent. A
    /// section left empty is removed too.
    fn take(&mut self, path: &str) -> Result<Option<Value>, FileError> {
        let Some((section, key)) = path.split_once('.') else {
            return Ok(self.map.shift_remove(path).filter(|value| !value.is_null()));
        };
        let value = match self.map.get_mut(section) {
            None => return Ok(None),
            Some(Value::Mapping(inner)) => {
                let value = inner.shift_remove(key);
                if inner.is_empty() {
                    self.map.shift_remove(section);
                }
                value
            }
            // `section:` with nothing after it says nothing; drop it.
            Some(Value::Null) => {
                self.map.shift_remove(section);
                None
            }
            Some(other) => {
                let other = other.clone();
                return Err(self.type_error(section, "a mapping of keys", &other));
            }
        };
        Ok(value.filter(|value| !value.is_null()))
    }

    /// Removes the first of two spellings of one setting that is present, with its key.
    /// Both present is an error: which one wins would be a guess.
    fn take_either(
        &mut self,
        first: &'static str,
        second: &'static str,
    ) -> Result<Option<(&'static str, Value)>, FileError> {
        match (self.take(first)?, self.take(second)?) {
            (Some(_), Some(_)) => Err(self.invalid(format!(
                "both `{first}` and `{second}` are set; keep only `{first}`"
            ))),
            (Some(value), None) => Ok(Some((first, value))),
            (None, Some(value)) => Ok(Some((second, value))),
            (None, None) => Ok(None),
        }
    }

    fn take_string(&mut self, path: &str) -> Result<Option<String>, FileError> {
        match self.take(path)? {
            Some(value) => self.string(path, value).map(Some),
            None => Ok(None),
        }
    }

    fn take_either_string(
        &mut self,
        first: &'static str,
        second: &'static str,
    ) -> Result<Option<String>, FileError> {
        match self.take_either(first, second)? {
            Some((key, value)) => self.string(key, value).map(Some),
            None => Ok(None),
        }
    }

    fn take_bool(&mut self, path: &str) -> Result<Option<bool>, FileError> {
        match self.take(path)? {
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.type_error(path, "true or false", &other)),
            None => Ok(None),
        }
    }

    fn take_u32(&mut self, path: &str) -> Result<Option<u32>, FileError> {
        match self.take(path)? {
            Some(value) => self.u32(path, value, 0).map(Some),
            None => Ok(None),
        }
    }

    fn take_max_steps(&mut self) -> Result<u32, FileError> {
        for path in ["max_steps", "station.max_steps", "metadata.max_steps"] {
            if let Some(value) = self.take(path)? {
                return self.u32(path, value, 1);
            }
        }
        Ok(DEFAULT_MAX_STEPS)
    }

    fn take_string_list(&mut self, path: &str) -> Result<Vec<String>, FileError> {
        let items = match self.take(path)? {
            None => return Ok(Vec::new()),
            Some(Value::Sequence(items)) => items,
            Some(other) => return Err(self.type_error(path, "a list of strings", &other)),
        };
        let mut strings = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            strings.push(self.string(&format!("{path}[{index}]"), item)?);
        }
        Ok(strings)
    }

    /// Removes a YAML value (a schema, schedule variables) and converts it to JSON.
    fn take_json(&mut self, path: &str) -> Result<Option<Json>, FileError> {
        match self.take(path)? {
            Some(value) => self.json(path, value).map(Some),
            None => Ok(None),
        }
    }

    fn take_output_schema(&mut self) -> Result<Option<Json>, FileError> {
        match self.take_either("output.schema", "output_schema")? {
            // The Go version writes `output_schema` as a string of JSON.
            Some((key, Value::String(text))) => {
                serde_json::from_str(&text).map(Some).map_err(|e| {
                    self.invalid(format!(
                        "`{key}` is a string but not valid JSON ({e}); write the schema as YAML \
                     under `output.schema` instead"
                    ))
                })
            }
            Some((key, value)) => self.json(key, value).map(Some),
            None => Ok(None),
        }
    }

    fn string(&self, key: &str, value: Value) -> Result<String, FileError> {
        match value {
            Value::String(text) => Ok(text),
            other => Err(self.type_error(key, "a string (put quotes around it)", &other)),
        }
    }

    /// An integer from `min` to `u32::MAX`.
    fn u32(&self, key: &str, value: Value, min: u32) -> Result<u32, FileError> {
        let number = value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= min);
        let expected = if min == 0 {
            "a whole number, 0 or more"
        } else {
            "a positive integer"
        };
        number.ok_or_else(|| self.type_error(key, expected, &value))
    }

    fn json(&self, key: &str, value: Value) -> Result<Json, FileError> {
        serde_json::to_value(&value).map_err(|e| {
            self.invalid(format!(
                "`{key}` cannot be stored as JSON ({e}); use string keys"
            ))
        })
    }

    fn type_error(&self, key: &str, expected: &str, found: &Value) -> FileError {
        self.invalid(format!(
            "`{key}` must be {expected}, found {}",
            describe(found)
        ))
    }

    fn invalid(&self, problem: String) -> FileError {
        FileError::Invalid {
            file: self.file.clone(),
            problem,
        }
    }
}

/// A short description of a value for an error message.
fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    match value {
        Value::Null => "nothing".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > MAX_CHARS => {
            format!("{:?}…", s.chars().take(MAX_CHARS).collect::<String>())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(_) => "a tagged value".to_owned(),
    }
}

/// Adds a section built from the spec, followed by the section's extra keys, at this point
/// of the output. Empty sections are left out.
fn insert_section(out: &mut Mapping, extra: &mut Mapping, name: &str, mut section: Mapping) {
    // Parsing keeps these sections as mappings in `extra`, so nothing else can be here.
    if let Some(Value::Mapping(rest)) = extra.shift_remove(name) {
        for (key, value) in rest {
            section.entry(key).or_insert(value);
        }
    }
    if !section.is_empty() {
        out.insert(name.into(), Value::Mapping(section));
    }
}

fn insert_opt(map: &mut Mapping, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        map.insert(key.into(), value.into());
    }
}

fn string_list(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|item| item.as_str().into()).collect())
}

/// Converts stored JSON back to YAML for the file.
fn json_to_yaml(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.into(),
            (None, Some(i), _) => i.into(),
            (None, None, Some(f)) => f.into(),
            // Every JSON number is a u64, an i64 or an f64.
            (None, None, None) => Value::Null,
        },
        Json::String(s) => s.as_str().into(),
        Json::Array(items) => Value::Sequence(items.iter().map(json_to_yaml).collect()),
        Json::Object(fields) => Value::Mapping(
            fields
                .iter()
                .map(|(key, value)| (key.as_str().into(), json_to_yaml(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
