use super::*;

const EXAMPLE: &str = r#"{"name": "filesystem", "description": "Files and web",
    "mcpServers": {
      "web": {"url": "https://x/{{.HOST}}"},
      "fs": {"command": "npx",
             "args": ["-y", "@modelcontextprotocol/server-filesystem", "{{.ROOT_PATH}}"],
             "env": {"TOKEN": "{{ .API_TOKEN }}"}}}}"#;

fn vars(pairs: &[(&str, &str)]) -> Variables {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_err(text: &str) -> String {
    parse_mcp_config(text, "template").unwrap_err().to_string()
}

#[test]
fn parses_go_format_sorted_with_stem_as_name() {
    let config = parse_mcp_config(EXAMPLE, "template").unwrap();
    assert_eq!(config.name, "template");
    assert_eq!(config.description.as_deref(), Some("Files and web"));
    let names: Vec<_> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fs", "web"]);
    let fs = &config.servers[0];
    assert_eq!(fs.command.as_deref(), Some("npx"));
    assert_eq!(fs.args[2], "{{.ROOT_PATH}}");
    assert_eq!(fs.env["TOKEN"], "{{ .API_TOKEN }}");
    assert_eq!(
        config.servers[1].url.as_deref(),
        Some("https://x/{{.HOST}}")
    );
}

#[test]
fn placeholders_lists_every_variable_once() {
    let config = parse_mcp_config(EXAMPLE, "template").unwrap();
    let names: Vec<_> = config.placeholders().into_iter().collect();
    assert_eq!(names, ["API_TOKEN", "HOST", "ROOT_PATH"]);
}

#[test]
fn resolve_fills_placeholders() {
    let config = parse_mcp_config(EXAMPLE, "template").unwrap();
    let vars = vars(&[
        ("ROOT_PATH", "/srv"),
        ("API_TOKEN", "t0k"),
        ("HOST", "h.example"),
    ]);
    let servers = config.resolve(&vars).unwrap();
    assert_eq!(servers[0].args[2], "/srv");
    assert_eq!(servers[0].env["TOKEN"], "t0k");
    assert_eq!(servers[1].url.as_deref(), Some("https://x/h.example"));
}

#[test]
fn resolve_reports_all_missing_names_without_values() {
    let config = parse_mcp_config(EXAMPLE, "template").unwrap();
    let err = config
        .resolve(&vars(&[("API_TOKEN", "hunter2")]))
        .unwrap_err();
    let FileError::MissingVariables { file, names } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(file, "template.json");
    assert_eq!(names, &["HOST", "ROOT_PATH"]);
    let message = err.to_string();
    assert!(message.contains("template.json needs the variable(s) HOST, ROOT_PATH"));
    assert!(message.contains("environments/<env>/variables.yml"));
    assert!(!message.contains("hunter2"));
}

#[test]
fn resolve_does_not_read_process_environment() {
    // PATH is set in every test process; it must not fill {{.PATH}}.
    let config =
        parse_mcp_config(r#"{"mcpServers": {"a": {"command": "{{.PATH}}"}}}"#, "a").unwrap();
    assert!(matches!(
        config.resolve(&Variables::default()),
        Err(FileError::MissingVariables { .. })
    ));
}

#[test]
fn server_needs_exactly_one_of_command_and_url() {
    let both = parse_err(r#"{"mcpServers": {"x": {"command": "a", "url": "http://b"}}}"#);
    assert!(
        both.contains("MCP server `x` has both `command` and `url`"),
        "{both}"
    );
    let neither = parse_err(r#"{"mcpServers": {"y": {"args": ["a"]}}}"#);
    assert!(
        neither.contains("MCP server `y` has neither `command` nor `url`"),
        "{neither}"
    );
}

#[test]
fn resolve_checks_servers_built_in_code() {
    let config = McpConfigFile {
        name: "built".to_owned(),
        description: None,
        servers: vec![McpServerSpec {
            name: "z".to_owned(),
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            url: None,
        }],
    };
    let err = config
        .resolve(&Variables::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("built.json: MCP server `z` has neither"),
        "{err}"
    );
}

#[test]
fn rejects_wrong_shapes_with_the_key_named() {
    assert!(parse_err("[1]").contains("expected a JSON object"));
    assert!(parse_err("{}").contains("no `mcpServers` object"));
    assert!(parse_err("{not json").contains("invalid JSON"));
    let arg = parse_err(r#"{"mcpServers": {"x": {"command": "a", "args": ["b", 3]}}}"#);
    assert!(
        arg.contains("MCP server `x` `args[1]` must be a string"),
        "{arg}"
    );
    let env = parse_err(r#"{"mcpServers": {"x": {"command": "a", "env": {"PORT": 80}}}}"#);
    assert!(env.contains("`env.PORT` must be a string"), "{env}");
    let extra = parse_err(r#"{"mcpServers": {"x": {"url": "http://a", "headers": {}}}}"#);
    assert!(extra.contains("has key `headers`"), "{extra}");
}

#[test]
fn accepts_type_key_and_ignores_unknown_top_level_keys() {
    let text = r#"{"version": 2, "mcpServers": {"x": {"type": "stdio", "command": "a"}}}"#;
    let config = parse_mcp_config(text, "t").unwrap();
    assert_eq!(config.servers[0].command.as_deref(), Some("a"));
    assert_eq!(config.description, None);
}

#[test]
fn rejects_unsupported_templates() {
    let unclosed = parse_err(r#"{"mcpServers": {"x": {"command": "{{.A"}}}"#);
    assert!(unclosed.contains("without a closing"), "{unclosed}");
    let function = parse_err(r#"{"mcpServers": {"x": {"command": "{{ env \"A\" }}"}}}"#);
    assert!(function.contains("which Station cannot fill"), "{function}");
    let bad_name = parse_err(r#"{"mcpServers": {"x": {"command": "{{.1A}}"}}}"#);
    assert!(bad_name.contains("`{{.1A}}`"), "{bad_name}");
}

#[test]
fn render_then_parse_round_trips_and_is_stable() {
    let config = parse_mcp_config(EXAMPLE, "template").unwrap();
    let text = render_mcp_config(&config);
    assert_eq!(parse_mcp_config(&text, "template").unwrap(), config);
    assert_eq!(
        render_mcp_config(&parse_mcp_config(&text, "template").unwrap()),
        text
    );
    assert!(
        text.starts_with("{\n  \"name\": \"template\",\n  \"description\""),
        "{text}"
    );
    assert!(text.find("\"fs\"").unwrap() < text.find("\"web\"").unwrap());
}

#[test]
fn content_hash_is_sha256_hex() {
    assert_eq!(
        content_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
