//! Carrying out a restore plan: stream every planned file into the merge
//! that writes `OUT.tmp`, check it, and only then put it in place.
//!
//! The output path is not touched before the new database is complete and
//! synced, so a corrupt replica fails the restore naming the object key and
//! leaves an existing database exactly as it was. Each file is decoded
//! once, while `OUT.tmp` is written (every page and checksum is checked on
//! the way), as it arrives (`fetch.rs`); only when that fails are the files
//! fetched again and verified one by one, to name the damaged object.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use stn_ltx::{Header, Reader, Writer};

use super::fetch::{self, Input, Progress};
use super::options::{RestoreOptions, RestoreProgress};
use super::output::{self, ImageFile, blocking};
use super::plan::{Plan, Step};
use crate::error::{Error, Result};
use crate::fs::{io_error, remove_dir_if_exists, remove_if_exists, with_suffix};
use crate::storage::ReplicaClient;

/// Restores `plan` into `options.output`; returns the bytes downloaded.
pub(super) async fn apply(
    client: &ReplicaClient,
    plan: &Plan,
    options: &RestoreOptions,
) -> Result<u64> {
    let tmp = output::prepare(&options.output)?;
    let staging = with_suffix(&options.output, ".tmp-ltx");
    remove_dir_if_exists(&staging)?;
    std::fs::create_dir(&staging).map_err(io_error(&staging))?;

    let result = fetch_and_write(client, plan, options, &staging, &tmp).await;
    // The staged copies are only ever useful to this run.
    let cleanup = remove_dir_if_exists(&staging);
    let result = match result {
        Ok(bytes) => output::finish(&tmp, options).await.map(|()| bytes),
        Err(err) => Err(err),
    };
    match result {
        Ok(bytes) => cleanup.map(|()| bytes),
        Err(err) => {
            output::discard(&tmp, &err);
            Err(err)
        }
    }
}

/// A planned file opened for the merge.
struct Opened {
    input: Input,
    /// The plan step whose header to check; `None` for a rewritten copy,
    /// which was checked completely while rewritten.
    check: Option<Step>,
    /// The object's key, to name it in errors.
    key: String,
}

/// Fetches the plan's files and merges them into `tmp`, synced, at the
/// same time; returns the bytes downloaded.
async fn fetch_and_write(
    client: &ReplicaClient,
    plan: &Plan,
    options: &RestoreOptions,
    staging: &Path,
    tmp: &Path,
) -> Result<u64> {
    let bytes: u64 = plan.steps.iter().map(|step| step.file.size).sum();
    let progress = Progress::new(options, plan.steps.len(), bytes);
    let mut opened = Vec::with_capacity(plan.steps.len());
    let mut feeds = Vec::new();
    for (at, step) in plan.steps.iter().enumerate() {
        let key = client.ltx_key(step.file.level, step.file.min_txid, step.file.max_txid);
        let rebase_it = step.from_txid != step.file.min_txid;
        let input = if rebase_it {
            // Rare (levels overlap): merging needs contiguous TXIDs, so the
            // file is rewritten to start at `from_txid` first.
            let path = staging.join(format!("{at:05}.ltx"));
            let rebased = stage_rebased(client, step, &key, path).await?;
            progress.file_done(step.file.size);
            Input::local(rebased)
        } else if let Some(path) = client.local_ltx_path(&step.file) {
            let file = File::open(&path).map_err(io_error(&path))?;
            progress.file_done(step.file.size);
            Input::local(file)
        } else {
            let (tx, reader) = fetch::channel();
            feeds.push(fetch::feed(client, &step.file, tx, &progress));
            Input::Remote(reader)
        };
        opened.push(Opened {
            input,
            check: (!rebase_it).then(|| step.clone()),
            key,
        });
    }

    options.report(RestoreProgress::Writing);
    let tmp_path = tmp.to_path_buf();
    let write = blocking(move || write_image_file(opened, &tmp_path));
    let (fed, written) = tokio::join!(futures::future::try_join_all(feeds), write);
    // A failed download ends its file early; its error is the real one.
    fed?;
    match written? {
        Ok(()) => Ok(bytes),
        Err(err) => {
            // Name the damaged object, if one is; otherwise what fails is
            // how the files fit together.
            verify_each(client, plan, staging).await?;
            Err(Error::Plan {
                url: client.url().to_owned(),
                detail: err.to_string(),
            })
        }
    }
}

