//! What an agent definition must satisfy before it is stored, wherever it
//! comes from (a `.prompt` file at sync, the API, the CLI): errors name the
//! field and say what is expected, so a bad value is refused where it is
//! written rather than failing at run time or never firing.

use std::str::FromStr as _;

use croner::Cron;

use crate::error::{CoreError, Result};
use crate::model::AgentSpec;
use crate::store::validate_name;

/// The most steps (model turns) one run may take. A bound on a typo, not a
/// budget: a run's cost is limited by its model's tokens.
pub const MAX_MAX_STEPS: u32 = 1000;

/// Parses a 5-field (minute first) or 6-field (seconds first) cron expression.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    Cron::from_str(expr).map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

/// Checks the fields of `spec` that need no database.
pub fn check_spec(spec: &AgentSpec) -> Result<()> {
    validate_name("agent", &spec.name)?;
    let agent = &spec.name;
    if spec.max_steps == 0 || spec.max_steps > MAX_MAX_STEPS {
        return Err(CoreError::Invalid(format!(
            "agent `{agent}`: `max_steps` is {}; use a whole number from 1 to {MAX_MAX_STEPS}",
            spec.max_steps
        )));
    }
    if spec.prompt.trim().is_empty() {
        return Err(CoreError::Invalid(format!(
            "agent `{agent}` has an empty prompt"
        )));
    }
    if let Some(cron) = &spec.cron_schedule {
        parse_cron(cron).map_err(|e| {
            CoreError::Invalid(format!(
                "agent `{agent}`: `schedule.cron` (`cron_schedule` in the API): {e}; \
                 expected 5 fields (minute hour day-of-month month day-of-week, e.g. `0 9 * * 1-5`) \
                 or 6 with seconds first"
            ))
        })?;
    }
    if let Err(e) = handlebars::Template::compile(&spec.prompt) {
        let place = match e.pos() {
            Some((line, column)) => format!(" at line {line}, column {column} of the body"),
            None => String::new(),
        };
        return Err(CoreError::Invalid(format!(
            "agent `{agent}`: the prompt is not valid Handlebars{place}: {}; \
             close every `{{{{` with `}}}}` and every `{{{{#block}}}}` with `{{{{/block}}}}`",
            e.reason()
        )));
    }
    Ok(())
}

/// Checks the declared tools against what the environment's MCP servers
/// offer, when that is known: `offered` holds each server's recorded tools.
/// Nothing is refused while that list may be incomplete: an environment
/// without servers yet (its MCP config often comes after its agents), or a
/// server whose tools were never recorded (no discovery yet).
pub fn check_tools(spec: &AgentSpec, env: &str, offered: &[Vec<String>]) -> Result<()> {
    if spec.tools.is_empty() || offered.is_empty() || offered.iter().any(Vec::is_empty) {
        return Ok(());
    }
    let known = |bare: &str| offered.iter().flatten().any(|t| t == bare);
    match spec
        .tools
        .iter()
        .find(|t| !known(t) && !known(t.strip_prefix("__").unwrap_or(t)))
    {
        Some(unknown) => {
            let mut all: Vec<&str> = offered.iter().flatten().map(String::as_str).collect();
            all.sort_unstable();
            Err(CoreError::Invalid(format!(
                "agent `{}`: `tools` entry `{unknown}` is not offered in environment `{env}`; \
                 its MCP servers offer: {} (`stn mcp tools -e {env}` lists them)",
                spec.name,
                all.join(", ")
            )))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AgentSpec {
        AgentSpec {
            name: "a".to_owned(),
            prompt: "{{role \"system\"}} hi {{userInput}}".to_owned(),
            max_steps: 5,
            ..AgentSpec::default()
        }
    }

    fn refused(spec: &AgentSpec) -> String {
        check_spec(spec).unwrap_err().to_string()
    }

    #[test]
    fn a_plain_agent_passes() {
        check_spec(&spec()).unwrap();
        let mut s = spec();
        s.cron_schedule = Some("*/5 * * * *".to_owned());
        check_spec(&s).unwrap();
    }

    #[test]
    fn garbage_cron_is_refused_naming_the_field() {
        let mut s = spec();
        s.cron_schedule = Some("garbage".to_owned());
        let e = refused(&s);
        assert!(e.contains("schedule.cron") && e.contains("5 fields"), "{e}");
    }

    #[test]
    fn huge_max_steps_is_refused() {
        let mut s = spec();
        s.max_steps = 4_000_000_000;
        assert!(refused(&s).contains("`max_steps` is 4000000000"));
    }

    #[test]
    fn broken_handlebars_is_refused_with_its_place() {
        let mut s = spec();
        s.prompt = "line one\n{{#if x}} never closed".to_owned();
        let e = refused(&s);
        assert!(e.contains("not valid Handlebars"), "{e}");
    }

    #[test]
    fn unknown_tools_are_refused_when_the_tools_are_known() {
        let mut s = spec();
        s.tools = vec!["__nope".to_owned()];
        let offered = vec![vec!["read_file".to_owned()]];
        let e = check_tools(&s, "default", &offered)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`tools` entry `__nope`") && e.contains("read_file"),
            "{e}"
        );
        s.tools = vec!["__read_file".to_owned(), "read_file".to_owned()];
        check_tools(&s, "default", &offered).unwrap();
        // Not discovered yet: nothing to compare with.
        s.tools = vec!["__nope".to_owned()];
        check_tools(&s, "default", &[vec![]]).unwrap();
        check_tools(&s, "default", &[]).unwrap();
    }
}
