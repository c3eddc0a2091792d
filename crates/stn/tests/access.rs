//! Who may reach `stn serve` and what they may do, checked from outside: the
//! real binary, a real HTTP client, keys created by another `stn` process,
//! raw sockets for slow clients, real signals.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, Stn};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HOST};
use serde_json::json;
use stn_testkit::send_json as send;

fn start(stn: &Stn, args: &[&str], env: &[(&str, &str)]) -> Server {
    Server::start(stn, args, env, &stn.config_dir().join("serve.log"))
}

/// `stn user create NAME [--admin]` then `stn apikey create NAME`: the key.
fn key_for(stn: &Stn, user: &str, admin: bool) -> String {
    let mut args = vec!["user", "create", user];
    if admin {
        args.push("--admin");
    }
    stn.ok(&args);
    stn.json(&["apikey", "create", user, "--json"])["key"]
        .as_str()
        .expect("key in the JSON")
        .to_owned()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

// Item 6: auth is decided per request.
#[tokio::test]
async fn a_key_created_while_serving_is_required_on_the_next_request() {
    let stn = Stn::local();
    let server = start(&stn, &[], &[]);
    let http = reqwest::Client::new();
    let envs = format!("{}/api/v1/environments", server.base());
    let (status, _) = send(http.get(&envs)).await;
    assert_eq!(status, StatusCode::OK, "no keys yet: loopback needs none");

    let key = key_for(&stn, "ops", true);
    let (status, body) = send(http.get(&envs)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = send(http.post(&envs).json(&json!({"name": "sneaky"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(http.get(format!("{}/metrics", server.base()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = send(http.get(&envs).header(AUTHORIZATION, bearer(&key))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "sneaky")
    );
}

// Item 7: DNS rebinding. A page on evil.example rebound to 127.0.0.1 sends
// `Host: evil.example`; only loopback names and configured hosts get through.
#[tokio::test]
async fn a_foreign_host_is_refused_on_every_route() {
    let stn = Stn::local();
    let server = start(
        &stn,
        &["--allowed-host", "station.example"],
        &[("STN_ALLOWED_HOSTS", "")],
    );
    let http = reqwest::Client::new();
    let port = server.port;
    for path in ["/health", "/metrics", "/api/v1/environments", "/nowhere"] {
        let url = format!("{}{path}", server.base());
        let (status, body) =
            send(http.get(&url).header(HOST, format!("evil.example:{port}"))).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "host_not_allowed", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("--allowed-host"), "{message}");
        assert!(message.contains("STN_ALLOWED_HOSTS"), "{message}");
    }
    let url = format!("{}/api/v1/environments/default", server.base());
    let (status, _) = send(http.delete(&url).header(HOST, "evil.example")).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert!(stn.ok(&["env", "list"]).contains("default"));

    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LOCALHOST".to_owned(),
        format!("127.1.2.3:{port}"),
        format!("[::1]:{port}"),
        "station.example:443".to_owned(),
    ] {
        let url = format!("{}/api/v1/environments", server.base());
        let (status, body) = send(http.get(&url).header(HOST, &host)).await;
        assert_eq!(status, StatusCode::OK, "Host {host}: {body}");
    }
}

#[tokio::test]
async fn allowed_hosts_come_from_the_environment_and_config_yaml() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    std::fs::write(
        stn.config_dir().join("config.yaml"),
        "allowed_hosts:\n  - from-config.example\n",
    )
    .unwrap();
    let http = reqwest::Client::new();

    let server = start(&stn, &[], &[("STN_ALLOWED_HOSTS", "a.example,b.example")]);
    let url = format!("{}/health", server.base());
    for (host, expected) in [
        ("a.example", StatusCode::OK),
        ("b.example:8585", StatusCode::OK),
        ("from-config.example", StatusCode::MISDIRECTED_REQUEST),
    ] {
        let (status, _) = send(http.get(&url).header(HOST, host)).await;
        assert_eq!(status, expected, "{host} with STN_ALLOWED_HOSTS set");
    }
    drop(server);

    let server = start(&stn, &[], &[]);
    let url = format!("{}/health", server.base());
    let (status, _) = send(http.get(&url).header(HOST, "from-config.example")).await;
    assert_eq!(status, StatusCode::OK, "allowed_hosts in config.yaml");
    let (status, _) = send(http.get(&url).header(HOST, "a.example")).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

// Item 8: roles, and who made each change.
#[tokio::test]
async fn non_admin_keys_read_and_cannot_change_anything() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    stn.ok(&[
        "agent",
        "create",
        "helper",
        "--prompt",
        "You help.",
        "--description",
        "d",
    ]);
    let admin = key_for(&stn, "alice", true);
    let reader = key_for(&stn, "bob", false);
    let server = start(&stn, &[], &[]);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1{path}", server.base());
    let agent_id = stn.json(&["agent", "show", "helper", "--json"])["id"]
        .as_i64()
        .unwrap();

    for path in [
        "/environments",
        "/agents",
        &format!("/agents/{agent_id}"),
        "/runs",
    ] {
        let (status, body) = send(http.get(api(path)).header(AUTHORIZATION, bearer(&reader))).await;
        assert_eq!(status, StatusCode::OK, "bob reads {path}: {body}");
    }
    let refused = [
        http.post(api("/environments"))
            .json(&json!({"name": "bobs"})),
        http.delete(api("/environments/default")),
        http.post(api("/agents"))
            .json(&json!({"name": "x", "prompt": "p"})),
        http.put(api(&format!("/agents/{agent_id}")))
            .json(&json!({"prompt": "evil"})),
        http.delete(api(&format!("/agents/{agent_id}"))),
    ];
    for request in refused {
        let (status, body) = send(request.header(AUTHORIZATION, bearer(&reader))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("bob") && message.contains("admin"),
            "{message}"
        );
    }
    let agent = stn.json(&["agent", "show", "helper", "--json"]);
    assert_eq!(agent["prompt"], "You help.");
    assert_eq!(agent["created_by"], "console");
    assert!(stn.ok(&["env", "list"]).contains("default"));

    let (status, env) = send(
        http.post(api("/environments"))
            .header(AUTHORIZATION, bearer(&admin))
            .json(&json!({"name": "prod"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{env}");
    assert_eq!(env["created_by"], "alice");
    let (status, agent) = send(
        http.put(api(&format!("/agents/{agent_id}")))
            .header(AUTHORIZATION, bearer(&admin))
            .json(&json!({"prompt": "You help more."})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    assert_eq!(agent["created_by"], "console");
    assert_eq!(agent["updated_by"], "alice");
    stn.ok(&["agent", "update", "helper", "--prompt", "From the CLI."]);
    let agent = stn.json(&["agent", "show", "helper", "--json"]);
    assert_eq!(agent["updated_by"], "console");
}

/// A client that sends half a request and then nothing.
fn half_request(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"POST /api/v1/environments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .unwrap();
    stream
}

// Item 9: a half-sent request neither holds the server nor its shutdown, and
// the final replica sync still happens.
#[tokio::test]
async fn a_slow_client_does_not_hold_sigterm_or_the_final_sync() {
    let stn = Stn::local();
    let dir = tempfile::tempdir().unwrap();
    let replica = format!("file://{}", dir.path().join("replica").display());
    let mut server = start(&stn, &["--replica", &replica], &[]);
    let http = reqwest::Client::new();
    let _slow = half_request(server.port);
    let (status, body) = send(
        http.post(format!("{}/api/v1/environments", server.base()))
            .json(&json!({"name": "last-write"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let _slow_too = half_request(server.port);
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let status = server.stop();
    let took = started.elapsed();
    assert!(
        status.success(),
        "{status:?}\n{}",
        common::tail(&server.log)
    );
    // 10 s for in-flight requests, then the final sync (a file replica: fast).
    assert!(took < Duration::from_secs(15), "SIGTERM took {took:?}");

    let restored = dir.path().join("restored.db");
    stn.ok(&["restore", "-o", restored.to_str().unwrap(), &replica]);
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let found: i64 = conn
        .query_row(
            "SELECT count(*) FROM environments WHERE name = 'last-write'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(found, 1, "the replica holds the last write");
}

// Item 9: one half-sent request is cut off after the header timeout.
#[test]
fn a_half_sent_request_is_cut_off_after_the_header_timeout() {
    let stn = Stn::local();
    let server = start(&stn, &[], &[]);
    let mut slow = half_request(server.port);
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "connection closed after {took:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// Item 10: files that may hold tokens are private.
#[cfg(unix)]
#[test]
fn init_creates_private_config_files_and_warns_about_exposed_ones() {
    use std::os::unix::fs::PermissionsExt as _;
    let stn = Stn::local();
    let config_dir = stn.config_dir().join("station");
    let out = stn
        .command(&["init", "--replicate"])
        .env("STATION_CONFIG_DIR", &config_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&config_dir), 0o700, "config dir");
    assert_eq!(mode(&config_dir.join("config.yaml")), 0o600, "config.yaml");
    assert_eq!(
        mode(&config_dir.join("litestream.yml")),
        0o600,
        "litestream.yml"
    );

    let config = config_dir.join("config.yaml");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = stn
        .command(&["env", "list"])
        .env("STATION_CONFIG_DIR", &config_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = format!("{} is readable by other users", config.display());
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

// Item 10: secret values stay out of the (replicated) database and out of `mcp list`.
#[test]
fn mcp_secrets_are_stored_as_references_and_listed_redacted() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let env_dir = stn.config_dir().join("environments").join("default");
    std::fs::write(
        env_dir.join("variables.yml"),
        "API_TOKEN: s3cr3t-from-variables\nROOT: /srv/data\n",
    )
    .unwrap();
    std::fs::write(
        env_dir.join("template.json"),
        r#"{"mcpServers": {"gh": {"command": "gh-mcp", "args": ["--root", "{{.ROOT}}"],
            "env": {"GITHUB_TOKEN": "{{ .API_TOKEN }}", "DB_PASSWORD": "typed-in-json", "MODE": "fast"}}}}"#,
    )
    .unwrap();
    stn.ok(&["sync", "default", "--no-discover"]);

    let db = stn.config_dir().join("station.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (args, env): (String, String) = conn
        .query_row(
            "SELECT args, env FROM mcp_servers WHERE name = 'gh'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(!env.contains("s3cr3t-from-variables"), "{env}");
    assert!(env.contains("{{ .API_TOKEN }}"), "{env}");
    assert!(args.contains("{{.ROOT}}"), "{args}");
    drop(conn);
    for file in ["station.db", "station.db-wal"] {
        let bytes = std::fs::read(stn.config_dir().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("s3cr3t-from-variables"),
            "{file} holds the secret"
        );
    }

    for args in [&["mcp", "list"][..], &["mcp", "list", "--json"][..]] {
        let out = stn.ok(args);
        assert!(!out.contains("s3cr3t-from-variables"), "{out}");
        assert!(!out.contains("typed-in-json"), "{args:?}: {out}");
    }
    // Every literal value is hidden (issue 15 defect 14: the name rule missed
    // e.g. MY_PASSWD); references to variables.yml show what they point at.
    let listed = stn.json(&["mcp", "list", "--json"]);
    let env = &listed[0]["env"];
    assert_eq!(env["MODE"], "<redacted>");
    assert_eq!(env["GITHUB_TOKEN"], "{{ .API_TOKEN }}");
    assert_eq!(env["DB_PASSWORD"], "<redacted>");
    // Asked for, the literal values are shown; variables.yml's still are not.
    let shown = stn.json(&["mcp", "list", "--json", "--show-values"]);
    let env = &shown[0]["env"];
    assert_eq!(env["MODE"], "fast");
    assert_eq!(env["DB_PASSWORD"], "typed-in-json");
    assert_eq!(env["GITHUB_TOKEN"], "{{ .API_TOKEN }}");
}

// Item 11: /health tells strangers only whether the server is up.
#[tokio::test]
async fn health_shows_details_only_with_a_valid_key() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let key = key_for(&stn, "ops", true);
    let server = start(&stn, &[], &[]);
    let http = reqwest::Client::new();
    let url = format!("{}/health", server.base());
    let (status, body) = send(http.get(&url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
    let (_, body) = send(http.get(&url).header(AUTHORIZATION, "Bearer stn_wrong")).await;
    assert_eq!(body, json!({"status": "ok"}));
    let (status, body) = send(http.get(&url).header(AUTHORIZATION, bearer(&key))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "ok", "{body}");
}

// Item 11: text from the database cannot drive the terminal.
#[test]
fn control_characters_are_escaped_on_a_terminal_and_exact_in_json() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let evil = "red\u{1b}[31m\rgone\u{7}";
    stn.ok(&["env", "create", "staging", "--description", evil]);
    stn.ok(&[
        "agent",
        "create",
        "helper",
        "--description",
        evil,
        "--prompt",
        "line one\nline two\u{1b}]0;title\u{7}",
    ]);
    for args in [
        &["env", "list"][..],
        &["agent", "list"][..],
        &["agent", "show", "helper"][..],
    ] {
        let out = stn.ok(args);
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {out:?}"
        );
        assert!(
            out.contains("red\\u{1b}[31m\\rgone\\u{7}"),
            "{args:?}: {out}"
        );
    }
    assert!(
        stn.ok(&["agent", "show", "helper"])
            .contains("line one\nline two\\u{1b}]0;title")
    );
    let envs = stn.json(&["env", "list", "--json"]);
    let staging = envs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "staging")
        .unwrap();
    assert_eq!(staging["description"], evil);
}

// Item 11: `stn replicate --metrics-addr` follows serve's rule.
#[test]
fn replicate_refuses_public_metrics_without_an_opt_in() {
    let stn = Stn::local();
    let dir = tempfile::tempdir().unwrap();
    let db = common::wal_database(dir.path());
    let replica = format!("file://{}", dir.path().join("replica").display());
    let addr = format!("0.0.0.0:{}", stn_testkit::free_port());
    let child = stn
        .command(&[
            "replicate",
            db.to_str().unwrap(),
            &replica,
            "--once",
            "--metrics-addr",
            &addr,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--metrics-allow-remote"), "{stderr}");
}

/// `--metrics-addr localhost:PORT` is the IPv4 loopback, as `serve --addr`.
#[test]
fn replicate_serves_metrics_on_localhost() {
    let stn = Stn::local();
    let dir = tempfile::tempdir().unwrap();
    let db = common::wal_database(dir.path());
    let replica = format!("file://{}", dir.path().join("replica").display());
    let port = stn_testkit::free_port();
    let log = dir.path().join("replicate.log");
    let child = stn
        .command(&[
            "replicate",
            db.to_str().unwrap(),
            &replica,
            "--metrics-addr",
            &format!("localhost:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let guard = common::KillOnDrop(child);
    let up = stn_testkit::wait_for_http_ok(port, "/metrics", Duration::from_secs(20));
    drop(guard);
    assert!(up, "{}", std::fs::read_to_string(&log).unwrap());
}

/// A count of 0 would serve nothing: a usage error naming the flag, before
/// anything starts.
#[test]
fn serve_refuses_zero_connections_or_runs() {
    let stn = Stn::local();
    let addr = format!("127.0.0.1:{}", stn_testkit::free_port());
    let refused = |flag: &str, mut cmd: std::process::Command| {
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        // A server that started anyway is killed (and the test fails) here.
        let status = common::wait_exit(child, Duration::from_secs(20));
        let mut stderr = String::new();
        pipe.read_to_string(&mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    };
    for flag in ["--max-connections", "--max-concurrent-runs"] {
        refused(flag, stn.command(&["serve", "--addr", &addr, flag, "0"]));
    }
    let mut cmd = stn.command(&["serve", "--addr", &addr]);
    cmd.env("STN_MAX_CONNECTIONS", "0");
    refused("--max-connections", cmd);
}

#[test]
fn users_and_api_keys_are_listed_and_users_deleted() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let alice_key = key_for(&stn, "alice", true);
    let _ = key_for(&stn, "bob", false);
    stn.ok(&["apikey", "create", "bob", "--name", "ci"]);

    let users = stn.json(&["user", "list", "--json"]);
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "console"]);
    assert_eq!(users[0]["is_admin"], true);
    assert_eq!(users[1]["is_admin"], false);
    assert_eq!(users[1]["api_keys"], 2);
    let text = stn.ok(&["user", "list"]);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains("bob"), "{text}");

    let keys = stn.json(&["apikey", "list", "--json"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0]["user"], "bob");
    assert_eq!(keys[0]["name"], "ci");
    assert!(alice_key.starts_with(keys[2]["prefix"].as_str().unwrap()));
    let fields: Vec<&String> = keys[0].as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        ["created_at", "id", "name", "prefix", "revoked_at", "user"]
    );
    // Neither the key nor anything longer than its prefix is printed.
    let text = stn.ok(&["apikey", "list"]);
    let listed = format!("{text}{}", stn.ok(&["apikey", "list", "--json"]));
    assert!(!listed.contains(&alice_key), "{listed}");
    assert!(!listed.contains(&alice_key[..20]), "{listed}");

    // Without a terminal and without --yes nothing is deleted.
    let stderr = stn.fails(&["user", "delete", "bob"], 1);
    assert!(stderr.contains("--yes"), "{stderr}");
    let stderr = stn.fails(&["user", "delete", "console", "--yes"], 2);
    assert!(stderr.contains("built in"), "{stderr}");
    let stderr = stn.fails(&["user", "delete", "alice", "--yes"], 2);
    assert!(stderr.contains("last admin"), "{stderr}");
    stn.fails(&["user", "delete", "nobody", "--yes"], 1);

    stn.ok(&["user", "delete", "bob", "--yes"]);
    let keys = stn.json(&["apikey", "list", "--json"]);
    assert_eq!(
        keys.as_array().unwrap().len(),
        1,
        "bob's keys went with him"
    );
    // With a second admin, the first may go.
    stn.ok(&["user", "create", "carol", "--admin"]);
    stn.ok(&["user", "delete", "alice", "--yes"]);
    let users = stn.json(&["user", "list", "--json"]).to_string();
    assert!(
        !users.contains("alice") && users.contains("carol"),
        "{users}"
    );
}
