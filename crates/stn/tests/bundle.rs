//! `stn bundle create|inspect|install` end to end: the Go original's layout
//! both ways, hostile archives refused with nothing written, installs from a
//! loopback URL, `--force` that keeps the old environment when the new one is
//! bad, and `stn serve --bundle` installing once.

mod bundle_support;
mod common;

use std::io::Write as _;

use bundle_support::{Entry, entries, go_bundle, names, serve_once, targz, walk};
use common::{Server, Stn};
use flate2::Compression;
use flate2::write::GzEncoder;

/// An initialised config dir with two agents (one calling the other), an MCP
/// config using two variables, a variables.yml (at the top and deeper) and an
/// extra file.
fn source_station() -> Stn {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let env = stn.config_dir().join("environments/default");
    std::fs::create_dir_all(env.join("agents")).unwrap();
    std::fs::write(env.join("agents/helper.prompt"), bundle_support::GO_HELPER).unwrap();
    std::fs::write(env.join("agents/triage.prompt"), bundle_support::GO_PROMPT).unwrap();
    std::fs::write(env.join("template.json"), bundle_support::GO_TEMPLATE).unwrap();
    std::fs::write(
        env.join("variables.yml"),
        "ROOT_PATH: /srv\nAPI_TOKEN: secret-token-123\n",
    )
    .unwrap();
    std::fs::create_dir_all(env.join("skills/deep")).unwrap();
    std::fs::write(env.join("skills/runbook.md"), "# Runbook\n").unwrap();
    std::fs::write(env.join("skills/deep/variables.yaml"), "X: secret\n").unwrap();
    stn.ok(&["sync", "default"]);
    stn
}

