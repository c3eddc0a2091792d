//! A Station in a temp dir with agents from `.prompt` files, the scripted
//! model server and the real filesystem MCP server.

#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;
use std::time::Duration;

use stn_agent::{Engine, EngineOptions, Models, Origin, RunManager, RunRequest, Started};
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};
use stn_llm::{AiSettings, ApiKey};
use stn_mcp::Pool;
use stn_testkit::scripted_model::ScriptedModel;

pub struct World {
    pub dir: tempfile::TempDir,
    pub station: Station,
    pub model: ScriptedModel,
    pub manager: RunManager,
}

/// The filesystem MCP server's binary, or `None` (test skipped) outside CI.
pub fn filesystem_server() -> Option<String> {
    stn_testkit::service("STN_TEST_MCP_FILESYSTEM")
}

impl World {
    pub async fn new() -> World {
        Self::with(EngineOptions::default(), 8).await
    }

    pub async fn with(options: EngineOptions, max_concurrent: usize) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::parse(dir.path().join("station.db").to_str().unwrap()).unwrap();
        let station = Station::new(Database::open(&url).await.unwrap(), Layout::new(dir.path()));
        station.migrate().await.unwrap();
        station.store().ensure_environment("default").await.unwrap();
        std::fs::create_dir_all(station.layout().agents_dir("default")).unwrap();
        let model = ScriptedModel::start().await;
        let ai = AiSettings {
            ai_provider: Some("openai".into()),
            ai_model: Some("scripted-1".into()),
            ai_base_url: Some(model.base_url()),
            ai_api_key: Some(ApiKey::new("sk-test-not-a-real-key")),
            ai_auth_type: None,
        };
        let resolve: stn_agent::Resolve = Arc::new(move |m| stn_llm::resolve(m, &ai, &|_| None));
        let engine = Engine::new(station.clone(), Pool::new(), Models::new(resolve), options);
        let manager = RunManager::new(engine, max_concurrent);
        World {
            dir,
            station,
            model,
            manager,
        }
    }

    /// Writes `environments/default/agents/NAME.prompt`.
    pub fn prompt(&self, name: &str, text: &str) {
        let path = self.station.layout().agent_file("default", name);
        std::fs::write(path, text).unwrap();
    }

    /// Writes an MCP config `environments/default/NAME.json`.
    pub fn mcp_config(&self, name: &str, json: serde_json::Value) {
        let path = self.station.layout().mcp_file("default", name);
        std::fs::write(path, json.to_string()).unwrap();
    }

    /// A directory for the filesystem server with `notes.txt` in it.
    pub fn files(&self) -> std::path::PathBuf {
        let files = self.dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("notes.txt"), "the launch code is 4711").unwrap();
        files.canonicalize().unwrap()
    }

    pub async fn sync(&self) {
        let report = self
            .station
            .sync_environment("default", false)
            .await
            .unwrap();
        assert!(report.errors.is_empty(), "sync errors: {:?}", report.errors);
    }

    pub async fn agent_id(&self, name: &str) -> i64 {
        self.station
            .store()
            .agent("default", name)
            .await
            .unwrap()
            .id
    }

    pub async fn start(&self, agent: &str, task: &str) -> Started {
        self.manager
            .submit(RunRequest {
                agent_id: self.agent_id(agent).await,
                task: task.into(),
                variables: serde_json::Map::new(),
                origin: Origin::Cli,
            })
            .await
            .unwrap()
    }

    /// Runs an agent to its end (at most 60 s).
    pub async fn run(&self, agent: &str, task: &str) -> stn_agent::RunOutcome {
        let started = self.start(agent, task).await;
        tokio::time::timeout(Duration::from_secs(60), started.outcome)
            .await
            .expect("the run ends within 60 s")
            .unwrap()
    }
}
