//! Carrying out a restore plan: download and verify every planned file,
//! merge them into `OUT.tmp`, check it, and only then put it in place.
//!
//! Nothing touches the output path before every file has been downloaded
//! and fully verified, so a corrupt replica fails the restore naming the
//! object key and leaves an existing database exactly as it was. Each file
//! is decoded once, while `OUT.tmp` is written (every page and checksum is
//! checked on the way); only when that fails are the files verified one by
//! one, to name the damaged object.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use stn_ltx::{Header, Reader, Writer};

use super::output::{self, blocking, io_error};
use super::plan::{Plan, Step};
use super::{RestoreOptions, RestoreProgress};
use crate::error::{Error, Result};
use crate::storage::ReplicaClient;

/// Restores `plan` into `options.output`; returns the bytes downloaded.
pub(super) async fn apply(
    client: &ReplicaClient,
    plan: &Plan,
    options: &RestoreOptions,
) -> Result<u64> {
    let tmp = output::prepare(&options.output)?;
    let staging = output::with_suffix(&options.output, ".tmp-ltx");
    output::remove_dir_if_exists(&staging)?;
    std::fs::create_dir(&staging).map_err(io_error(&staging))?;

    let result = download_and_write(client, plan, options, &staging, &tmp).await;
    // The staged copies are only ever useful to this run.
    let cleanup = output::remove_dir_if_exists(&staging);
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

/// Downloads the plan's files and merges them into `tmp`, synced.
async fn download_and_write(
    client: &ReplicaClient,
    plan: &Plan,
    options: &RestoreOptions,
    staging: &Path,
    tmp: &Path,
) -> Result<u64> {
    let (inputs, bytes) = download_all(client, plan, options, staging).await?;
    options.report(RestoreProgress::Writing);
    let (tmp, url) = (tmp.to_path_buf(), client.url().to_owned());
    blocking(move || write_image_file(&inputs, &tmp, &url)).await?;
    Ok(bytes)
}

/// A downloaded file of the plan.
struct Staged {
    path: PathBuf,
    /// The object's key, to name it in errors.
    key: String,
    /// The plan step it is, while its pages are still unverified (rebased
    /// copies were verified while rewritten).
    unverified: Option<Step>,
}

/// Downloads and verifies every step, `options.parallelism` at a time;
/// returns the local files in plan order and the bytes downloaded.
async fn download_all(
    client: &ReplicaClient,
    plan: &Plan,
    options: &RestoreOptions,
    staging: &Path,
) -> Result<(Vec<Staged>, u64)> {
    let total_bytes: u64 = plan.steps.iter().map(|step| step.file.size).sum();
    let total_files = plan.steps.len();
    let mut done = (0usize, 0u64);
    let mut staged = Vec::with_capacity(total_files);
    let mut downloads = futures::stream::iter(plan.steps.iter().enumerate())
        .map(|(at, step)| stage_one(client, step, staging.join(format!("{at:05}.ltx"))))
        .buffered(options.parallelism.max(1));
    while let Some((staged_file, size)) = downloads.try_next().await? {
        done = (done.0 + 1, done.1 + size);
        options.report(RestoreProgress::Downloaded {
            files_done: done.0,
            files: total_files,
            bytes_done: done.1,
            bytes: total_bytes,
        });
        staged.push(staged_file);
    }
    Ok((staged, done.1))
}

/// Downloads one file and checks its header; a file that overlaps
/// earlier steps is rewritten to start at `step.from_txid` (and so
/// verified completely).
async fn stage_one(client: &ReplicaClient, step: &Step, path: PathBuf) -> Result<(Staged, u64)> {
    let size = client.download_ltx(&step.file, &path).await?;
    let key = client
        .ltx_key(step.file.level, step.file.min_txid, step.file.max_txid)
        .to_string();
    let step = step.clone();
    blocking(move || {
        let input = BufReader::new(File::open(&path).map_err(io_error(&path))?);
        if step.from_txid == step.file.min_txid {
            open_checked(input, &step, &key)?;
            let staged = Staged {
                path,
                key,
                unverified: Some(step),
            };
            return Ok((staged, size));
        }
        let rebased = path.with_extension("rebased.ltx");
        let out = BufWriter::new(File::create(&rebased).map_err(io_error(&rebased))?);
        rebase(input, &step, &key, out)?;
        let staged = Staged {
            path: rebased,
            key,
            unverified: None,
        };
        Ok((staged, size))
    })
    .await
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

/// Merges the staged files into a database image at `tmp` and syncs it.
fn write_image_file(inputs: &[Staged], tmp: &Path, url: &str) -> Result<()> {
    let readers = inputs
        .iter()
        .map(|staged| open_staged(&staged.path))
        .collect::<Result<Vec<_>>>()?;
    let file = File::create(tmp).map_err(io_error(tmp))?;
    let mut out = BufWriter::with_capacity(IO_BUFFER, file);
    match write_image(readers, &mut out) {
        Ok(_) => {}
        Err(stn_ltx::Error::Io(source)) if source.kind() != std::io::ErrorKind::UnexpectedEof => {
            return Err(Error::Io {
                path: tmp.display().to_string(),
                source,
            });
        }
        Err(err) => {
            // Name the damaged object, if one is; otherwise what fails is
            // how the files fit together.
            for staged in inputs {
                if let Some(step) = &staged.unverified {
                    verify(open_staged(&staged.path)?, step, &staged.key)?;
                }
            }
            return Err(Error::Plan {
                url: url.to_owned(),
                detail: err.to_string(),
            });
        }
    }
    let file = out.into_inner().map_err(|err| Error::Io {
        path: tmp.display().to_string(),
        source: err.into_error(),
    })?;
    file.sync_all().map_err(io_error(tmp))
}

fn open_staged(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).map_err(io_error(path))?;
    Ok(BufReader::with_capacity(IO_BUFFER, file))
}

/// Large reads and writes: a restore moves the whole database.
const IO_BUFFER: usize = 1 << 20;

/// Merges a planned chain (rebased where needed) into a database image.
pub(super) fn write_image<R: Read, W: Write>(inputs: Vec<R>, out: W) -> stn_ltx::Result<Header> {
    let readers = inputs
        .into_iter()
        .map(Reader::new)
        .collect::<stn_ltx::Result<Vec<_>>>()?;
    stn_ltx::write_database(readers, out)
}