#[test]
fn created_bundle_has_the_go_layout_and_round_trips() {
    let src = source_station();
    let out = src.config_dir().join("out/default.tar.gz");
    src.ok(&["bundle", "create", "default", "-o", out.to_str().unwrap()]);
    let bytes = std::fs::read(&out).unwrap();

    // The Go original's layout: manifest first, relative names without ./,
    // directories as entries, no variables files, no secrets anywhere.
    let list = entries(&bytes);
    assert_eq!(list[0].0, "manifest.json");
    let entry_names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    assert!(
        entry_names
            .iter()
            .all(|n| !n.starts_with("./") && !n.starts_with('/')),
        "{entry_names:?}"
    );
    assert!(
        entry_names
            .iter()
            .all(|n| !n.ends_with("variables.yml") && !n.ends_with("variables.yaml")),
        "{entry_names:?}"
    );
    for expected in [
        "agents/",
        "agents/helper.prompt",
        "agents/triage.prompt",
        "template.json",
    ] {
        assert!(
            entry_names.contains(&expected),
            "{expected} missing from {entry_names:?}"
        );
    }
    // Only what Station reads: files of other kinds stay on the machine.
    assert!(
        entry_names.iter().all(|n| !n.starts_with("skills")),
        "{entry_names:?}"
    );
    assert_eq!(
        list.iter().find(|e| e.0 == "agents/").unwrap().1,
        tar::EntryType::Directory
    );
    assert!(
        list.iter()
            .all(|e| !String::from_utf8_lossy(&e.2).contains("secret-token-123"))
    );

    let manifest_text = String::from_utf8(list[0].2.clone()).unwrap();
    assert!(
        manifest_text.starts_with("{\n  \"version\": \"1.0\""),
        "2-space indented: {manifest_text}"
    );
    let m: serde_json::Value = serde_json::from_str(&manifest_text).unwrap();
    assert_eq!(m["bundle"]["name"], "default");
    for key in [
        "name",
        "description",
        "tags",
        "created_at",
        "station_version",
    ] {
        assert!(m["bundle"].get(key).is_some(), "bundle.{key}");
    }
    assert_eq!(m["bundle"]["tags"], serde_json::json!(["ops"]));
    let triage = m["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "triage")
        .unwrap();
    assert_eq!(triage["model"], "gpt-4o-mini");
    assert_eq!(triage["max_steps"], 8);
    assert_eq!(triage["tools"], serde_json::json!(["__read_text_file"]));
    for key in ["description", "tags", "mcp_servers"] {
        assert!(triage.get(key).is_some(), "agents[].{key}");
    }
    let server = &m["mcp_servers"][0];
    assert_eq!(server["name"], "filesystem");
    assert_eq!(
        server["args"][2], "{{ .ROOT_PATH }}",
        "placeholders stay, values never"
    );
    for key in ["command", "env", "tools", "description"] {
        assert!(server.get(key).is_some(), "mcp_servers[].{key}");
    }
    let vars = names(&m["required_variables"]);
    assert_eq!(vars, ["API_TOKEN", "ROOT_PATH"]);
    assert_eq!(m["required_variables"][0]["type"], "string");
    assert_eq!(m["required_variables"][0]["required"], true);
    for key in [
        "tools",
        "workflows",
        "agent_mcp_relationships",
        "reports",
        "datasets",
    ] {
        assert!(m[key].is_array(), "{key} is an array");
    }

    // inspect
    let inspected = src.json(&["bundle", "inspect", out.to_str().unwrap(), "--json"]);
    assert_eq!(inspected["agents"].as_array().unwrap().len(), 2);
    assert!(
        src.ok(&["bundle", "inspect", out.to_str().unwrap()])
            .contains("ROOT_PATH")
    );

    // Install into another config dir: synced at once, variables listed.
    let dst = Stn::local();
    dst.ok(&["init", "--yes"]);
    let report = dst.json(&["bundle", "install", out.to_str().unwrap(), "prod", "--json"]);
    let missing = names(&report["missing_variables"]);
    assert_eq!(missing, ["API_TOKEN", "ROOT_PATH"]);
    assert!(
        report["variables_file"]
            .as_str()
            .unwrap()
            .ends_with("environments/prod/variables.yml")
    );
    let agents = dst.json(&["agent", "list", "-e", "prod", "--json"]);
    let mut installed = names(&agents);
    installed.sort();
    assert_eq!(installed, ["helper", "triage"]);
    for rel in [
        "agents/triage.prompt",
        "agents/helper.prompt",
        "template.json",
    ] {
        assert_eq!(
            std::fs::read(src.config_dir().join("environments/default").join(rel)).unwrap(),
            std::fs::read(dst.config_dir().join("environments/prod").join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert!(
        !dst.config_dir()
            .join("environments/prod/variables.yml")
            .exists()
    );
    assert!(
        !dst.config_dir()
            .join("environments/prod/manifest.json")
            .exists()
    );
    assert!(
        !dst.config_dir()
            .join("environments/prod/skills/deep/variables.yaml")
            .exists()
    );

    // Installing over it without --force is refused with the way out.
    let err = dst.fails(&["bundle", "install", out.to_str().unwrap(), "prod"], 1);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
}

#[test]
fn a_bundle_shaped_like_the_go_originals_installs() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let file = stn.config_dir().join("go.tar.gz");
    std::fs::write(&file, go_bundle()).unwrap();
    let inspected = stn.json(&["bundle", "inspect", file.to_str().unwrap(), "--json"]);
    assert_eq!(inspected["bundle"]["station_version"], "v0.21.3");
    assert_eq!(
        inspected["tools"],
        serde_json::json!([]),
        "Go's null lists read as empty"
    );

    let out = stn.ok(&["bundle", "install", file.to_str().unwrap(), "ops"]);
    assert!(
        out.contains("ROOT_PATH") && out.contains("API_TOKEN") && out.contains("variables.yml"),
        "{out}"
    );
    let triage = stn.json(&["agent", "show", "triage", "-e", "ops", "--json"]);
    assert_eq!(triage["max_steps"], 8);
    assert_eq!(triage["model"], "gpt-4o-mini");
    assert_eq!(triage["agents"], serde_json::json!(["helper"]));
    // The user adds the variables and syncs: the MCP server is loaded.
    std::fs::write(
        stn.config_dir().join("environments/ops/variables.yml"),
        "ROOT_PATH: /srv\nAPI_TOKEN: t\n",
    )
    .unwrap();
    stn.ok(&["sync", "ops"]);
    let servers = stn.json(&["mcp", "list", "-e", "ops", "--json"]);
    assert_eq!(servers[0]["name"], "filesystem", "{servers}");
}

/// Runs an install that must fail, and checks that neither the config dir nor
/// the database changed.
fn refused(stn: &Stn, bundle: &[u8], expect: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bundle).unwrap();
    let files_before = walk(stn.config_dir());
    let envs_before = stn.ok(&["env", "list", "--json"]);
    let agents_before = stn.ok(&["agent", "list", "--json"]);
    let err = stn.fails(
        &["bundle", "install", file.path().to_str().unwrap(), "evil"],
        1,
    );
    assert!(err.contains(expect), "expected `{expect}` in: {err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(
        walk(stn.config_dir()) == files_before,
        "the config dir changed: {err}"
    );
    assert_eq!(stn.ok(&["env", "list", "--json"]), envs_before);
    assert_eq!(stn.ok(&["agent", "list", "--json"]), agents_before);
}

#[test]
fn hostile_archives_are_refused_with_nothing_written() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let manifest = bundle_support::go_manifest();
    let m = Entry::File("manifest.json", &manifest);
    let ok = Entry::File("agents/a.prompt", b"---\nmodel: x\n---\nhi\n");

    refused(
        &stn,
        &targz(&[
            Entry::File("manifest.json", &manifest),
            Entry::File("agents/a.prompt", b"---\n---\nhi\n"),
            Entry::File("../x", b"owned"),
        ]),
        "`..`",
    );
    refused(
        &stn,
        &targz(&[m, ok, Entry::File("/etc/x", b"owned")]),
        "absolute",
    );
    let m = Entry::File("manifest.json", &manifest);
    let ok = Entry::File("agents/a.prompt", b"---\nmodel: x\n---\nhi\n");
    refused(
        &stn,
        &targz(&[m, ok, Entry::Symlink("agents/link", "/etc/passwd")]),
        "symbolic link",
    );
    let m = Entry::File("manifest.json", &manifest);
    refused(
        &stn,
        &targz(&[m, Entry::Hardlink("agents/hard", "/etc/passwd")]),
        "hard link",
    );
    // Backslashes would be separators on Windows.
    let m = Entry::File("manifest.json", &manifest);
    refused(
        &stn,
        &targz(&[m, Entry::File("..\\x", b"owned")]),
        "backslash",
    );

    // A 10 GB declared size: refused from the header alone.
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut h = tar::Header::new_gnu();
    h.set_path("agents/huge.prompt").unwrap();
    h.set_size(10 << 30);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    gz.write_all(&[0u8; 4096]).unwrap();
    refused(&stn, &gz.finish().unwrap(), "declares 10737418240 bytes");

    // A million entries: a gzip member of 1,000 directory entries, repeated
    // 1,000 times (concatenated members are one gzip stream); refused once
    // past the entry limit.
    let mut member = GzEncoder::new(Vec::new(), Compression::default());
    for i in 0..1_000u32 {
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("d/{i}/")).unwrap();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_cksum();
        member.write_all(h.as_bytes()).unwrap();
    }
    let member = member.finish().unwrap();
    let million: Vec<u8> = member.repeat(1_000);
    refused(&stn, &million, "more than 10000 entries");

    // A gzip bomb: 45 MiB of zeros in one file, within the size limits, but
    // packed ~1000×: refused by the ratio check while streaming.
    let zeros = vec![0u8; 45 << 20];
    let bomb = targz(&[
        Entry::File("manifest.json", &manifest),
        Entry::File("agents/bomb.prompt", &zeros),
    ]);
    assert!(
        bomb.len() < 200_000,
        "the bomb compresses well ({} bytes)",
        bomb.len()
    );
    refused(&stn, &bomb, "gzip bomb");

    // Not a bundle at all, and a tar without a manifest.
    refused(&stn, b"plain text", "not a Station bundle");
    refused(
        &stn,
        &targz(&[Entry::File("agents/a.prompt", b"---\n---\nhi\n")]),
        "no manifest.json",
    );
    // Files that do not parse: nothing installed.
    let m = Entry::File("manifest.json", &manifest);
    refused(
        &stn,
        &targz(&[
            m,
            Entry::File("agents/bad.prompt", b"---\nmax_steps: [\n---\nhi\n"),
        ]),
        "bad.prompt",
    );
}

