//! `stn bundle install`: unpack into a staging directory inside the config dir,
//! parse every file, move the directory into place with a rename, and sync the
//! environment into the database at once. Any failure leaves the config dir and
//! the database as they were. With `force`, the old environment directory is
//! moved aside and deleted only once the new one is in place and synced.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::contents::{VARIABLES_FILES, read_environment};
use super::error::BundleError;
use super::extract::{Limits, extract_bundle, sync_dir};
use super::manifest::required_variables;
use super::source::BundleSource;
use super::verify::{ServerCommand, check, server_commands};
use crate::error::{CoreError, Result};
use crate::files::variables::Variables;
use crate::layout::Layout;
use crate::station::Station;
use crate::store::validate_name;
use crate::sync::SyncReport;

static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How to install.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// Replace an existing environment (its `variables.yml` is kept).
    pub force: bool,
    /// Limits against archive bombs.
    pub limits: Limits,
    /// Keep the environment's agents that have no file in the bundle (made
    /// through the API of a deployed instance) instead of removing them.
    pub keep_agents_without_file: bool,
}

/// A variable the installed MCP configs need that `variables.yml` lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingVariable {
    /// `NAME` of `{{ .NAME }}`.
    pub name: String,
    /// Which files use it.
    pub used_by: String,
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// The environment installed into.
    pub environment: String,
    /// The file or URL.
    pub source: String,
    /// SHA-256 of the bundle.
    pub sha256: String,
    /// `bundle.name` of the manifest (the environment it was made from).
    pub bundle_name: String,
    /// True when an existing environment was replaced.
    pub replaced: bool,
    /// The environment directory.
    pub directory: String,
    /// Where the missing variables go.
    pub variables_file: String,
    /// Variables to set before the MCP servers can start.
    pub missing_variables: Vec<MissingVariable>,
    /// The MCP servers installed, from their files: the commands `stn sync`
    /// (and `stn serve`) start on this machine.
    pub mcp_servers: Vec<ServerCommand>,
    /// The database sync of the environment.
    pub sync: SyncReport,
}

/// A staging directory in the config dir, removed (with whatever is left in
/// it) when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove the staging directory");
        }
    }
}

