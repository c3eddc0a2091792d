//! Getting each planned LTX file to the decoder without a staged copy.
//!
//! On the file backend the replica's own files are opened and read in place
//! (an open file stays readable even if a replicator deletes it meanwhile).
//! From object stores every file is one GET whose body is handed over in
//! chunks of about [`CHUNK_SIZE`] through a small channel as it arrives, so
//! downloading overlaps decoding and nothing but the database is written to
//! disk. (Parallel ranged GETs were tried: moto, the test S3, reads the
//! whole object for every range request, which made them far slower.)
//! Memory stays bounded: per file at most [`CHANNEL_CHUNKS`] chunks waiting.

use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::Mutex;

use bytes::{Buf, Bytes, BytesMut};
use futures::TryStreamExt;
use tokio::sync::mpsc;

use super::options::{RestoreOptions, RestoreProgress};
use crate::error::Result;
use crate::storage::{LtxFileInfo, ReplicaClient};

/// Bytes handed to the decoder at once: network reads are a few KiB,
/// coalesced so the decoder thread is woken rarely.
const CHUNK_SIZE: usize = 1 << 20;
/// Chunks of one file handed over but not yet decoded.
const CHANNEL_CHUNKS: usize = 8;
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
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let reader = ChunkReader {
        chunks: rx,
        current: Bytes::new(),
    };
    (tx, reader)
}

/// Downloads `file` and sends its bytes to `tx` in order, in chunks of
/// about [`CHUNK_SIZE`]. Stops without error when the reader is gone (the
/// decoder failed and says why).
pub(super) async fn feed(
    client: &ReplicaClient,
    file: &LtxFileInfo,
    tx: mpsc::Sender<Bytes>,
    progress: &Progress<'_>,
) -> Result<()> {
    let mut body = std::pin::pin!(client.read_ltx(file, None).await?);
    let mut pending = BytesMut::new();
    while let Some(piece) = body.try_next().await? {
        if pending.is_empty() && piece.len() >= CHUNK_SIZE {
            if tx.send(piece).await.is_err() {
                return Ok(());
            }
            continue;
        }
        pending.extend_from_slice(&piece);
        if pending.len() >= CHUNK_SIZE && tx.send(pending.split().freeze()).await.is_err() {
            return Ok(());
        }
    }
    if !pending.is_empty() && tx.send(pending.freeze()).await.is_err() {
        return Ok(());
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
