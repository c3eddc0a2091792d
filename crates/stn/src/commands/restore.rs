//! `stn restore` and `stn ltx`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use stn_core::config::Settings;
use stn_replicate::{
    IntegrityCheck, RestoreOptions, RestoreOutcome, RestoreProgress, list_files, restore,
};

use crate::cli::{IntegrityCheckArg, LtxArgs, RestoreArgs};
use crate::{output, replication};

pub async fn run_restore(settings: &Settings, args: RestoreArgs) -> Result<ExitCode> {
    let config = replication::load_config_unless_url(&args.config, settings, Some(&args.target))?;
    let replicas = replication::replicas_for(&args.target, config.as_ref())?;
    let output = match (&args.output, replication::is_url(&args.target)) {
        (Some(out), _) => out.clone(),
        (None, false) => PathBuf::from(&args.target),
        (None, true) => bail!("restoring from a URL needs -o PATH for the output database"),
    };
    // A process with the database open would keep writing to the replaced
    // file's unlinked inode: its writes would vanish from both copies.
    stn_db::ensure_not_in_use(&output)?;
    let mut options = RestoreOptions::new(&output);
    options.txid = args
        .txid
        .as_deref()
        .map(|hex| {
            u64::from_str_radix(hex.trim_start_matches("0x"), 16)
                .with_context(|| format!("--txid `{hex}` is not hexadecimal"))
        })
        .transpose()?;
    options.timestamp = args
        .timestamp
        .as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .with_context(|| {
                    format!("--timestamp `{t}` is not RFC 3339 (e.g. 2026-11-27T10:00:00Z)")
                })
        })
        .transpose()?;
    options.if_db_not_exists = args.if_db_not_exists;
    options.if_replica_exists = args.if_replica_exists;
    options.force = args.force;
    options.parallelism = args.parallelism.max(1);
    options.integrity_check = match args.integrity_check {
        IntegrityCheckArg::None => IntegrityCheck::None,
        IntegrityCheckArg::Quick => IntegrityCheck::Quick,
        IntegrityCheckArg::Full => IntegrityCheck::Full,
    };
    if std::io::stderr().is_terminal() {
        options.progress = Some(progress_bar());
    }
    // With several replicas, the first that holds a backup wins.
    let mut last_error = None;
    for client in &replicas {
        match restore(client, &options).await {
            Ok(outcome) => {
                report(&outcome, &output, client.url());
                return Ok(ExitCode::SUCCESS);
            }
            Err(e @ stn_replicate::Error::NoBackup { .. }) if replicas.len() > 1 => {
                last_error = Some(e)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last_error.map_or_else(
        || anyhow::anyhow!("no replica configured for {}", args.target),
        Into::into,
    ))
}

fn report(outcome: &RestoreOutcome, output: &std::path::Path, url: &str) {
    match outcome {
        RestoreOutcome::Restored {
            txid,
            files,
            bytes,
            duration,
        } => println!(
            "restored {} from {url}: TXID {txid:016x}, {files} file(s), {bytes} bytes in {:.2} s",
            output.display(),
            duration.as_secs_f64()
        ),
        RestoreOutcome::RestoredLegacy {
            generation,
            files,
            bytes,
            duration,
            ..
        } => println!(
            "restored {} from the Litestream v0.3 backup at {url} (generation {generation}): {files} file(s), {bytes} bytes in {:.2} s",
            output.display(),
            duration.as_secs_f64()
        ),
        RestoreOutcome::SkippedDbExists => {
            println!("{} exists; nothing restored", output.display())
        }
        RestoreOutcome::SkippedNoReplica => println!("no backup at {url}; nothing restored"),
    }
}

fn progress_bar() -> Box<dyn Fn(RestoreProgress) + Send + Sync> {
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} restoring {bar:40} {bytes}/{total_bytes} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Box::new(move |event| match event {
        RestoreProgress::Planned { files, bytes, .. } => {
            bar.set_length(bytes);
            bar.set_message(format!("{files} file(s)"));
        }
        RestoreProgress::Downloaded { bytes_done, .. } => bar.set_position(bytes_done),
        RestoreProgress::Writing => bar.set_message("writing"),
        RestoreProgress::Checking => bar.set_message("checking"),
    })
}

pub async fn run_ltx(settings: &Settings, args: LtxArgs) -> Result<ExitCode> {
    let config = replication::load_config_unless_url(&args.config, settings, Some(&args.target))?;
    let level = match args.level.as_str() {
        "all" => None,
        n => Some(
            n.parse::<u8>()
                .ok()
                .filter(|l| *l <= 9)
                .with_context(|| format!("--level `{n}` is not 0-9 or all"))?,
        ),
    };
    let mut listing = Vec::new();
    for client in replication::replicas_for(&args.target, config.as_ref())? {
        let files = list_files(&client, level).await?;
        listing.push((client.url().to_owned(), files));
    }
    let created = |f: &stn_replicate::LtxFileInfo| {
        f.last_modified
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    if args.json.json {
        let rows: Vec<serde_json::Value> = listing
            .iter()
            .flat_map(|(url, files)| {
                files.iter().map(move |f| {
                    serde_json::json!({
                        "replica": url,
                        "level": f.level,
                        "min_txid": format!("{:016x}", f.min_txid),
                        "max_txid": format!("{:016x}", f.max_txid),
                        "size": f.size,
                        "created_at": created(f),
                    })
                })
            })
            .collect();
        return output::json(&rows).map(|()| ExitCode::SUCCESS);
    }
    for (url, files) in &listing {
        println!("{url}");
        let rows: Vec<Vec<String>> = files
            .iter()
            .map(|f| {
                vec![
                    f.level.to_string(),
                    format!("{:016x}", f.min_txid),
                    format!("{:016x}", f.max_txid),
                    f.size.to_string(),
                    created(f),
                ]
            })
            .collect();
        output::table(&["LEVEL", "MIN_TXID", "MAX_TXID", "SIZE", "CREATED"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
