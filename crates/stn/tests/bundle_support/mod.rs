//! Building bundles by hand for the bundle tests: Go-shaped ones and hostile ones.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

/// One entry of a hand-built archive.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar.gz of `entries`, in order, with raw names (no checks, no `./` added).
pub fn targz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for entry in entries {
        let mut h = Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        match entry {
            Entry::File(name, data) => {
                h.set_entry_type(EntryType::Regular);
                h.set_size(data.len() as u64);
                raw_name(&mut h, name);
                h.set_cksum();
                tar.append(&h, *data).unwrap();
            }
            Entry::Dir(name) => {
                h.set_entry_type(EntryType::Directory);
                h.set_size(0);
                raw_name(&mut h, name);
                h.set_cksum();
                tar.append(&h, &[][..]).unwrap();
            }
            Entry::Symlink(name, target) | Entry::Hardlink(name, target) => {
                h.set_entry_type(if matches!(entry, Entry::Symlink(..)) {
                    EntryType::Symlink
                } else {
                    EntryType::Link
                });
                h.set_size(0);
                raw_name(&mut h, name);
                h.set_link_name(target).unwrap();
                h.set_cksum();
                tar.append(&h, &[][..]).unwrap();
            }
        }
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Writes the name bytes as they are: `set_path` refuses `..` and absolute
/// names, which is exactly what a hostile archive has.
fn raw_name(h: &mut Header, name: &str) {
    let bytes = name.as_bytes();
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name = [0; 100];
    gnu.name[..bytes.len()].copy_from_slice(bytes);
}

/// The manifest the Go original writes (nil slices as `null`).
pub fn go_manifest() -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "version": "1.0",
        "bundle": {
            "name": "go-env",
            "description": "made by Go Station",
            "tags": null,
            "created_at": "2025-06-01T10:00:00Z",
            "station_version": "v0.21.3"
        },
        "agents": [{
            "name": "triage",
            "description": "Triage incidents",
            "model": "gpt-4o-mini",
            "max_steps": 8,
            "tags": ["ops"],
            "tools": ["__read_text_file"],
            "mcp_servers": null
        }],
        "mcp_servers": [{
            "name": "filesystem",
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "{{ .ROOT_PATH }}"],
            "env": null,
            "tools": null,
            "description": "files"
        }],
        "tools": null,
        "workflows": null,
        "agent_mcp_relationships": null,
        "required_variables": [{"name": "ROOT_PATH", "description": "", "type": "string", "required": true}],
        "reports": null,
        "datasets": null
    }))
    .unwrap()
}

/// A manifest listing just `agents` and no MCP server, for bundles of agents only.
pub fn manifest_of_agents(agents: &[&str]) -> Vec<u8> {
    let agents: Vec<serde_json::Value> = agents
        .iter()
        .map(|name| serde_json::json!({"name": name}))
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "version": "1.0",
        "bundle": {"name": "agents-only"},
        "agents": agents,
        "mcp_servers": [],
    }))
    .unwrap()
}

pub const GO_PROMPT: &str = "---\nmetadata:\n  name: \"triage\"\n  description: \"Triage incidents\"\n  tags: [\"ops\"]\n  version: \"1.0.0\"\nmodel: gpt-4o-mini\nmax_steps: 8\ntools:\n  - \"__read_text_file\"\nagents:\n  - \"helper\"\n---\n\n{{role \"system\"}}\nYou triage incidents.\n\n{{role \"user\"}}\n{{userInput}}\n";

pub const GO_HELPER: &str = "---\nmetadata:\n  name: \"helper\"\n  description: \"Helps\"\nmodel: gpt-4o-mini\nmax_steps: 3\n---\n\nYou help.\n";

pub const GO_TEMPLATE: &str = "{\n  \"name\": \"template\",\n  \"description\": \"files\",\n  \"mcpServers\": {\n    \"filesystem\": {\n      \"command\": \"npx\",\n      \"args\": [\"-y\", \"@modelcontextprotocol/server-filesystem\", \"{{ .ROOT_PATH }}\"],\n      \"env\": {\"API_TOKEN\": \"{{.API_TOKEN}}\"}\n    }\n  }\n}\n";

/// A bundle laid out as the Go original writes one: manifest first, then the
/// directory by relative path without `./`, directories as entries.
pub fn go_bundle() -> Vec<u8> {
    let manifest = go_manifest();
    targz(&[
        Entry::File("manifest.json", &manifest),
        Entry::Dir("agents"),
        Entry::File("agents/helper.prompt", GO_HELPER.as_bytes()),
        Entry::File("agents/triage.prompt", GO_PROMPT.as_bytes()),
        Entry::Dir("skills"),
        Entry::File("skills/runbook.md", b"# Runbook\n"),
        Entry::File("template.json", GO_TEMPLATE.as_bytes()),
    ])
}

/// Every file and directory under `root` with its size and a hash of its
/// bytes, for "nothing changed" checks. The database files are left out (the
/// callers compare the database through the CLI).
pub fn walk(root: &Path) -> BTreeMap<PathBuf, (bool, Vec<u8>)> {
    let mut out = BTreeMap::new();
    walk_into(root, root, &mut out);
    out
}

fn walk_into(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (bool, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        if rel.to_string_lossy().starts_with("station.db") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            out.insert(rel, (true, Vec::new()));
            walk_into(root, &path, out);
        } else {
            out.insert(rel, (false, std::fs::read(&path).unwrap()));
        }
    }
}

/// Names, types and bytes of a tar.gz's entries, in order.
pub fn entries(bytes: &[u8]) -> Vec<(String, EntryType, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().to_vec()).unwrap();
            let kind = e.header().entry_type();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, kind, data)
        })
        .collect()
}

/// Serves `body` at any path on a loopback port, for `count` requests.
pub fn serve_once(body: Vec<u8>, count: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

/// The `name` of each element of a JSON array.
pub fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}
