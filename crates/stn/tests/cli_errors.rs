//! What a user sees when something is wrong: bounded waits, clear errors,
//! the right exit codes.

mod common;

use std::time::{Duration, Instant};

use common::Stn;

/// Runs `cmd` to completion, or kills it after `limit` and panics.
fn run_within(mut cmd: std::process::Command, limit: Duration) -> std::process::Output {
    use std::io::Read as _;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start stn");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stn still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    std::process::Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}

#[test]
fn a_remote_database_that_never_answers_fails_within_the_request_timeout() {
    let hung = stn_testkit::silent_listener();
    let url = format!("http://127.0.0.1:{}", hung.local_addr().unwrap().port());
    let stn = Stn::remote(&url);
    let mut cmd = stn.command(&["agent", "list"]);
    cmd.env("STN_DB_TIMEOUT", "1");
    let started = Instant::now();
    let out = run_within(cmd, Duration::from_secs(15));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("did not answer within 1 s"), "{stderr}");
    assert!(stderr.contains("STN_DB_TIMEOUT"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// `stn db copy` gets the CLI's deadlines (STN_DB_TIMEOUT) for a remote
/// source and a remote destination alike, not a library default.
#[test]
fn db_copy_gives_up_on_a_remote_database_that_never_answers() {
    let hung = stn_testkit::silent_listener();
    let url = format!("http://127.0.0.1:{}", hung.local_addr().unwrap().port());
    let stn = Stn::local();
    stn.ok(&["init"]);
    let local = stn.config_dir().join("station.db");
    let copy = stn.config_dir().join("copy.db");
    for (src, dst) in [
        (url.as_str(), copy.to_str().unwrap()),
        (local.to_str().unwrap(), url.as_str()),
    ] {
        let mut cmd = stn.command(&["db", "copy", src, dst, "--force"]);
        cmd.env("STN_DB_TIMEOUT", "1");
        let started = Instant::now();
        let out = run_within(cmd, Duration::from_secs(60));
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            elapsed < Duration::from_secs(5),
            "{src} -> {dst}: {elapsed:?}"
        );
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&url), "{stderr}");
        assert!(stderr.contains("did not answer within 1 s"), "{stderr}");
    }
    assert!(
        !copy.exists(),
        "nothing copied from a source that never answered"
    );
}

/// The `error:` line of `stderr`, checked to say each thing once: no
/// `: `-separated part of it appears twice.
fn error_line(stderr: &str) -> &str {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    let parts: Vec<&str> = line.split(": ").filter(|p| p.len() > 3).collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(part),
            "`{part}` is repeated in {line}"
        );
    }
    line
}

/// Issue 9 item 17: errors that include their cause's text are printed
/// without that text again.
#[test]
fn error_chains_say_each_thing_once() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    // A file where the agents directory goes: an I/O error under a path.
    let agents = stn.config_dir().join("environments/default/agents");
    std::fs::remove_dir_all(&agents).ok();
    std::fs::write(&agents, "a file").unwrap();
    let stderr = stn.fails(&["agent", "create", "a", "-p", "p", "-d", "d"], 1);
    let line = error_line(&stderr);
    assert!(line.contains("a.prompt"), "{line}");

    // An S3 endpoint nobody listens on: object_store's and reqwest's causes.
    let closed = stn_testkit::free_port();
    let replica = format!(
        "s3://bucket/app?endpoint=http://127.0.0.1:{closed}&region=us-east-1&force-path-style=true"
    );
    let out = stn.config_dir().join("restored.db");
    let mut cmd = stn.command(&["restore", "-o", out.to_str().unwrap(), &replica]);
    common::with_s3_keys(&mut cmd);
    let output = run_within(cmd, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = error_line(&stderr);
    assert!(line.contains(&format!("127.0.0.1:{closed}")), "{line}");
    assert!(line.contains("Connection refused"), "{line}");
}

