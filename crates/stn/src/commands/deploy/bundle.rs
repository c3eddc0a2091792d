//! Where a deployed instance's agents and MCP configs come from. Today the
//! environment directory is copied; once `stn_core::bundle` exists, a bundle
//! of the environment takes this place (docs/decisions/0013-deploy.md).

use std::path::Path;

use anyhow::{Context as _, Result};
use stn_core::Layout;

/// Puts an environment's files where a deployed instance reads them.
pub trait BundleSource {
    /// Replaces `dest` (the instance's `environments/ENV`) with environment `env`'s files.
    fn install_local(&self, env: &str, dest: &Path) -> Result<()>;
}

/// Copies `environments/ENV` of the deploying config dir.
pub struct EnvDirCopy<'a> {
    pub layout: &'a Layout,
}

impl BundleSource for EnvDirCopy<'_> {
    fn install_local(&self, env: &str, dest: &Path) -> Result<()> {
        let src = self.layout.env_dir(env);
        let parent = dest
            .parent()
            .context("an environment directory has a parent")?;
        std::fs::create_dir_all(parent)?;
        // Copy beside, then swap, so the instance never sees half a directory.
        let fresh = parent.join(format!(".{env}.new"));
        let old = parent.join(format!(".{env}.old"));
        let _ = std::fs::remove_dir_all(&fresh);
        let _ = std::fs::remove_dir_all(&old);
        copy_dir(&src, &fresh)
            .with_context(|| format!("cannot copy {} to {}", src.display(), fresh.display()))?;
        if dest.exists() {
            std::fs::rename(dest, &old)?;
        }
        std::fs::rename(&fresh, dest)?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let to = dst.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