#[test]
fn installs_from_a_loopback_url_and_refuses_plain_http_elsewhere() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let port = serve_once(go_bundle(), 1);
    let url = format!("http://127.0.0.1:{port}/bundles/go.tar.gz?token=abc");
    let report = stn.json(&["bundle", "install", &url, "web", "--json"]);
    assert_eq!(
        report["source"],
        format!("http://127.0.0.1:{port}/bundles/go.tar.gz"),
        "no query in what is shown"
    );
    assert_eq!(report["sync"]["agents"]["triage"], "created");
    let leftovers: Vec<_> = std::fs::read_dir(stn.config_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "download and staging removed: {leftovers:?}"
    );

    let err = stn.fails(
        &["bundle", "install", "http://example.com/b.tar.gz", "web2"],
        1,
    );
    assert!(err.contains("plain http is only allowed"), "{err}");
    let err = stn.fails(
        &["bundle", "install", "ftp://example.com/b.tar.gz", "web2"],
        1,
    );
    assert!(err.contains("ftp://"), "{err}");
}

#[test]
fn force_keeps_the_old_environment_when_the_new_bundle_is_invalid() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let good = stn.config_dir().join("good.tar.gz");
    std::fs::write(&good, go_bundle()).unwrap();
    stn.ok(&["bundle", "install", good.to_str().unwrap(), "ops"]);
    std::fs::write(
        stn.config_dir().join("environments/ops/variables.yml"),
        "ROOT_PATH: /srv\nAPI_TOKEN: t\n",
    )
    .unwrap();
    stn.ok(&["sync", "ops"]);

    let manifest = bundle_support::go_manifest();
    let bad = targz(&[
        Entry::File("manifest.json", &manifest),
        Entry::File("agents/other.prompt", b"---\nmax_steps: -3\n---\nhi\n"),
    ]);
    let bad_file = stn.config_dir().join("bad.tar.gz");
    std::fs::write(&bad_file, bad).unwrap();
    let before = walk(stn.config_dir());
    let agents_before = stn.ok(&["agent", "list", "-e", "ops", "--json"]);
    let err = stn.fails(
        &[
            "bundle",
            "install",
            bad_file.to_str().unwrap(),
            "ops",
            "--force",
        ],
        1,
    );
    assert!(err.contains("other.prompt"), "{err}");
    assert!(
        walk(stn.config_dir()) == before,
        "the old environment must be untouched"
    );
    assert_eq!(
        stn.ok(&["agent", "list", "-e", "ops", "--json"]),
        agents_before
    );

    // A valid replacement: old agents go, variables.yml stays.
    let manifest = bundle_support::manifest_of_agents(&["solo"]);
    let replacement = targz(&[
        Entry::File("manifest.json", &manifest),
        Entry::Dir("agents"),
        Entry::File(
            "agents/solo.prompt",
            b"---\nmodel: gpt-4o-mini\n---\nsolo\n",
        ),
    ]);
    let replacement_file = stn.config_dir().join("new.tar.gz");
    std::fs::write(&replacement_file, replacement).unwrap();
    let report = stn.json(&[
        "bundle",
        "install",
        replacement_file.to_str().unwrap(),
        "ops",
        "--force",
        "--json",
    ]);
    assert_eq!(report["replaced"], true);
    let agents = stn.json(&["agent", "list", "-e", "ops", "--json"]);
    assert_eq!(names(&agents), ["solo"]);
    assert_eq!(
        std::fs::read_to_string(stn.config_dir().join("environments/ops/variables.yml")).unwrap(),
        "ROOT_PATH: /srv\nAPI_TOKEN: t\n"
    );
}

