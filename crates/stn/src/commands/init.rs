//! `stn init`: a ready config dir and database.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use stn_core::config::{ConfigFile, Settings, UrlSource};

use crate::cli::InitArgs;
use crate::context;

pub async fn run(settings: &Settings, args: InitArgs) -> Result<ExitCode> {
    let dir = &settings.config_dir;
    // Private: config.yaml and litestream.yml may hold tokens.
    stn_core::files::create_private_dir(dir)
        .with_context(|| format!("cannot create the config dir {}", dir.display()))?;
    let config_path = settings.config_file();
    if !config_path.exists() {
        // Persist a database chosen on the command line; never a token, and
        // never an environment variable's value (it may carry one). A
        // relative path means "here" to the user who typed it, but config.yaml
        // resolves relative paths against the config dir: store it absolute.
        let database_url = match settings.database.local_path() {
            Some(path) if settings.database_source == UrlSource::Flag => Some(
                std::path::absolute(path)
                    .with_context(|| format!("cannot resolve {}", path.display()))?
                    .display()
                    .to_string(),
            ),
            _ => None,
        };
        ConfigFile {
            database_url,
            ..ConfigFile::default()
        }
        .save(&config_path)?;
        println!("wrote {}", config_path.display());
    }
    let station = context::open_or_create(settings).await?;
    let applied = station.migrate().await?;
    station.store().ensure_environment("default").await?;
    let agents_dir = station.layout().agents_dir("default");
    std::fs::create_dir_all(&agents_dir)
        .with_context(|| format!("cannot create {}", agents_dir.display()))?;
    println!(
        "database {} ready ({} migration(s) applied)",
        settings.database,
        applied.len()
    );
    println!("config dir {}", dir.display());
    if args.replicate {
        write_replication_config(settings)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `<config dir>/litestream.yml` for the local database, unless one exists.
fn write_replication_config(settings: &Settings) -> Result<()> {
    let Some(db_path) = settings.database.local_path() else {
        anyhow::bail!(
            "--replicate needs a local database, but the database is {} (a remote server keeps its own copies)",
            settings.database
        );
    };
    let db_path = std::path::absolute(db_path).with_context(|| db_path.display().to_string())?;
    let path = settings.config_dir.join("litestream.yml");
    if path.exists() {
        println!("{} exists; left as it is", path.display());
        return Ok(());
    }
    let text = stn_replicate::init_config_text(&db_path.display().to_string());
    stn_core::files::write_private(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {} (set LITESTREAM_S3_BUCKET and credentials; `stn serve --replicate` uses it)",
        path.display()
    );
    Ok(())
}
