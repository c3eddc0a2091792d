//! The image, run for real with podman as the Dockerfile and
//! docs/self-hosted.md tell a user to: each documented `docker run` step in
//! order on a fresh volume, an agent in a container calling a real stdio MCP
//! server (`uvx mcp-server-time`, fetched from PyPI inside the container)
//! through the scripted model, the health check, SIGTERM's final replica sync
//! (moto on loopback), and a second container on an empty volume restored
//! from the replica serving the same data. Host networking keeps everything
//! on 127.0.0.1.

mod common;
mod container_support;

use std::time::{Duration, Instant};

use common::{Stn, unique};
use container_support::{
    Cleanup, available, build_runtime_image, ca_args, podman, podman_ok, random_key, repo_root,
    wait_healthy,
};
use serde_json::json;
use stn_testkit::scripted_model::{ScriptedModel, Turn};

/// The one-off steps the Dockerfile and docs/self-hosted.md document, in
/// their order, as a user types them.
const STEPS: &[&str] = &[
    "docker run --rm -v station-data:/data station init",
    "docker run --rm -v station-data:/data station user create admin --admin",
    "docker run --rm -v station-data:/data station apikey create admin",
    "docker run --rm -v station-data:/data station mcp add time --command uvx --args mcp-server-time",
    "docker run --rm -v station-data:/data station sync",
];
/// The documented server start (its `-e LITESTREAM_S3_*` lines follow).
const SERVE: &str =
    "docker run -d --name station -p 8585:8585 -v station-data:/data --stop-timeout 40";
const ONE_OFF: &str = "docker run --rm -v station-data:/data station ";

#[test]
fn the_steps_the_test_runs_are_the_documented_ones() {
    for file in ["Dockerfile", "docs/self-hosted.md"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let text = text.replace("\\\n#  ", " ").replace("\\\n", " ");
        let mut from = 0;
        for step in STEPS.iter().chain([&SERVE]) {
            let at = text[from..]
                .find(step)
                .unwrap_or_else(|| panic!("{file} documents `{step}` after the steps before it"));
            from += at + step.len();
        }
    }
}

/// `podman run --rm` of `stn ARGS` on `volume` (a one-off step).
fn one_off(tag: &str, volume: &str, args: &[&str], extra: &[String]) -> std::process::Output {
    let mount = format!("{volume}:/data");
    let mut all: Vec<&str> = vec!["run", "--rm", "--network", "host", "-v", &mount];
    all.extend(extra.iter().map(String::as_str));
    all.push(tag);
    all.extend(args);
    podman(&all)
}

/// The LITESTREAM_S3_* variables of the documented start, for moto.
fn s3_env(endpoint: &str, bucket: &str, path: &str) -> Vec<String> {
    [
        format!("LITESTREAM_S3_BUCKET={bucket}"),
        "LITESTREAM_S3_ACCESS_KEY_ID=test".to_owned(),
        "LITESTREAM_S3_SECRET_ACCESS_KEY=test".to_owned(),
        "LITESTREAM_S3_REGION=us-east-1".to_owned(),
        format!("LITESTREAM_S3_ENDPOINT={endpoint}"),
        format!("LITESTREAM_S3_PATH={path}"),
    ]
    .into_iter()
    .flat_map(|pair| ["-e".to_owned(), pair])
    .collect()
}

/// The documented `docker run -d` on `volume`, on host networking with the
/// server bound to 127.0.0.1:`port` (instead of `-p 8585:8585`).
fn start_server(cleanup: &Cleanup, tag: &str, volume: &str, port: u16, env: &[String]) -> String {
    let name = cleanup.container(&unique("stn-test-serve"));
    let mount = format!("{volume}:/data");
    let addr = format!("STN_ADDR=127.0.0.1:{port}");
    let mut args: Vec<String> = [
        "run",
        "-d",
        "--name",
        name.as_str(),
        "--network",
        "host",
        "-v",
        mount.as_str(),
        "--stop-timeout",
        "40",
        "-e",
        addr.as_str(),
    ]
    .map(String::from)
    .into();
    args.extend_from_slice(env);
    args.extend(ca_args());
    args.push(tag.to_owned());
    podman_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_healthy(&name, port);
    name
}

