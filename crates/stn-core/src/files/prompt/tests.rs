use serde_json::json;

use super::*;

const GO_FILE: &str = r#"---
metadata:
  name: "aws-cost-analyzer"
  description: "Analyzes AWS costs"
  tags: ["finops", "aws"]
model: gpt-4o-mini
max_steps: 8
tools:
  - "__read_text_file"
  - "__list_directory"
config:
  temperature: 0.2
---

{{role "system"}}
You analyze costs.

{{role "user"}}
{{userInput}}
"#;

fn parse(text: &str) -> PromptFile {
    parse_prompt(text, "agent").unwrap()
}

fn parse_err(text: &str) -> String {
    parse_prompt(text, "agent").unwrap_err().to_string()
}

fn full_spec() -> AgentSpec {
    AgentSpec {
        name: "agent".to_owned(),
        description: "true".to_owned(),
        prompt: "{{role \"system\"}}\nBe brief: yes.\n\n{{role \"user\"}}\n{{userInput}}"
            .to_owned(),
        model: Some("1.5".to_owned()),
        max_steps: 12,
        tools: vec![
            "__read_text_file".to_owned(),
            "null".to_owned(),
            "~".to_owned(),
        ],
        agents: vec!["helper".to_owned()],
        input_schema: Some(json!({"topic": "string, what to look at", "count?": "integer"})),
        output_schema: Some(json!({"type": "object", "properties": {"ok": {"type": "boolean"}}})),
        output_schema_preset: Some("finops".to_owned()),
        app: Some("finops".to_owned()),
        app_subtype: Some("investigations".to_owned()),
        memory_topic_key: Some("costs: monthly".to_owned()),
        memory_max_tokens: Some(0),
        cron_schedule: Some("0 */6 * * *".to_owned()),
        schedule_enabled: false,
        schedule_variables: Some(json!({"region": "us-east-1", "days": 7, "ratio": 0.5})),
    }
}