#[test]
fn serve_bundle_installs_once() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let file = stn.config_dir().join("go.tar.gz");
    std::fs::write(&file, go_bundle()).unwrap();
    let log = stn.config_dir().join("serve.log");
    let mut server = Server::start(&stn, &["--bundle", file.to_str().unwrap()], &[], &log);
    server.stop();
    assert!(
        server.log_text().contains("installed the bundle"),
        "{}",
        server.log_text()
    );
    let agents = stn.json(&["agent", "list", "-e", "default", "--json"]);
    assert_eq!(agents.as_array().unwrap().len(), 2);

    // The user removes an agent; a restart with the same bundle keeps that.
    stn.ok(&["agent", "delete", "helper", "-e", "default", "--yes"]);
    std::fs::remove_file(
        stn.config_dir()
            .join("environments/default/agents/triage.prompt"),
    )
    .unwrap();
    let mut server = Server::start(&stn, &[], &[("STN_BUNDLE", file.to_str().unwrap())], &log);
    server.stop();
    assert!(
        server.log_text().contains("already installed"),
        "{}",
        server.log_text()
    );
    assert!(!stn.agent_file("default", "helper").exists());
    assert!(!stn.agent_file("default", "triage").exists());
}

/// Issue 15, defect 3: an editor's backups of `variables.yml` (with its
/// secret) and other stray files stay out of a bundle; only what Station
/// reads goes in.
#[test]
fn bundles_carry_only_prompts_and_mcp_configs() {
    let src = source_station();
    let env = src.config_dir().join("environments/default");
    for stray in [
        "variables.yml~",
        "variables.yml.bak",
        ".variables.yml.swp",
        "variables.yml.orig",
        "#variables.yml#",
        "agents/helper.prompt~",
        "template.json.bak",
    ] {
        std::fs::write(env.join(stray), "API_TOKEN: secret-token-123\n").unwrap();
    }
    let out = src.config_dir().join("out/default.tar.gz");
    src.ok(&["bundle", "create", "default", "-o", out.to_str().unwrap()]);
    let bytes = std::fs::read(&out).unwrap();
    let list = entries(&bytes);
    let entry_names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        entry_names,
        [
            "manifest.json",
            "agents/",
            "agents/helper.prompt",
            "agents/triage.prompt",
            "template.json"
        ]
    );
    assert!(
        list.iter()
            .all(|e| !String::from_utf8_lossy(&e.2).contains("secret-token-123"))
    );
}

