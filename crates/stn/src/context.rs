//! What every command needs: logging, resolved settings, an open Station.

use anyhow::{Context as _, Result};
use stn_core::config::{Overrides, Settings};
use stn_core::{Layout, Station};
use stn_db::Database;

use crate::cli::{Global, LogFormat};

/// Sets up `tracing` on stderr: text or JSON, filter from `--log-level`, `STN_LOG`, or `warn`.
pub fn init_logging(global: &Global) -> Result<()> {
    let filter = global
        .log_level
        .clone()
        .or_else(|| std::env::var("STN_LOG").ok())
        .unwrap_or_else(|| default_level().to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid --log-level `{filter}`"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// `serve` logs requests at info; one-shot commands stay quiet unless asked.
fn default_level() -> &'static str {
    if std::env::args().nth(1).is_some_and(|a| a == "serve") {
        "info"
    } else {
        "warn"
    }
}

/// Settings resolved from flags, environment and config.yaml.
pub fn settings(global: &Global) -> Result<Settings> {
    let overrides = Overrides {
        config_dir: global.config_dir.clone(),
        database: global.database.clone(),
    };
    Ok(Settings::resolve(&overrides, &|var| {
        std::env::var(var).ok()
    })?)
}

/// Opens an existing database without touching the schema. A missing local
/// file is an error: only `init`, `serve` and `db migrate` create one.
pub async fn open(settings: &Settings) -> Result<Station> {
    let db = Database::open_existing(&settings.database).await?;
    Ok(Station::new(db, Layout::new(&settings.config_dir)))
}

/// Opens the database, creating a missing local file (`init`, `db migrate`).
pub async fn open_or_create(settings: &Settings) -> Result<Station> {
    let db = Database::open(&settings.database).await?;
    Ok(Station::new(db, Layout::new(&settings.config_dir)))
}

/// Opens the database and checks it is migrated (commands other than
/// init/serve/db migrate never change the schema on their own).
pub async fn open_migrated(settings: &Settings) -> Result<Station> {
    let station = open(settings).await?;
    station.require_migrated().await?;
    Ok(station)
}