/// Downloads a file that overlaps earlier steps and rewrites it to start
/// at `step.from_txid` (verifying it completely on the way).
async fn stage_rebased(
    client: &ReplicaClient,
    step: &Step,
    key: &str,
    path: PathBuf,
) -> Result<File> {
    client.download_ltx(&step.file, &path).await?;
    let (step, key) = (step.clone(), key.to_owned());
    blocking(move || {
        let input = BufReader::new(File::open(&path).map_err(io_error(&path))?);
        let rebased = path.with_extension("rebased.ltx");
        let out = BufWriter::new(File::create(&rebased).map_err(io_error(&rebased))?);
        rebase(input, &step, &key, out)?;
        File::open(&rebased).map_err(io_error(&rebased))
    })
    .await
}

/// Fetches every file of the plan again and verifies it alone, failing
/// with the first damaged one.
async fn verify_each(client: &ReplicaClient, plan: &Plan, staging: &Path) -> Result<()> {
    for (at, step) in plan.steps.iter().enumerate() {
        let key = client.ltx_key(step.file.level, step.file.min_txid, step.file.max_txid);
        let path = match client.local_ltx_path(&step.file) {
            Some(path) => path,
            None => {
                let path = staging.join(format!("{at:05}.verify.ltx"));
                client.download_ltx(&step.file, &path).await?;
                path
            }
        };
        let (step, staged) = (step.clone(), path.clone());
        blocking(move || {
            let input = BufReader::new(File::open(&staged).map_err(io_error(&staged))?);
            verify(input, &step, &key)
        })
        .await?;
        if !path.starts_with(staging) {
            continue;
        }
        remove_if_exists(&path)?;
    }
    Ok(())
}

/// Reads `input` (the object `key`) to its end, which checks every page
/// and the checksum, and that its header is the file the key names.
fn verify<R: Read>(input: R, step: &Step, key: &str) -> Result<()> {
    let mut reader = open_checked(input, step, key)?;
    let mut page = vec![0u8; reader.header().page_size as usize];
    while reader
        .next_page_into(&mut page)
        .map_err(ltx_error(key))?
        .is_some()
    {}
    Ok(())
}

/// Copies `input` into `out` as a file covering `step.from_txid..=max`,
/// verifying `input` on the way. Applied after the steps before it, it
/// changes the database exactly as the original does: every page it holds
/// is the page's version at its max TXID.
pub(super) fn rebase<R: Read, W: Write>(input: R, step: &Step, key: &str, out: W) -> Result<()> {
    let mut reader = open_checked(input, step, key)?;
    let header = Header {
        min_txid: step.from_txid,
        ..*reader.header()
    };
    // Reading errors name the object; writing errors are local disk trouble.
    let staged_copy = format!("{key} (rewriting the staged copy)");
    let write_error = ltx_error(&staged_copy);
    let mut writer = Writer::new(out, header).map_err(&write_error)?;
    let mut page = vec![0u8; header.page_size as usize];
    while let Some(pgno) = reader.next_page_into(&mut page).map_err(ltx_error(key))? {
        writer.write_page(pgno, &page).map_err(&write_error)?;
    }
    writer.finish().map_err(&write_error)?;
    Ok(())
}

fn open_checked<R: Read>(input: R, step: &Step, key: &str) -> Result<Reader<R>> {
    let reader = Reader::new(input).map_err(ltx_error(key))?;
    let header = reader.header();
    if (header.min_txid, header.max_txid) != (step.file.min_txid, step.file.max_txid) {
        return Err(Error::CorruptFile {
            file: key.to_owned(),
            detail: format!(
                "its header covers TXIDs {:#x}..={:#x}, not what its name says",
                header.min_txid, header.max_txid
            ),
        });
    }
    Ok(reader)
}

fn ltx_error(key: &str) -> impl Fn(stn_ltx::Error) -> Error + '_ {
    move |source| Error::Ltx {
        file: key.to_owned(),
        source,
    }
}

/// Merges the opened files into a database image at `tmp` and syncs it.
/// The outer error is final (a damaged header, the local disk); the inner
/// one a failed merge, whose culprit the caller looks for.
fn write_image_file(opened: Vec<Opened>, tmp: &Path) -> Result<Result<(), stn_ltx::Error>> {
    let mut readers = Vec::with_capacity(opened.len());
    for Opened { input, check, key } in opened {
        readers.push(match check {
            Some(step) => open_checked(input, &step, &key)?,
            None => Reader::new(input).map_err(ltx_error(&key))?,
        });
    }
    let mut out = ImageFile::create(tmp)?;
    match stn_ltx::write_database(readers, &mut out) {
        Ok(_) => {}
        Err(stn_ltx::Error::Io(source)) if source.kind() != std::io::ErrorKind::UnexpectedEof => {
            return Err(Error::Io {
                path: tmp.display().to_string(),
                source,
            });
        }
        Err(err) => return Ok(Err(err)),
    }
    out.finish().map_err(io_error(tmp))?;
    Ok(Ok(()))
}
