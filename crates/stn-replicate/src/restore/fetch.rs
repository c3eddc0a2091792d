//! Getting each planned LTX file to the decoder without a staged copy.
//!
//! On the file backend the replica's own files are opened and read in place
//! (an open file stays readable even if a replicator deletes it meanwhile).
//! From object stores each file arrives as byte ranges fetched a few at a
//! time and handed over in order through a small channel, so downloading
//! overlaps decoding, several requests are in flight for a big snapshot,
//! and nothing but the database is written to disk. Memory stays bounded:
//! per file at most `parallelism` ranges waiting plus the channel's.

use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::Mutex;

use bytes::{Buf, Bytes};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{Semaphore, mpsc};

use super::{RestoreOptions, RestoreProgress};
use crate::error::Result;
use crate::storage::{LtxFileInfo, ReplicaClient};

/// Bytes per ranged GET: large enough that request overhead is small,
/// small enough that a few in flight per file cost little memory.
const RANGE_SIZE: u64 = 4 << 20;
/// Ranges of one file handed over but not yet decoded.
const CHANNEL_RANGES: usize = 2;
/// Read buffer for files read in place: a restore moves the whole database.
pub(super) const IO_BUFFER: usize = 1 << 20;

/// One planned file as the decoder reads it.
pub(super) enum Input {
    /// A local file: the replica's own (file backend) or a rewritten copy.
    Local(BufReader<File>),
    /// Ranges arriving from an object store.
    Remote(ChunkReader),
}

impl Input {
    pub(super) fn local(file: File) -> Input {
        Input::Local(BufReader::with_capacity(IO_BUFFER, file))
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Local(file) => file.read(buf),
            Input::Remote(chunks) => chunks.read(buf),
        }
    }
}

/// Reads the chunks a [`feed`] sends, in order; the end of the channel is
/// the end of the file. Only for blocking threads.
pub(super) struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                // A feed that failed ends early too; its error is the one
                // reported, not the truncation seen here.
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// A reader for a file that [`feed`] fills through the returned sender.
pub(super) fn channel() -> (mpsc::Sender<Bytes>, ChunkReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_RANGES);
    let reader = ChunkReader {
        chunks: rx,
        current: Bytes::new(),
    };
    (tx, reader)
}

/// Fetches `file` range by range, at most `window` at once and never more
/// than `permits` allows across all files, and sends the ranges to `tx` in
/// order. Stops without error when the reader is gone (the decoder failed
/// and says why).
pub(super) async fn feed(
    client: &ReplicaClient,
    file: &LtxFileInfo,
    tx: mpsc::Sender<Bytes>,
    permits: &Semaphore,
    window: usize,
    progress: &Progress<'_>,
) -> Result<()> {
    let ranges = (0..file.size)
        .step_by(RANGE_SIZE as usize)
        .map(|start| start..file.size.min(start + RANGE_SIZE));
    let mut chunks = futures::stream::iter(ranges)
        .map(|range| async move {
            // A permit is held only while the request runs, so a reader
            // that waits for another file never blocks this one's requests.
            let _permit = permits.acquire().await;
            client.get_ltx_range(file, range).await
        })
        .buffered(window.max(1));
    while let Some(chunk) = chunks.try_next().await? {
        if tx.send(chunk).await.is_err() {
            return Ok(());
        }
    }
    progress.file_done(file.size);
    Ok(())
}

/// Counts finished files for [`RestoreProgress::Downloaded`].
pub(super) struct Progress<'a> {
    options: &'a RestoreOptions,
    total: (usize, u64),
    done: Mutex<(usize, u64)>,
}

impl<'a> Progress<'a> {
    pub(super) fn new(options: &'a RestoreOptions, files: usize, bytes: u64) -> Self {
        Progress {
            options,
            total: (files, bytes),
            done: Mutex::new((0, 0)),
        }
    }

    pub(super) fn file_done(&self, size: u64) {
        let done = {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            *done = (done.0 + 1, done.1 + size);
            *done
        };
        self.options.report(RestoreProgress::Downloaded {
            files_done: done.0,
            files: self.total.0,
            bytes_done: done.1,
            bytes: self.total.1,
        });
    }
}