impl Station {
    /// Installs a bundle into environment `env`; see the module docs.
    pub async fn install_bundle(
        &self,
        source: &BundleSource,
        env: &str,
        options: &InstallOptions,
    ) -> Result<InstallReport> {
        validate_name("environment", env)?;
        let layout = self.layout().clone();
        let target = layout.env_dir(env);
        let replaced = target.exists();
        if replaced && !options.force {
            return Err(BundleError::EnvironmentExists {
                env: env.to_owned(),
                dir: target.display().to_string(),
            }
            .into());
        }
        let root = layout.root().to_path_buf();
        if !root.is_dir() {
            return Err(CoreError::Invalid(format!(
                "the config dir {} does not exist; run `stn init` first",
                root.display()
            )));
        }
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let staging = Staging(root.join(format!(".bundle-install-{}-{n}", std::process::id())));
        let staged = Layout::new(&staging.0);
        let staged_env = staged.env_dir(env);
        std::fs::create_dir_all(&staged_env).map_err(|e| CoreError::io(&staged_env, e))?;

        let (path, name, limits) = (
            source.path().to_path_buf(),
            source.name().to_owned(),
            options.limits,
        );
        let into = staged_env.clone();
        let manifest = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path).map_err(|e| CoreError::io(&path, e))?;
            extract_bundle(std::io::BufReader::new(file), &name, &into, &limits)
        })
        .await
        .map_err(|e| CoreError::Invalid(format!("unpacking the bundle: {e}")))??;
        let files = read_environment(&staged, env)?;
        check(source.name(), &manifest, &files)?;
        if replaced {
            keep_variables(&target, &staged_env)?;
        }

        let existed_in_db = self.store().environment(env).await.is_ok();
        let aside = staging.0.join("replaced");
        move_into_place(&target, &staged_env, replaced.then_some(aside.as_path()))?;
        let prune = !options.keep_agents_without_file;
        let sync = match self.sync_environment(env, prune).await {
            Ok(sync) => sync,
            Err(e) => {
                self.undo_install(
                    env,
                    &target,
                    replaced.then_some(aside.as_path()),
                    existed_in_db,
                )
                .await;
                return Err(e);
            }
        };

        let variables = Variables::load(&target)?;
        let missing_variables = required_variables(&files.mcp_configs)
            .into_iter()
            .filter(|v| variables.get(&v.name).is_none())
            .map(|v| MissingVariable {
                name: v.name,
                used_by: v.description,
            })
            .collect();
        Ok(InstallReport {
            environment: env.to_owned(),
            source: source.name().to_owned(),
            sha256: source.sha256().to_owned(),
            bundle_name: manifest.bundle.name,
            replaced,
            directory: target.display().to_string(),
            variables_file: target.join(VARIABLES_FILES[0]).display().to_string(),
            missing_variables,
            mcp_servers: server_commands(&files),
            sync,
        })
    }

    /// Installs `source` unless a bundle with the same SHA-256 was installed
    /// into this database before (a `settings` row records it, so the record
    /// lives and moves with the database). Used by `stn serve --bundle`: a
    /// restart never reinstalls over the user's changes. An environment that
    /// already has agents or MCP configs is not replaced, unless `replace`:
    /// a deployment ships a new bundle when its environment changed, and that
    /// bundle is then what the instance must serve (`variables.yml` is kept).
    pub async fn install_bundle_once(
        &self,
        source: &BundleSource,
        env: &str,
        limits: &Limits,
        replace: bool,
    ) -> Result<Option<InstallReport>> {
        let key = format!("bundle_installed:{}", source.sha256());
        if self.store().setting(&key).await?.is_some() {
            return Ok(None);
        }
        let layout = self.layout();
        let has_files = !layout.agent_names(env).unwrap_or_default().is_empty()
            || !layout.mcp_config_names(env).unwrap_or_default().is_empty();
        if has_files && !replace {
            return Err(CoreError::Invalid(format!(
                "environment `{env}` already has agents or MCP configs ({}); not installing the bundle \
                 over them. Install it with `stn bundle install {} {env} --force`, or pick another \
                 environment with --bundle-env",
                layout.env_dir(env).display(),
                source.name()
            )));
        }
        // A deployed instance's agents made through its API have no file:
        // a new bundle must not take them away.
        let options = InstallOptions {
            force: true,
            limits: *limits,
            keep_agents_without_file: replace,
        };
        let report = self.install_bundle(source, env, &options).await?;
        let record = serde_json::json!({
            "source": report.source,
            "environment": env,
            "installed_at": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        });
        self.store()
            .set_setting(
                &key,
                &record.to_string(),
                "a bundle installed by `stn serve --bundle`",
            )
            .await?;
        Ok(Some(report))
    }

    /// Puts back what a failed install replaced: the old directory and its
    /// agents, or no environment at all.
    async fn undo_install(
        &self,
        env: &str,
        target: &Path,
        aside: Option<&Path>,
        existed_in_db: bool,
    ) {
        let _ = std::fs::remove_dir_all(target);
        if let Some(aside) = aside
            && let Err(e) = std::fs::rename(aside, target)
        {
            tracing::error!(dir = %aside.display(), error = %e, "could not move the old environment back");
        }
        let undone = if aside.is_some() {
            self.sync_environment(env, true).await.map(drop)
        } else if !existed_in_db {
            self.store().delete_environment(env).await.map(drop)
        } else {
            Ok(())
        };
        if let Err(e) = undone {
            tracing::error!(environment = env, error = %e, "could not restore the environment in the database");
        }
    }
}

/// Copies the old environment's `variables.yml` into the new one: bundles
/// never carry secrets, so replacing an environment must not lose them.
fn keep_variables(old: &Path, new: &Path) -> Result<()> {
    for name in VARIABLES_FILES {
        let from = old.join(name);
        if from.is_file() {
            let to = new.join(name);
            std::fs::copy(&from, &to).map_err(|e| CoreError::io(&to, e))?;
            std::fs::File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(|e| CoreError::io(&to, e))?;
        }
    }
    Ok(())
}

/// Renames `staged` to `target`; an existing `target` is first renamed to
/// `aside` (and renamed back if the second step fails).
fn move_into_place(target: &Path, staged: &Path, aside: Option<&Path>) -> Result<()> {
    let parent = target
        .parent()
        .ok_or_else(|| CoreError::Invalid(format!("{} has no parent", target.display())))?;
    std::fs::create_dir_all(parent).map_err(|e| CoreError::io(parent, e))?;
    if let Some(aside) = aside {
        std::fs::rename(target, aside).map_err(|e| CoreError::io(target, e))?;
    }
    if let Err(e) = std::fs::rename(staged, target) {
        if let Some(aside) = aside {
            let _ = std::fs::rename(aside, target);
        }
        return Err(CoreError::io(target, e));
    }
    sync_dir(parent).map_err(|e| CoreError::io(parent, e))
}