/// The model settings for a container on host networking.
fn model_env(model: &ScriptedModel) -> Vec<String> {
    [
        "STN_AI_PROVIDER=openai".to_owned(),
        format!("STN_AI_BASE_URL={}", model.base_url()),
        "STN_AI_MODEL=scripted-1".to_owned(),
        "STN_AI_API_KEY=sk-test-not-a-real-key".to_owned(),
    ]
    .into_iter()
    .flat_map(|pair| ["-e".to_owned(), pair])
    .collect()
}

/// One clock run: the model asks for the time in UTC, the real server
/// answers, the model says so.
fn script_clock_run(model: &ScriptedModel) {
    model
        .push(Turn::tool_call(
            "c1",
            "__get_current_time",
            json!({"timezone": "UTC"}),
        ))
        .push(Turn::text("It is now in UTC what the clock said."));
}

/// The tool result the model got in the last run: what mcp-server-time said.
fn last_tool_result(model: &ScriptedModel) -> String {
    model
        .requests()
        .iter()
        .flat_map(|r| r.tool_results())
        .map(|(_, text)| text)
        .next_back()
        .expect("a tool result reached the model")
}

fn agent_names(agents: &serde_json::Value) -> Vec<String> {
    agents
        .as_array()
        .expect("a list of agents")
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn get(port: u16, path: &str, key: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_docker_run_steps_work_and_a_new_volume_restores_from_the_replica() {
    let Some(()) = available() else { return };
    let (Some(endpoint), Some(bucket)) = (
        stn_testkit::service("STN_TEST_S3_ENDPOINT"),
        stn_testkit::service("STN_TEST_BUCKET"),
    ) else {
        return;
    };
    let cleanup = Cleanup::default();
    let tag = cleanup.image(&format!("localhost/{}:test", unique("stn-test-image")));
    let volume = cleanup.volume(&unique("stn-test-data"));

    println!("== build the runtime stage around the test binary");
    let started = Instant::now();
    let size = build_runtime_image(&tag);
    println!(
        "image {tag}: {:.0} MB, built in {:.0?}",
        size as f64 / 1e6,
        started.elapsed()
    );

    println!("== the documented one-off steps, in order, on the fresh volume {volume}");
    let mut key = String::new();
    for step in STEPS {
        println!("-- {step}");
        let args: Vec<&str> = step.strip_prefix(ONE_OFF).unwrap().split(' ').collect();
        let out = one_off(&tag, &volume, &args, &ca_args());
        let stdout = container_support::ok(out.clone(), step);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("readable by other users"),
            "{step}: no warning about the config dir's mode: {stderr}"
        );
        if step.ends_with("apikey create admin") {
            key = stdout.trim().to_owned();
        }
    }
    assert!(key.starts_with("stn_"), "apikey create printed the key");
    let listing = container_support::ok(one_off(&tag, &volume, &["mcp", "list"], &[]), "mcp list");
    assert!(listing.contains("time"), "{listing}");
    let create = [
        "agent",
        "create",
        "clock",
        "--prompt",
        "You tell the time.",
        "--description",
        "Tells the time",
        "--tools",
        "__get_current_time",
    ];
    container_support::ok(one_off(&tag, &volume, &create, &[]), "agent create clock");

    println!(
        "== an agent run in a container calls mcp-server-time (uvx) through the scripted model"
    );
    let model = ScriptedModel::start().await;
    script_clock_run(&model);
    let mut extra = ca_args();
    extra.extend(model_env(&model));
    let run = one_off(
        &tag,
        &volume,
        &["agent", "run", "clock", "What time is it in UTC?"],
        &extra,
    );
    let transcript = container_support::ok(run, "agent run clock");
    assert!(transcript.contains("status:    completed"), "{transcript}");
    let result = last_tool_result(&model);
    assert!(
        result.contains("\"timezone\"") && result.contains("UTC") && result.contains("datetime"),
        "the real server's answer reached the model: {result}"
    );
    println!("the model got from mcp-server-time: {result}");

    println!("== the config dir is on the volume, private");
    let mount = format!("{volume}:/data");
    let listed = podman_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        &mount,
        "--entrypoint",
        "sh",
        &tag,
        "-c",
        "stat -c '%a %n' /data/config && ls /data/config/environments/default /data/config/environments/default/agents",
    ]);
    assert!(listed.contains("700 /data/config"), "{listed}");
    assert!(
        listed.contains("time.json") && listed.contains("clock.prompt"),
        "{listed}"
    );

    println!("== the documented server start, replicating to S3 (moto), health check");
    let path = unique("image");
    let s3 = s3_env(&endpoint, &bucket, &path);
    let port = stn_testkit::free_port();
    let first = start_server(&cleanup, &tag, &volume, port, &s3);
    let (status, _) = get(port, "/api/v1/agents", "stn_wrong").await;
    assert_eq!(status, 401, "the API needs the key");
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/agents"))
        .bearer_auth(&key)
        .json(&json!({"name": "last-write", "prompt": "p", "description": "the last write before SIGTERM"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);

    println!("== podman stop (SIGTERM): the final sync within the grace period");
    let stopping = Instant::now();
    podman_ok(&["stop", "-t", "40", &first]);
    let took = stopping.elapsed();
    let code = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &first]);
    println!("stopped in {took:.1?}, exit code {}", code.trim());
    assert_eq!(
        code.trim(),
        "0",
        "exited on its own, not killed at the deadline"
    );
    assert!(took < Duration::from_secs(40), "{took:?}");
    let logs = podman_ok(&["logs", &first]);
    println!(
        "{}",
        logs.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );

    println!("== the replica holds the last write (`stn restore` on the host)");
    let host = Stn::local();
    let restored = host.config_dir().join("restored.db");
    let replica =
        format!("s3://{bucket}/{path}?endpoint={endpoint}&region=us-east-1&force-path-style=true");
    let mut restore = host.command(&["restore", "-o", restored.to_str().unwrap(), &replica]);
    let out = common::with_s3_keys(&mut restore).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = common::agent_names(&restored);
    assert!(
        names.contains(&"last-write".to_owned()) && names.contains(&"clock".to_owned()),
        "{names:?}"
    );

    println!("== a second container on an empty volume restores and serves the same data");
    let volume2 = cleanup.volume(&unique("stn-test-data2"));
    let port2 = stn_testkit::free_port();
    let second = start_server(&cleanup, &tag, &volume2, port2, &s3);
    let (status, agents) = get(port2, "/api/v1/agents", &key).await;
    assert_eq!(status, 200, "the restored database holds the API key");
    let names = agent_names(&agents);
    println!("agents served by the second container: {names:?}");
    assert!(names.contains(&"last-write".to_owned()) && names.contains(&"clock".to_owned()));
    // The restored database carries the MCP config: the agent runs there
    // too (`exec` has the container's variables, the CA bundle's included).
    script_clock_run(&model);
    let mut exec: Vec<String> = vec!["exec".into()];
    exec.extend(model_env(&model));
    exec.extend(
        [
            second.as_str(),
            "stn",
            "agent",
            "run",
            "clock",
            "What time is it?",
        ]
        .map(String::from),
    );
    let transcript = podman_ok(&exec.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(transcript.contains("status:    completed"), "{transcript}");
    podman_ok(&["stop", "-t", "40", &second]);
}

