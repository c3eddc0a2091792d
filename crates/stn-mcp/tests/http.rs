//! Client side over streamable HTTP: server-everything started on a free
//! loopback port.

mod common;

use std::time::Duration;

use serde_json::json;
use stn_mcp::{Pool, ServerSpec, Transport, discover};

/// server-everything's HTTP transport listens on `PORT` on every interface;
/// this preload makes a bare-port `listen` bind 127.0.0.1 only.
const LOOPBACK_ONLY: &str = r#"
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
"#;

struct Everything {
    child: tokio::process::Child,
    url: url::Url,
    _dir: tempfile::TempDir,
}

impl Everything {
    async fn start() -> Option<Everything> {
        let bin = common::service("STN_TEST_MCP_EVERYTHING")?;
        let dir = tempfile::tempdir().unwrap();
        let preload = dir.path().join("loopback.cjs");
        std::fs::write(&preload, LOOPBACK_ONLY).unwrap();
        let port = stn_testkit::free_port();
        let child = tokio::process::Command::new("node")
            .arg("--require")
            .arg(&preload)
            .arg(std::fs::canonicalize(&bin).unwrap())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let up = common::wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "server-everything did not listen on 127.0.0.1:{port}");
        let url = format!("http://127.0.0.1:{port}/mcp").parse().unwrap();
        Some(Everything {
            child,
            url,
            _dir: dir,
        })
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

#[tokio::test]
async fn discover_and_call_over_streamable_http() {
    let Some(server) = Everything::start().await else {
        return;
    };
    let spec = ServerSpec {
        transport: Transport::Http {
            url: server.url.clone(),
            headers: vec![("X-Station-Test".to_owned(), "1".to_owned())],
        },
        ..ServerSpec::http("everything-http", server.url.clone())
    };
    let tools = discover(&spec, Duration::from_secs(20)).await.unwrap();
    assert!(
        tools
            .iter()
            .any(|t| t.name == "echo" && t.server == "everything-http")
    );

    let pool = Pool::new();
    pool.tools("env", std::slice::from_ref(&spec))
        .await
        .unwrap();
    assert!(
        pool.child_pids().is_empty(),
        "an HTTP server is not our child"
    );
    let calls = (0..3).map(|i| {
        pool.call(
            "env",
            "everything-http",
            "echo",
            json!({"message": format!("n{i}")}),
        )
    });
    for (i, result) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(result.unwrap().text, format!("Echo: n{i}"));
    }
    pool.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn an_http_server_that_is_not_there_is_named() {
    let port = stn_testkit::free_port();
    let url: url::Url = format!("http://127.0.0.1:{port}/mcp").parse().unwrap();
    let err = discover(&ServerSpec::http("gone", url), Duration::from_secs(10))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("MCP server `gone` failed to start: http://127.0.0.1:"),
        "{message}"
    );
}
