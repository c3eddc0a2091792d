//! `stn bundle create`: an environment directory as a gzip'd tar in the Go
//! original's layout: `manifest.json` first, then every file by its relative
//! path (no `./`), directories as their own entries.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

use super::contents::{bundle_paths, read_environment};
use super::manifest::{MANIFEST_NAME, Manifest};
use crate::error::{CoreError, Result};
use crate::files::write_atomic;
use crate::layout::Layout;
use crate::station::Station;

/// Writes the bundle of `env` to `out` and returns its manifest. Reads only the
/// config dir; `tools_by_server` (server name → tool names) comes from the
/// database when there is one.
pub fn write_bundle<W: Write>(
    layout: &Layout,
    env: &str,
    tools_by_server: &BTreeMap<String, Vec<String>>,
    out: W,
) -> Result<Manifest> {
    let env_dir = layout.env_dir(env);
    if !env_dir.is_dir() {
        return Err(CoreError::NotFound {
            what: "environment",
            name: env.to_owned(),
            place: format!(" (no directory {})", env_dir.display()),
        });
    }
    let files = read_environment(layout, env)?;
    let created_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let manifest = Manifest::describe(
        env,
        &files.prompts,
        &files.mcp_configs,
        tools_by_server,
        created_at,
    );
    let paths = bundle_paths(layout, env)?;

    let tar_error = |e: std::io::Error| CoreError::io(&env_dir, e);
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let manifest_json = manifest.to_json();
    append(&mut tar, MANIFEST_NAME, false, &manifest_json, now).map_err(tar_error)?;
    for (rel, is_dir) in paths {
        let name = tar_name(&rel);
        if is_dir {
            append(&mut tar, &format!("{name}/"), true, &[], now).map_err(tar_error)?;
        } else {
            let path = env_dir.join(&rel);
            let data = std::fs::read(&path).map_err(|e| CoreError::io(&path, e))?;
            append(&mut tar, &name, false, &data, now).map_err(tar_error)?;
        }
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut out| out.flush())
        .map_err(tar_error)?;
    Ok(manifest)
}

/// Relative path with `/` separators, whatever the platform.
fn tar_name(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    is_dir: bool,
    data: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_entry_type(if is_dir {
        EntryType::Directory
    } else {
        EntryType::Regular
    });
    header.set_mode(if is_dir { 0o755 } else { 0o644 });
    header.set_size(data.len() as u64);
    header.set_mtime(mtime);
    tar.append_data(&mut header, name, data)
}

impl Station {
    /// The tools the database knows for each MCP server of `env`.
    pub async fn tools_by_server(&self, env: &str) -> Result<BTreeMap<String, Vec<String>>> {
        Ok(self
            .store()
            .list_mcp_servers(Some(env))
            .await?
            .into_iter()
            .map(|server| (server.spec.name, server.tools))
            .collect())
    }

    /// Writes the bundle of `env` to `out` (e.g. a file, a pipe, an image layer).
    pub async fn create_bundle<W: Write>(&self, env: &str, out: W) -> Result<Manifest> {
        let tools = self.tools_by_server(env).await?;
        write_bundle(self.layout(), env, &tools, out)
    }

    /// Writes the bundle of `env` to `path` durably (temp file, fsync, rename),
    /// so a crash never leaves half a bundle under the final name.
    pub async fn create_bundle_file(&self, env: &str, path: &Path) -> Result<Manifest> {
        let mut bytes = Vec::new();
        let manifest = self.create_bundle(env, &mut bytes).await?;
        write_atomic(path, &bytes).map_err(|e| CoreError::io(path, e))?;
        Ok(manifest)
    }
}