/// Both compose examples with the image built above: the bootstrap key the
/// files require, healthy, the API answering with that key, then `down`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_examples_start_healthy_with_the_bootstrap_key() {
    let Some(()) = available() else { return };
    let (Some(compose), Some(endpoint), Some(bucket)) = (
        stn_testkit::service("STN_TEST_PODMAN_COMPOSE"),
        stn_testkit::service("STN_TEST_S3_ENDPOINT"),
        stn_testkit::service("STN_TEST_BUCKET"),
    ) else {
        return;
    };
    let Some(sqld) = stn_testkit::Sqld::start(Default::default()) else {
        return;
    };
    let cleanup = Cleanup::default();
    let tag = cleanup.image(&format!("localhost/{}:test", unique("stn-test-compose")));
    build_runtime_image(&tag);
    let dir = tempfile::tempdir().unwrap();
    for (file, env) in [
        (
            "s3.yml",
            vec![
                ("LITESTREAM_S3_BUCKET", bucket.clone()),
                ("LITESTREAM_S3_ACCESS_KEY_ID", "test".to_owned()),
                ("LITESTREAM_S3_SECRET_ACCESS_KEY", "test".to_owned()),
            ],
        ),
        (
            "turso.yml",
            vec![
                ("TURSO_DATABASE_URL", sqld.url()),
                ("TURSO_AUTH_TOKEN", "unused-by-this-sqld".to_owned()),
            ],
        ),
    ] {
        println!("== deploy/compose/{file}");
        let project = unique("stn-test-compose");
        let port = stn_testkit::free_port();
        // Host networking and a port of this test's own; S3 on moto.
        let override_file = dir.path().join(format!("{file}.override.yml"));
        let extra_env = match file {
            "s3.yml" => format!(
                "      LITESTREAM_S3_ENDPOINT: {endpoint}\n      LITESTREAM_S3_PATH: {}\n",
                unique("compose")
            ),
            _ => String::new(),
        };
        std::fs::write(
            &override_file,
            format!(
                "services:\n  station:\n    image: {tag}\n    network_mode: host\n    environment:\n      STN_ADDR: 127.0.0.1:{port}\n{extra_env}"
            ),
        )
        .unwrap();
        let args: Vec<String> = vec![
            "-p".into(),
            project.clone(),
            "-f".into(),
            repo_root()
                .join("deploy/compose")
                .join(file)
                .display()
                .to_string(),
            "-f".into(),
            override_file.display().to_string(),
        ];
        let key = random_key();
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let compose_cmd = |env: &[(String, String)], verb: &[&str]| {
            let mut cmd = std::process::Command::new(&compose);
            cmd.args(&args)
                .args(verb)
                .envs(env.iter().map(|(k, v)| (k, v)));
            let shown = format!("podman-compose -f {file} {}", verb.join(" "));
            container_support::run(&mut cmd, &shown)
        };

        let refused = compose_cmd(&env, &["config"]);
        assert!(
            !refused.status.success(),
            "{file} requires STN_BOOTSTRAP_API_KEY"
        );
        env.push(("STN_BOOTSTRAP_API_KEY".to_owned(), key.clone()));
        cleanup.compose_project(args.clone(), env.clone());
        container_support::ok(compose_cmd(&env, &["up", "-d"]), "podman-compose up");
        let container = cleanup.container(&format!("{project}_station_1"));
        for volume in ["station-data", "station-config"] {
            cleanup.volume(&format!("{project}_{volume}"));
        }
        wait_healthy(&container, port);
        let (status, _) = get(port, "/api/v1/agents", &key).await;
        assert_eq!(status, 200, "the bootstrap key is the admin key");
        let (status, _) = get(port, "/api/v1/agents", "stn_wrong").await;
        assert_eq!(status, 401);
        container_support::ok(compose_cmd(&env, &["down", "-v"]), "podman-compose down");
        let left = podman(&["container", "exists", &container]);
        assert!(!left.status.success(), "down removed {container}");
    }
}
