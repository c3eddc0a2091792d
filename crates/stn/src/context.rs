//! What every command needs: logging, resolved settings, an open Station.

use anyhow::{Context as _, Result};
use stn_core::config::{Overrides, Settings};
use stn_core::go_import::{self, GoImportReport};
use stn_core::{Layout, Station};
use stn_db::{Database, OpenOptions};

use crate::cli::{Global, LogFormat};

/// Sets up `tracing` on stderr: text or JSON, filter from `--log-level`,
/// `STN_LOG`, or `info` for a server and `warn` for everything else.
pub fn init_logging(global: &Global, serving: bool) -> Result<()> {
    let filter = global
        .log_level
        .clone()
        .or_else(|| std::env::var("STN_LOG").ok())
        .unwrap_or_else(|| default_level(serving).to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid --log-level `{filter}`"))?;
    // No colour codes in a log file (`stn deploy` sends serve's stderr to one).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// `serve` logs requests at info; one-shot commands stay quiet unless asked.
fn default_level(serving: bool) -> &'static str {
    if serving { "info" } else { "warn" }
}

/// Settings resolved from flags, environment and config.yaml.
pub fn settings(global: &Global) -> Result<Settings> {
    let overrides = Overrides {
        config_dir: global.config_dir.clone(),
        database: global.database.clone(),
    };
    let settings = Settings::resolve(&overrides, &|var| std::env::var(var).ok())?;
    warn_about_exposed_files(&settings);
    Ok(settings)
}

/// Warns, once per command, about config files that may hold tokens and
/// that other users can read (created before Station made them private, or
/// by hand).
fn warn_about_exposed_files(settings: &Settings) {
    let dir = &settings.config_dir;
    let candidates = [
        (dir.clone(), "700"),
        (settings.config_file(), "600"),
        (dir.join("litestream.yml"), "600"),
    ];
    for (path, mode) in candidates {
        if stn_core::files::readable_by_others(&path) {
            tracing::warn!(path = %path.display(), "may hold secrets and is open to group or others");
            eprintln!(
                "warning: {} is readable by other users and may hold secrets; run `chmod {mode} {}`",
                path.display(),
                path.display()
            );
        }
    }
}

/// Opens an existing database without touching the schema. A missing local
/// file is an error: only `init`, `serve` and `db migrate` create one. A Go
/// original's database is refused before it is opened (opening switches it
/// to WAL mode).
pub async fn open(settings: &Settings) -> Result<Station> {
    refuse_go_database(settings)?;
    let options = OpenOptions {
        must_exist: true,
        ..settings.open_options()
    };
    let db = Database::open_with(&settings.database, &options).await?;
    Ok(Station::new(db, Layout::new(&settings.config_dir)))
}

/// Opens the database, creating a missing local file (`init`, `db migrate`).
pub async fn open_or_create(settings: &Settings) -> Result<Station> {
    refuse_go_database(settings)?;
    let db = Database::open_with(&settings.database, &settings.open_options()).await?;
    Ok(Station::new(db, Layout::new(&settings.config_dir)))
}

/// A Go original's database must be converted (`stn db migrate`) before
/// anything else opens it.
fn refuse_go_database(settings: &Settings) -> Result<()> {
    if let Some(path) = settings.database.local_path()
        && go_import::is_go_database(path)?
    {
        return Err(stn_core::CoreError::GoDatabase {
            database: path.display().to_string(),
        }
        .into());
    }
    Ok(())
}

/// Opens the database and checks it is migrated (commands other than
/// init/serve/db migrate never change the schema on their own).
pub async fn open_migrated(settings: &Settings) -> Result<Station> {
    let station = open(settings).await?;
    station.require_migrated().await?;
    Ok(station)
}

/// Converts a Go original's database in place (after a backup copy beside it)
/// and says so on stderr; what `stn db migrate` and `stn serve` do first.
pub async fn upgrade_go_database(settings: &Settings) -> Result<Option<GoImportReport>> {
    let Some(path) = settings.database.local_path() else {
        return Ok(None);
    };
    let Some(report) = go_import::upgrade_if_go(path).await? else {
        return Ok(None);
    };
    print_go_summary(&report);
    tracing::info!(database = %report.database, backup = %report.backup, "converted a Go Station database");
    Ok(Some(report))
}

/// The conversion's summary on stderr: counts, then everything not carried over.
fn print_go_summary(report: &GoImportReport) {
    let reused = if report.backup_reused {
        " (the copy an earlier attempt made of the same bytes)"
    } else {
        ""
    };
    eprintln!(
        "converted the Go Station database {} (goose version {}); the original is saved as {}{reused}",
        report.database, report.goose_version, report.backup
    );
    for t in &report.tables {
        eprintln!("  {:<24} {:>8} -> {:>8}", t.table, t.go_rows, t.stn_rows);
    }
    let h = &report.history;
    eprintln!(
        "  run history: {} tool calls of {} runs as {} steps, {} debug log lines as run logs",
        h.tool_calls, h.runs_with_steps, h.steps, h.logs
    );
    for u in &h.unreadable {
        eprintln!(
            "  run {}: `{}` is not a JSON array; kept as text on the run, no steps made",
            u.run_id, u.column
        );
    }
    if report.scheduled_agents > 0 {
        eprintln!(
            "  {} agent(s) on a cron schedule: each starts at its next slot after `stn serve` starts; slots due before are not run",
            report.scheduled_agents
        );
    }
    eprintln!("not carried over (kept only in the backup):");
    for t in &report.not_carried_over {
        eprintln!("  table {:<30} {:>8} rows", t.table, t.go_rows);
    }
    for v in &report.views_not_carried_over {
        eprintln!("  view  {v}");
    }
    for c in &report.columns_not_carried_over {
        eprintln!(
            "  column {}.{} ({} rows with a value): {}",
            c.table, c.column, c.rows_with_value, c.reason
        );
    }
}