/// Runs `stn ltx REPLICA` with the test S3 keys; returns stderr after
/// checking it failed with one error line (and at most a hint).
fn ltx_fails_in_one_line(stn: &Stn, replica: &str) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    // Private, as `stn init` makes it: no warning about it on stderr.
    std::fs::set_permissions(stn.config_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = stn.command(&["ltx", replica]);
    common::with_s3_keys(&mut cmd);
    let output = run_within(cmd, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("hint: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    error_line(&stderr);
    stderr
}

/// Issue 9 item 17: an S3 error document is shown as its status and code,
/// not as the XML.
#[test]
fn a_missing_bucket_is_one_line_with_the_status_and_the_s3_code() {
    let Some(endpoint) = stn_testkit::service("STN_TEST_S3_ENDPOINT") else {
        return;
    };
    let stn = Stn::local();
    let bucket = common::unique("no-such-bucket");
    let replica =
        format!("s3://{bucket}/app?endpoint={endpoint}&region=us-east-1&force-path-style=true");
    let stderr = ltx_fails_in_one_line(&stn, &replica);
    assert!(stderr.contains("HTTP 404"), "{stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
    assert!(stderr.contains(&bucket), "{stderr}");
    assert!(!stderr.contains("<Error>"), "{stderr}");
}

/// Issue 9 item 17: an endpoint that is a web server, not S3, answering an
/// HTML page: one line with the status, saying so.
#[test]
fn an_html_answer_is_one_line_naming_the_status() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>403 Forbidden</title></head>\n<body>\n{}</body>\n</html>\n",
        "<p>You are not allowed here.</p>\n".repeat(60)
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    let stn = Stn::local();
    let replica = format!(
        "s3://bucket/app?endpoint=http://127.0.0.1:{port}&region=us-east-1&force-path-style=true"
    );
    let stderr = ltx_fails_in_one_line(&stn, &replica);
    assert!(stderr.contains("HTTP 403 Forbidden"), "{stderr}");
    assert!(stderr.contains("web page, not S3"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}/bucket")),
        "{stderr}"
    );
    assert!(!stderr.contains("<html>"), "{stderr}");
}

/// `stn replicate --once DB REPLICA` must end with exit 1 and the reason,
/// within the sync's budget (30 s) plus start-up, not wait forever.
fn assert_replicate_once_fails(stn: &Stn, db: &std::path::Path, replica: &str, reason: &str) {
    let mut cmd = stn.command(&["replicate", "--once", db.to_str().unwrap(), replica]);
    common::with_s3_keys(&mut cmd);
    let started = Instant::now();
    let out = run_within(cmd, Duration::from_secs(90));
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert!(stderr.contains("not replicated within"), "{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
    eprintln!("replicate --once gave up after {elapsed:?}");
}

#[test]
fn replicate_once_fails_when_the_file_replica_cannot_be_written() {
    let stn = Stn::local();
    let db = common::wal_database(stn.config_dir());
    // A path under a regular file cannot be created, even by root.
    let blocker = stn.config_dir().join("not-a-directory");
    std::fs::write(&blocker, b"").unwrap();
    let replica = format!("file://{}/replica", blocker.display());
    assert_replicate_once_fails(&stn, &db, &replica, "Not a directory");
}

#[test]
fn replicate_once_fails_when_the_s3_endpoint_is_unreachable() {
    let stn = Stn::local();
    let db = common::wal_database(stn.config_dir());
    let closed = stn_testkit::free_port();
    let replica = format!(
        "s3://bucket/app?endpoint=http://127.0.0.1:{closed}&region=us-east-1&force-path-style=true"
    );
    assert_replicate_once_fails(&stn, &db, &replica, &format!("127.0.0.1:{closed}"));
}

fn write_prompt(env_dir: &std::path::Path, name: &str) {
    std::fs::create_dir_all(env_dir.join("agents")).unwrap();
    std::fs::write(
        env_dir.join("agents").join(format!("{name}.prompt")),
        format!("---\nmetadata:\n  name: {name}\n---\n\nHello\n"),
    )
    .unwrap();
}

#[test]
fn sync_applies_every_good_environment_and_reports_each_bad_one() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let envs = stn.config_dir().join("environments");
    write_prompt(&envs.join("default"), "good");
    write_prompt(&envs.join("bad name!"), "lost");
    write_prompt(&envs.join("broken"), "still-synced");
    std::fs::write(envs.join("broken/variables.yml"), "ROOT: [unclosed\n").unwrap();
    write_prompt(&envs.join("zzz-last"), "after-the-errors");

    let out = stn.output(&["sync", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let by_env = |name: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["environment"] == name)
            .unwrap_or_else(|| panic!("no report for {name}: {reports}"))
            .clone()
    };
    assert_eq!(by_env("default")["agents"]["good"], "created");
    assert_eq!(by_env("zzz-last")["agents"]["after-the-errors"], "created");
    assert_eq!(by_env("broken")["agents"]["still-synced"], "created");
    let broken = by_env("broken")["errors"].to_string();
    assert!(broken.contains("variables.yml"), "{broken}");
    let bad = by_env("bad name!")["errors"].to_string();
    assert!(bad.contains("bad name!"), "{bad}");

    // The text output names every failure too.
    let out = stn.output(&["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("variables.yml") && stderr.contains("bad name!"),
        "{stderr}"
    );
}

/// `stn ARGS` as a server on `port`: waits for `/health`, then stops it and
/// returns what it wrote on stderr. Killed on panic too.
fn serve_briefly(stn: &Stn, args: &[&str], port: u16) -> String {
    let log = stn.config_dir().join("serve.log");
    let child = stn
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start stn serve");
    let guard = common::KillOnDrop(child);
    let up = stn_testkit::wait_for_http_ok(port, "/health", Duration::from_secs(20));
    drop(guard);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(up, "serve did not come up:\n{text}");
    text
}

#[test]
fn serve_logs_at_info_when_a_global_flag_comes_first() {
    let stn = Stn::local();
    let port = stn_testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = serve_briefly(
        &stn,
        &["--log-format", "json", "serve", "--addr", &addr],
        port,
    );
    assert!(log.contains(r#""level":"INFO""#), "{log}");
}

#[test]
fn serve_accepts_localhost_as_the_listen_host() {
    let stn = Stn::local();
    let port = stn_testkit::free_port();
    serve_briefly(
        &stn,
        &["serve", "--addr", &format!("localhost:{port}")],
        port,
    );
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    for i in 0..3 {
        stn.ok(&[
            "agent",
            "create",
            &format!("agent-{i}"),
            "-p",
            "Hi.",
            "-d",
            "A test agent.",
        ]);
    }
    let mut child = stn
        .command(&["agent", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before stn prints anything, like `| head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_default_environment_cannot_be_deleted() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let stderr = stn.fails(&["env", "delete", "default", "--yes"], 2);
    assert!(stderr.contains("cannot be deleted"), "{stderr}");
    let envs = stn.json(&["env", "list", "--json"]);
    assert!(envs.to_string().contains("\"default\""), "{envs}");
}

#[test]
fn an_invalid_name_is_a_usage_error_and_the_limit_counts_characters() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    stn.fails(&["env", "create", "no/slashes"], 2);
    // 100 letters of 2 bytes each: within the 128 letters the message promises.
    let name = "é".repeat(100);
    stn.ok(&["env", "create", &name]);
    let too_long = "a".repeat(129);
    let stderr = stn.fails(&["env", "create", &too_long], 2);
    assert!(stderr.contains("1-128 letters"), "{stderr}");
}

#[test]
fn a_restore_error_prints_its_hint() {
    let stn = Stn::local();
    let empty = tempfile::tempdir().unwrap();
    let replica = format!("file://{}", empty.path().display());
    let output = stn.config_dir().join("restored.db");
    let stderr = stn.fails(&["restore", "-o", output.to_str().unwrap(), &replica], 1);
    assert!(stderr.contains("hint: check the replica URL"), "{stderr}");
}

/// Issue 15, defect 16: a broken MCP config is named once, by its path
/// (before: `error: /…/badmcp.json: badmcp.json: …`).
#[test]
fn a_broken_file_is_named_once() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let env = stn.config_dir().join("environments/default");
    std::fs::write(env.join("badmcp.json"), "{ not json").unwrap();
    let out = stn.output(&["sync", "default", "--no-discover"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("badmcp.json"))
        .unwrap_or_else(|| panic!("badmcp.json not named: {stderr}"));
    assert_eq!(line.matches("badmcp.json").count(), 1, "{line}");
    assert!(
        line.contains(&env.join("badmcp.json").display().to_string()),
        "{line}"
    );
}

/// Issue 15, defect 16: `mcp add` takes arguments that begin with `-`, and
/// those after `--` as given (commas included).
#[test]
fn mcp_add_takes_dash_arguments_and_those_after_double_dash_as_given() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let args_of = |name: &str| -> serde_json::Value {
        let path = stn
            .config_dir()
            .join(format!("environments/default/{name}.json"));
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        file["mcpServers"][name]["args"].clone()
    };
    stn.ok(&["mcp", "add", "fs", "-c", "npx", "-a", "-y,@pkg,/srv"]);
    assert_eq!(args_of("fs"), serde_json::json!(["-y", "@pkg", "/srv"]));
    stn.ok(&[
        "mcp", "add", "fs2", "-c", "npx", "--", "-y", "@pkg", "/srv/a,b",
    ]);
    assert_eq!(
        args_of("fs2"),
        serde_json::json!(["-y", "@pkg", "/srv/a,b"])
    );
}

/// Issue 15, defect 14: a database Station creates is 0600 (with its -wal
/// and -shm), and `mcp list` shows no literal `env` value unless asked.
#[test]
fn databases_are_private_and_mcp_list_hides_literal_values() {
    use std::os::unix::fs::PermissionsExt as _;
    let stn = Stn::local();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("some/dir/x.db");
    let db_text = db.to_str().unwrap();
    stn.ok(&["--database", db_text, "init"]);
    stn.ok(&[
        "--database",
        db_text,
        "mcp",
        "add",
        "pw",
        "-c",
        "true",
        "-E",
        "MY_PASSWD=hunter2",
        "-E",
        "ROOT={{ .ROOT }}",
    ]);
    std::fs::write(
        stn.config_dir().join("environments/default/variables.yml"),
        "ROOT: /srv\n",
    )
    .unwrap();
    stn.output(&["--database", db_text, "sync", "default", "--no-discover"]);
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{db_text}{suffix}");
        if suffix.is_empty() || std::path::Path::new(&path).exists() {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{path} is {mode:o}");
        }
    }
    let listed = stn.ok(&["--database", db_text, "mcp", "list", "--json"])
        + &stn.ok(&["--database", db_text, "mcp", "list"]);
    assert!(!listed.contains("hunter2"), "{listed}");
    assert!(
        listed.contains("{{ .ROOT }}"),
        "references are shown: {listed}"
    );
    let shown = stn.ok(&[
        "--database",
        db_text,
        "mcp",
        "list",
        "--json",
        "--show-values",
    ]);
    assert!(shown.contains("hunter2"), "{shown}");
}
