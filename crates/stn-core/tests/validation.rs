//! Issue 15, defects 4, 5, 6, 13 and 16 (lookalike names): what is refused
//! where it is written, by sync and by the store calls the API and the CLI
//! make, and what a sync still loads beside a bad file.

use stn_core::model::{AgentSpec, McpServerSpec};
use stn_core::store::{McpConfigRecord, McpToolRecord};
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};

async fn station(dir: &tempfile::TempDir) -> Station {
    let url = DatabaseUrl::parse(dir.path().join("s.db").to_str().unwrap()).unwrap();
    let station = Station::new(Database::open(&url).await.unwrap(), Layout::new(dir.path()));
    station.migrate().await.unwrap();
    station
}

fn spec(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        prompt: "{{role \"system\"}}Help.\n{{role \"user\"}}{{userInput}}".into(),
        max_steps: 5,
        ..AgentSpec::default()
    }
}

fn write_prompt(station: &Station, name: &str, front_matter: &str) {
    let dir = station.layout().agents_dir("default");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.prompt")),
        format!("---\n{front_matter}---\n\n{{{{role \"system\"}}}}Help.\n"),
    )
    .unwrap();
}

#[tokio::test]
async fn lookalike_names_are_refused_beside_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    store.create_user("admin", true).await.unwrap();
    let e = store.create_user("\u{430}dmin", false).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("looks like the existing user `admin`"),
        "{e}"
    );
    assert!(store.create_user("admins", false).await.is_ok());

    store.create_environment("prod", None).await.unwrap();
    let e = store
        .create_environment("pr\u{43e}d", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("environment `prod`"), "{e}");

    store
        .create_agent("default", &spec("helper"))
        .await
        .unwrap();
    let e = store
        .create_agent("default", &spec("h\u{435}lper"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("agent `helper`"), "{e}");
    // Another environment is another namespace.
    store
        .create_agent("prod", &spec("h\u{435}lper"))
        .await
        .unwrap();
}

#[tokio::test]
async fn agents_that_would_be_the_same_tool_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    store
        .create_agent("default", &spec("my agent"))
        .await
        .unwrap();
    let e = store
        .create_agent("default", &spec("my-agent"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("`my-agent`") && e.contains("`my agent`"), "{e}");
    // Non-ASCII names get distinct tool names, so both are accepted.
    store.create_agent("default", &spec("агент")).await.unwrap();
    store
        .create_agent("default", &spec("エージェント"))
        .await
        .unwrap();
}

#[tokio::test]
async fn sync_reports_a_bad_file_name_and_loads_the_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    for name in ["alpha", "bad name!", "omega"] {
        write_prompt(&station, name, "model: gpt-4o-mini\n");
    }
    let report = station.sync_environment("default", false).await.unwrap();
    let loaded: Vec<&String> = report.agents.keys().collect();
    assert_eq!(loaded, ["alpha", "omega"], "{report:?}");
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].contains("bad name!.prompt"),
        "{:?}",
        report.errors
    );
}

#[tokio::test]
async fn sync_refuses_a_garbage_cron_and_broken_handlebars_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    write_prompt(&station, "cronned", "schedule:\n  cron: garbage\n");
    write_prompt(&station, "fine", "schedule:\n  cron: \"0 9 * * 1-5\"\n");
    let agents = station.layout().agents_dir("default");
    std::fs::write(
        agents.join("broken.prompt"),
        "---\nmodel: x\n---\n{{#if ready}}never closed\n",
    )
    .unwrap();
    let report = station.sync_environment("default", false).await.unwrap();
    assert_eq!(
        report.agents.keys().collect::<Vec<_>>(),
        ["fine"],
        "{report:?}"
    );
    let cron = report
        .errors
        .iter()
        .find(|e| e.contains("cronned.prompt"))
        .unwrap();
    assert!(
        cron.contains("`schedule.cron`") && cron.contains("garbage"),
        "{cron}"
    );
    let broken = report
        .errors
        .iter()
        .find(|e| e.contains("broken.prompt"))
        .unwrap();
    assert!(broken.contains("not valid Handlebars"), "{broken}");
}

#[tokio::test]
async fn sync_warns_when_metadata_name_is_not_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    write_prompt(&station, "reviewer", "metadata:\n  name: code-reviewer\n");
    let report = station.sync_environment("default", false).await.unwrap();
    assert!(report.agents.contains_key("reviewer"), "{report:?}");
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(
        report.warnings[0].contains("`metadata.name` is `code-reviewer`"),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn writes_of_unknown_tools_huge_max_steps_and_bad_cron_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let server = McpServerSpec {
        name: "fs".into(),
        command: Some("true".into()),
        args: Vec::new(),
        env: Default::default(),
        url: None,
    };
    let record = McpConfigRecord {
        config_name: "fs".into(),
        template_hash: "h".into(),
        variables_hash: None,
    };
    store
        .apply_mcp_config("default", &record, "fs.json", &[server])
        .await
        .unwrap();
    let tool = McpToolRecord {
        name: "read_file".into(),
        description: "Reads a file".into(),
        input_schema: serde_json::json!({"type": "object"}),
    };
    store
        .record_mcp_tools("default", "fs", &[tool])
        .await
        .unwrap();

    let mut agent = spec("reader");
    agent.tools = vec!["__read_file".into()];
    store.create_agent("default", &agent).await.unwrap();

    // What `PUT /api/v1/agents/{id}` does with each bad field.
    let mut bad = agent.clone();
    bad.tools = vec!["__nope".into()];
    let e = store
        .update_agent("default", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`tools` entry `__nope`") && e.contains("read_file"),
        "{e}"
    );
    let mut bad = agent.clone();
    bad.max_steps = 4_000_000_000;
    let e = store
        .update_agent("default", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("`max_steps`"), "{e}");
    let mut bad = agent.clone();
    bad.cron_schedule = Some("garbage".into());
    let e = store
        .update_agent("default", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("`schedule.cron`"), "{e}");
    assert_eq!(store.agent("default", "reader").await.unwrap().spec, agent);
}
