//! Server side: the official Python SDK client (`mcp` on PyPI) lists and
//! calls the tools Station serves over streamable HTTP and over stdio.

mod common;

use std::sync::Arc;

use serde_json::Value;

/// Connects with the official Python client, lists the tools, calls `echo`
/// and `fail`, and prints what it got as JSON.
const CLIENT: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

async def use(streams):
    read, write = streams[0], streams[1]
    async with ClientSession(read, write) as session:
        init = await session.initialize()
        tools = await session.list_tools()
        echo = await session.call_tool("echo", {"text": "hi from python"})
        fail = await session.call_tool("fail", {"text": "x"})
        dump = lambda r: r.model_dump(by_alias=True, mode="json")
        print(json.dumps({
            "server": dump(init)["serverInfo"]["name"],
            "tools": [dump(t) for t in tools.tools],
            "echo": dump(echo),
            "fail": dump(fail),
        }))

async def main():
    kind, target = sys.argv[1], sys.argv[2]
    if kind == "http":
        async with streamable_http_client(target) as streams:
            await use(streams)
    else:
        async with stdio_client(StdioServerParameters(command=target, args=[])) as streams:
            await use(streams)

asyncio.run(main())
"#;

async fn python_client(python: &str, kind: &str, target: &str) -> Value {
    let out = tokio::process::Command::new(python)
        .args(["-c", CLIENT, kind, target])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_session(got: &Value) {
    assert_eq!(got["server"], "stn");
    let names: Vec<&str> = got["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "fail"]);
    assert_eq!(got["tools"][0]["inputSchema"]["required"][0], "text");
    assert_eq!(got["echo"]["content"][0]["text"], "echo: hi from python");
    assert_ne!(got["echo"]["isError"], true);
    assert_eq!(got["fail"]["isError"], true);
    assert_eq!(
        got["fail"]["content"][0]["text"],
        "`fail` failed on purpose (x)"
    );
}

#[tokio::test]
async fn python_client_uses_the_http_router() {
    let Some(python) = common::service("STN_TEST_PYTHON_MCP") else {
        return;
    };
    let app = axum::Router::new().nest("/mcp", stn_mcp::http_router(Arc::new(common::echo::Echo)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let got = python_client(&python, "http", &format!("http://{addr}/mcp")).await;
    assert_session(&got);
    server.abort();
}

#[tokio::test]
async fn python_client_uses_serve_stdio() {
    let Some(python) = common::service("STN_TEST_PYTHON_MCP") else {
        return;
    };
    let example = common::example("echo_stdio");
    let got = python_client(&python, "stdio", example.to_str().unwrap()).await;
    assert_session(&got);
}