#[test]
fn parses_a_go_style_file() {
    let file = parse_prompt(GO_FILE, "aws-cost-analyzer").unwrap();
    let spec = &file.spec;
    assert_eq!(spec.name, "aws-cost-analyzer");
    assert_eq!(spec.description, "Analyzes AWS costs");
    assert_eq!(spec.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(spec.max_steps, 8);
    assert_eq!(spec.tools, ["__read_text_file", "__list_directory"]);
    assert!(spec.agents.is_empty());
    assert_eq!(
        spec.prompt,
        "{{role \"system\"}}\nYou analyze costs.\n\n{{role \"user\"}}\n{{userInput}}"
    );
    let expected_extra: Mapping =
        yaml_serde::from_str("metadata:\n  tags: [finops, aws]\nconfig:\n  temperature: 0.2\n")
            .unwrap();
    assert_eq!(file.extra(), &expected_extra);
}

#[test]
fn go_style_file_renders_in_go_layout_and_round_trips() {
    let file = parse_prompt(GO_FILE, "aws-cost-analyzer").unwrap();
    let text = render_prompt(&file);
    assert!(
        text.starts_with("---\nmetadata:\n  name: aws-cost-analyzer\n  description: Analyzes AWS costs\n  tags:\n"),
        "{text}"
    );
    let order: Vec<usize> = [
        "metadata:",
        "model:",
        "max_steps:",
        "tools:",
        "config:",
        "\n---\n\n{{role",
    ]
    .iter()
    .map(|key| {
        text.find(key)
            .unwrap_or_else(|| panic!("{key} missing from {text}"))
    })
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    assert!(text.ends_with("{{userInput}}\n"), "{text}");
    assert_eq!(parse_prompt(&text, "aws-cost-analyzer").unwrap(), file);
}

#[test]
fn every_spec_field_round_trips() {
    let mut spec = full_spec();
    let file = PromptFile::new(spec.clone());
    assert_eq!(parse(&render_prompt(&file)), file);

    // The other side of every optional field.
    spec = AgentSpec {
        name: "agent".to_owned(),
        max_steps: DEFAULT_MAX_STEPS,
        schedule_enabled: true,
        ..AgentSpec::default()
    };
    let file = PromptFile::new(spec);
    assert_eq!(parse(&render_prompt(&file)), file);
}

#[test]
fn unknown_keys_survive_parse_render_parse() {
    let text = "---\nmetadata:\n  name: agent\n  version: 2\n  tags: [a]\nmodel: m\ninput:\n  schema:\n    topic: string\n  default:\n    topic: x\nsandbox:\n  image: python:3.12\ncoding: {backend: opencode}\nnotify: true\nlattice: {x: 1}\nharness: agentic\nharness_config:\n  max_turns: 3\nstation:\n  timeout_seconds: 60\n---\nbody\n";
    let first = parse(text);
    let rendered = render_prompt(&first);
    let second = parse(&rendered);
    assert_eq!(second, first);
    for key in [
        "version: 2",
        "default:",
        "image: python:3.12",
        "backend: opencode",
        "notify: true",
        "harness: agentic",
        "max_turns: 3",
        "timeout_seconds: 60",
    ] {
        assert!(rendered.contains(key), "{key} lost:\n{rendered}");
    }
}

#[test]
fn with_spec_keeps_extra_keys() {
    let file = parse(GO_FILE);
    let mut spec = file.spec.clone();
    spec.max_steps = 20;
    spec.tools.clear();
    let updated = file.clone().with_spec(spec.clone());
    assert_eq!(updated.extra(), file.extra());
    let reparsed = parse(&render_prompt(&updated));
    assert_eq!(reparsed.spec, spec);
    assert_eq!(reparsed.extra(), file.extra());
}

#[test]
fn file_stem_wins_over_metadata_name() {
    let file = parse_prompt("---\nmetadata:\n  name: Old Name\n---\nhi\n", "new-name").unwrap();
    assert_eq!(file.spec.name, "new-name");
    assert!(file.extra().is_empty());
    assert!(render_prompt(&file).contains("name: new-name"));
}

#[test]
fn defaults_and_fallbacks() {
    let file = parse("---\nmodel: m\n---\n\n  hello  \n\n");
    assert_eq!(file.spec.max_steps, DEFAULT_MAX_STEPS);
    assert_eq!(file.spec.description, "");
    assert_eq!(file.spec.prompt, "hello");

    let station = parse("---\nstation:\n  max_steps: 9\n  priority: 1\n---\nx\n");
    assert_eq!(station.spec.max_steps, 9);
    let expected: Mapping = yaml_serde::from_str("station:\n  priority: 1\n").unwrap();
    assert_eq!(station.extra(), &expected);

    let metadata = parse("---\nmetadata:\n  max_steps: 4\n---\nx\n");
    assert_eq!(metadata.spec.max_steps, 4);

    // Top-level wins; the section's copy is left alone.
    let both = parse("---\nmax_steps: 3\nstation:\n  max_steps: 9\n---\nx\n");
    assert_eq!(both.spec.max_steps, 3);
    assert_eq!(both.extra().len(), 1);
}

#[test]
fn maps_the_other_keys() {
    let text = r#"---
output_schema: '{"type": "object"}'
output:
  preset: finops
  format: json
app: finops
app_type: events
cloudshipai:
  memory: topic-a
  memory_max_tokens: 2000
schedule:
  cron: "0 * * * *"
  variables:
    region: eu
---
x
"#;
    let file = parse(text);
    let spec = &file.spec;
    assert_eq!(spec.output_schema, Some(json!({"type": "object"})));
    assert_eq!(spec.output_schema_preset.as_deref(), Some("finops"));
    assert_eq!(spec.app.as_deref(), Some("finops"));
    assert_eq!(spec.app_subtype.as_deref(), Some("events"));
    assert_eq!(spec.memory_topic_key.as_deref(), Some("topic-a"));
    assert_eq!(spec.memory_max_tokens, Some(2000));
    assert_eq!(spec.cron_schedule.as_deref(), Some("0 * * * *"));
    assert!(spec.schedule_enabled, "a cron without `enabled` is enabled");
    assert_eq!(spec.schedule_variables, Some(json!({"region": "eu"})));
    let expected: Mapping = yaml_serde::from_str("output:\n  format: json\n").unwrap();
    assert_eq!(file.extra(), &expected);

    let subtype =
        parse("---\napp_subtype: inventory\nschedule:\n  cron: x\n  enabled: false\n---\nx\n");
    assert_eq!(subtype.spec.app_subtype.as_deref(), Some("inventory"));
    assert!(!subtype.spec.schedule_enabled);
}

#[test]
fn front_matter_errors_say_what_to_do() {
    let none = parse_err("just a prompt\n");
    assert!(
        none.starts_with("agent.prompt: expected front matter starting with ---"),
        "{none}"
    );
    let unclosed = parse_err("---\nmodel: m\nprompt text\n");
    assert!(unclosed.contains("no closing --- line"), "{unclosed}");
    let not_mapping = parse_err("---\n- a\n---\nx\n");
    assert!(
        not_mapping.contains("front matter must be YAML keys"),
        "{not_mapping}"
    );
    // Line 3 of the file holds the bad YAML.
    let syntax = parse_err("---\nmodel: m\ntools: [a\n---\nx\n");
    assert!(
        syntax.starts_with("agent.prompt: invalid YAML in the front matter"),
        "{syntax}"
    );
    assert!(
        syntax.contains("line 3") || syntax.contains("line 4"),
        "{syntax}"
    );
}

#[test]
fn type_errors_name_the_key() {
    assert_eq!(
        parse_err("---\nmax_steps: \"abc\"\n---\nx\n"),
        "agent.prompt: `max_steps` must be a positive integer, found \"abc\""
    );
    assert!(
        parse_err("---\nmax_steps: 0\n---\nx\n")
            .contains("`max_steps` must be a positive integer, found 0")
    );
    assert!(
        parse_err("---\nstation:\n  max_steps: -1\n---\nx\n")
            .contains("`station.max_steps` must be a positive integer")
    );
    assert!(
        parse_err("---\ntools: __a\n---\nx\n")
            .contains("`tools` must be a list of strings, found \"__a\"")
    );
    assert!(parse_err("---\ntools: [a, 5]\n---\nx\n").contains("`tools[1]` must be a string"));
    assert!(
        parse_err("---\nmodel: [a]\n---\nx\n")
            .contains("`model` must be a string (put quotes around it), found a list")
    );
    assert!(
        parse_err("---\nmetadata: x\n---\nx\n")
            .contains("`metadata` must be a mapping of keys, found \"x\"")
    );
    assert!(
        parse_err("---\nschedule:\n  enabled: 1\n---\nx\n")
            .contains("`schedule.enabled` must be true or false, found 1")
    );
    assert!(
        parse_err("---\noutput_schema: '{bad'\n---\nx\n")
            .contains("`output_schema` is a string but not valid JSON")
    );
    assert!(
        parse_err("---\napp_type: a\napp_subtype: b\n---\nx\n")
            .contains("both `app_type` and `app_subtype` are set")
    );
    let long = parse_err(&format!(
        "---\nmax_steps: \"{}\"\n---\nx\n",
        "y".repeat(100)
    ));
    assert!(long.len() < 120, "{long}");
}

#[test]
fn windows_line_endings_and_bom_are_accepted() {
    let file = parse("\u{feff}---\r\nmodel: m\r\n---\r\nhello\r\n");
    assert_eq!(file.spec.model.as_deref(), Some("m"));
    assert_eq!(file.spec.prompt, "hello");
}

#[test]
fn unusual_yaml_in_extra_keys_renders() {
    let text = "---\n? [a, b]\n: complex key\n? {k: 1}\n: mapping key\ntagged: !Custom {x: 1}\n1: int key\nanchors: &a {y: 2}\nalias: *a\nx:\n  \"!a\":\n    \"!b\": 1\ny: !A {k: !B 1}\nz: !A [!B 1, \"!c\"]\nv: {\"!e\": !F {\"!g\": 2}}\n---\nx\n";
    let first = parse(text);
    assert_eq!(parse(&render_prompt(&first)), first);
}