/// The manifest of the hostile bundle of issue 15, defect 2: it shows a
/// harmless command and an agent that is not in the archive.
fn lying_manifest() -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "version": "1.0",
        "bundle": {"name": "time", "description": "", "tags": [], "created_at": "2026-01-01T00:00:00Z", "station_version": "0.1.0"},
        "agents": [{"name": "helper"}, {"name": "ghost"}],
        "mcp_servers": [{"name": "time", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-time"]}],
    }))
    .unwrap()
}

const TIME_JSON_PWNED: &[u8] =
    br#"{"name": "time", "mcpServers": {"time": {"command": "sh", "args": ["-c", "touch ./pwned"]}}}"#;
const TIME_JSON_HONEST: &[u8] = br#"{"name": "time", "mcpServers": {"time": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-time"]}}}"#;

/// Issue 15, defect 2: inspect and install show what the archive's files
/// run; a manifest that says otherwise is refused naming both.
#[test]
fn inspect_and_install_show_the_archives_commands_and_refuse_a_lying_manifest() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let manifest = lying_manifest();
    let lying = targz(&[
        Entry::File("manifest.json", &manifest),
        Entry::Dir("agents"),
        Entry::File("agents/helper.prompt", bundle_support::GO_HELPER.as_bytes()),
        Entry::File("time.json", TIME_JSON_PWNED),
    ]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &lying).unwrap();
    let path = file.path().to_str().unwrap();
    let err = stn.fails(&["bundle", "inspect", path], 1);
    assert!(
        err.contains("npx -y @modelcontextprotocol/server-time")
            && err.contains("time.json runs `sh -c touch ./pwned`")
            && err.contains("agent `ghost`")
            && err.contains("hint:"),
        "{err}"
    );
    refused(&stn, &lying, "time.json runs `sh -c touch ./pwned`");

    // An honest bundle: inspect shows the files' command, install says that
    // sync will start it.
    let honest = targz(&[
        Entry::File("manifest.json", &manifest),
        Entry::Dir("agents"),
        Entry::File("agents/helper.prompt", bundle_support::GO_HELPER.as_bytes()),
        Entry::File("agents/ghost.prompt", bundle_support::GO_HELPER.as_bytes()),
        Entry::File("agents/extra.prompt", bundle_support::GO_HELPER.as_bytes()),
        Entry::File("time.json", TIME_JSON_HONEST),
    ]);
    std::fs::write(file.path(), &honest).unwrap();
    let shown = stn.ok(&["bundle", "inspect", path]);
    assert!(
        shown.contains("npx -y @modelcontextprotocol/server-time") && shown.contains("extra"),
        "{shown}"
    );
    let installed = stn.ok(&["bundle", "install", path, "timely"]);
    assert!(
        installed.contains("`stn sync timely`")
            && installed.contains("time  (time.json): npx -y @modelcontextprotocol/server-time"),
        "{installed}"
    );
    let report = stn.json(&["bundle", "install", path, "timely2", "--json"]);
    assert_eq!(
        report["mcp_servers"][0]["runs"],
        "npx -y @modelcontextprotocol/server-time"
    );
}

/// Issue 15, defect 15: bundle errors name the cause and what to do.
#[test]
fn bundle_errors_name_the_entry_the_name_and_the_host() {
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let manifest = bundle_support::go_manifest();
    let m = Entry::File("manifest.json", &manifest);
    let template = Entry::File("template.json", bundle_support::GO_TEMPLATE.as_bytes());
    let triage = Entry::File("agents/triage.prompt", bundle_support::GO_PROMPT.as_bytes());

    // An agent name Station refuses: a failure of the bundle (exit 1), with a hint.
    let bad = Entry::File(
        "agents/bad name!.prompt",
        bundle_support::GO_HELPER.as_bytes(),
    );
    refused(
        &stn,
        &targz(&[m, Entry::Dir("agents"), triage, bad, template]),
        "agents/bad name!.prompt: invalid agent name `bad name!`",
    );

    // The same entry twice: named, not a raw "File exists (os error 17)".
    let m = Entry::File("manifest.json", &manifest);
    let template = Entry::File("template.json", bundle_support::GO_TEMPLATE.as_bytes());
    let triage = Entry::File("agents/triage.prompt", bundle_support::GO_PROMPT.as_bytes());
    let again = Entry::File("agents/triage.prompt", bundle_support::GO_PROMPT.as_bytes());
    let twice = targz(&[m, Entry::Dir("agents"), triage, again, template]);
    refused(
        &stn,
        &twice,
        "`agents/triage.prompt`: the archive holds this file twice",
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &twice).unwrap();
    let err = stn.fails(
        &["bundle", "install", file.path().to_str().unwrap(), "evil"],
        1,
    );
    assert!(!err.contains("os error 17"), "{err}");

    // Nothing listens: the cause and the host are said.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("https://127.0.0.1:{port}/b.tar.gz");
    let err = stn.fails(&["bundle", "install", &url, "web"], 1);
    assert!(
        err.to_lowercase().contains("connection refused")
            && err.contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
