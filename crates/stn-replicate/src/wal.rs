//! Reading SQLite's write-ahead log without SQLite: the 32-byte header, the
//! 24-byte frame headers, SQLite's cumulative checksum, and the committed
//! frames that follow a position.
//!
//! A WAL is valid up to its first frame whose salts differ from the header's
//! or whose cumulative checksum does not continue from the previous frame;
//! SQLite's recovery stops at the same place. Of the valid frames only those
//! up to the last commit frame belong to finished transactions, so readers
//! here never return frames past it.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Size of the WAL file header.
pub const HEADER_SIZE: u64 = 32;

/// Size of the header in front of every frame's page.
pub const FRAME_HEADER_SIZE: u64 = 24;

/// Header magic when checksums are computed on little-endian words.
const MAGIC_LITTLE_ENDIAN: u32 = 0x377f_0682;

/// Header magic when checksums are computed on big-endian words.
const MAGIC_BIG_ENDIAN: u32 = 0x377f_0683;

/// Read buffer for following the WAL. Kept under glibc's 128 KiB mmap
/// threshold: a bigger buffer, allocated and freed on every sync, raises
/// that threshold, after which each blocking thread's malloc arena keeps
/// such buffers resident (1 MiB buffers cost `stn replicate` about 1 MB of
/// RSS per thread).
const READ_BUFFER: usize = 64 << 10;

/// The only WAL format version SQLite has written.
const FORMAT_VERSION: u32 = 3_007_000;

/// The two running sums of SQLite's WAL checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum(pub u32, pub u32);

/// SQLite's WAL checksum of `data` (a multiple of 8 bytes), continuing from
/// `seed`. Words are read big-endian or little-endian as the header's magic
/// says, so a WAL written on any machine verifies on any other.
pub fn checksum(big_endian: bool, seed: Checksum, data: &[u8]) -> Checksum {
    let word = |bytes: &[u8]| {
        let bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    };
    let Checksum(mut s1, mut s2) = seed;
    for pair in data.chunks_exact(8) {
        s1 = s1.wrapping_add(word(&pair[..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(word(&pair[4..])).wrapping_add(s1);
    }
    Checksum(s1, s2)
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The WAL file header: magic, format version, page size, checkpoint
/// sequence, two salts and the header's own checksum, all big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct WalHeader([u8; HEADER_SIZE as usize]);

impl WalHeader {
    /// Validates `bytes` as SQLite's recovery does; `None` when they are not
    /// a usable header (SQLite then treats the WAL as empty).
    pub fn parse(bytes: [u8; HEADER_SIZE as usize]) -> Option<WalHeader> {
        let header = WalHeader(bytes);
        let magic = be32(&bytes, 0);
        let page_size = header.page_size();
        let valid = (magic == MAGIC_LITTLE_ENDIAN || magic == MAGIC_BIG_ENDIAN)
            && be32(&bytes, 4) == FORMAT_VERSION
            && page_size.is_power_of_two()
            && (512..=65536).contains(&page_size)
            && checksum(header.big_endian(), Checksum::default(), &bytes[..24])
                == header.checksum();
        valid.then_some(header)
    }

    /// True when checksums use big-endian words (magic `0x377f0683`).
    pub fn big_endian(&self) -> bool {
        be32(&self.0, 0) == MAGIC_BIG_ENDIAN
    }

    /// Database page size. Unlike the database header's 16-bit field, where
    /// 65536 is stored as 1, the WAL stores it as a plain 32-bit number.
    pub fn page_size(&self) -> u32 {
        be32(&self.0, 8)
    }

    /// How many times the WAL has been restarted (checkpoint sequence).
    pub fn checkpoint_seq(&self) -> u32 {
        be32(&self.0, 12)
    }

    /// Salt-1 and salt-2. Every valid frame repeats them.
    pub fn salts(&self) -> (u32, u32) {
        (be32(&self.0, 16), be32(&self.0, 20))
    }

    /// Checksum of the first 24 header bytes; frame checksums continue from it.
    pub fn checksum(&self) -> Checksum {
        Checksum(be32(&self.0, 24), be32(&self.0, 28))
    }

    /// The position just after the header, where the first frame starts.
    pub fn start(&self) -> WalCursor {
        WalCursor {
            offset: HEADER_SIZE,
            checksum: self.checksum(),
        }
    }

    /// Size of one frame: its header plus one page.
    pub fn frame_size(&self) -> u64 {
        FRAME_HEADER_SIZE + u64::from(self.page_size())
    }

    /// What tells this WAL apart from the ones before and after it.
    pub fn id(&self) -> WalId {
        let (salt1, salt2) = self.salts();
        WalId {
            checkpoint_seq: self.checkpoint_seq(),
            salt1,
            salt2,
        }
    }
}

/// The identity of one WAL generation: SQLite draws new salts and bumps the
/// checkpoint sequence every time it restarts the WAL from the beginning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalId {
    /// The header's checkpoint sequence.
    pub checkpoint_seq: u32,
    /// Salt-1.
    pub salt1: u32,
    /// Salt-2.
    pub salt2: u32,
}

impl WalId {
    /// True when `next` is the WAL SQLite writes when it restarts this one:
    /// checkpoint sequence and salt-1 each go up by one (salt-2 is drawn
    /// anew). Anything else means the WAL was deleted or replaced, and what
    /// was written in between is unknown.
    pub fn restarted_as(&self, next: &WalId) -> bool {
        next.checkpoint_seq == self.checkpoint_seq.wrapping_add(1)
            && next.salt1 == self.salt1.wrapping_add(1)
    }
}

/// The 24-byte header of one WAL frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct WalFrameHeader([u8; FRAME_HEADER_SIZE as usize]);

impl WalFrameHeader {
    /// The database page this frame holds.
    pub fn pgno(&self) -> u32 {
        be32(&self.0, 0)
    }

    /// Database size in pages after the transaction, on a commit frame; 0 otherwise.
    pub fn commit_size(&self) -> u32 {
        be32(&self.0, 4)
    }

    /// True for the last frame of a transaction.
    pub fn is_commit(&self) -> bool {
        self.commit_size() != 0
    }

    /// The salts copied from the WAL header when the frame was written.
    pub fn salts(&self) -> (u32, u32) {
        (be32(&self.0, 8), be32(&self.0, 12))
    }

    /// Cumulative checksum of the WAL up to and including this frame.
    pub fn checksum(&self) -> Checksum {
        Checksum(be32(&self.0, 16), be32(&self.0, 20))
    }
}

/// A place in a WAL just after a commit frame (or just after the header),
/// with the cumulative checksum there, so that reading can resume and prove
/// that the bytes before it have not changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalCursor {
    /// Byte offset of the next frame.
    pub offset: u64,
    /// Cumulative checksum of everything before `offset`.
    pub checksum: Checksum,
}

/// One frame that belongs to a committed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The database page it holds.
    pub pgno: u32,
    /// Byte offset of the page data (after the frame header) in the WAL.
    pub data_offset: u64,
}

/// The committed frames found between two cursors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Where reading started.
    pub start: WalCursor,
    /// Just after the last commit frame read; equals `start` when there was none.
    pub end: WalCursor,
    /// Every frame in `start..end`, in WAL order (a page may repeat).
    pub frames: Vec<Frame>,
    /// Database size in pages after the last commit; 0 when there was none.
    pub commit: u32,
}

/// An open WAL file with a valid header.
#[derive(Debug)]
pub struct WalFile {
    path: PathBuf,
    file: File,
    header: WalHeader,
}

impl WalFile {
    /// Opens the WAL at `path` and reads its header. `None` when the file is
    /// missing, shorter than a header, or the header is invalid: SQLite
    /// treats all three as an empty WAL.
    pub fn open(path: &Path) -> Result<Option<WalFile>> {
        let io_error = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        let mut bytes = [0u8; HEADER_SIZE as usize];
        match file.read_exact(&mut bytes) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io_error(e)),
        }
        Ok(WalHeader::parse(bytes).map(|header| WalFile {
            path: path.to_owned(),
            file,
            header,
        }))
    }

    /// The header read when the file was opened.
    pub fn header(&self) -> &WalHeader {
        &self.header
    }

    /// The checksum stored at `offset`: the header's at the start of the
    /// WAL, otherwise that of the frame ending there. `None` when that frame
    /// is missing, partial or carries other salts, i.e. `offset` is not a
    /// place this WAL still reaches.
    pub fn checksum_at(&mut self, offset: u64) -> Result<Option<Checksum>> {
        if offset == HEADER_SIZE {
            return Ok(Some(self.header.checksum()));
        }
        let frame_size = self.header.frame_size();
        let aligned = offset > HEADER_SIZE && (offset - HEADER_SIZE).is_multiple_of(frame_size);
        if !aligned {
            return Ok(None);
        }
        let mut bytes = [0u8; FRAME_HEADER_SIZE as usize];
        let found = self.read_at(offset - frame_size, &mut bytes)?;
        let frame = WalFrameHeader(bytes);
        Ok((found && frame.salts() == self.header.salts()).then(|| frame.checksum()))
    }

    /// Reads the committed frames from `from` onwards: each frame's salts
    /// must match the header and its checksum must continue the cumulative
    /// checksum; reading stops at the first frame that fails, at a partial
    /// frame, or at the first commit frame once `max_bytes` have been read.
    /// Frames after the last commit frame are left for a later call.
    pub fn read_committed(&mut self, from: WalCursor, max_bytes: u64) -> Result<Committed> {
        let mut committed = Committed {
            start: from,
            end: from,
            frames: Vec::new(),
            commit: 0,
        };
        let big_endian = self.header.big_endian();
        let salts = self.header.salts();
        let page_size = self.header.page_size() as usize;
        let mut page = vec![0u8; page_size];
        let mut pending = Vec::new();
        let mut cursor = from;

        self.file
            .seek(SeekFrom::Start(from.offset))
            .map_err(|e| self.io_error(e))?;
        let mut input = BufReader::with_capacity(READ_BUFFER, &self.file);
        loop {
            let mut bytes = [0u8; FRAME_HEADER_SIZE as usize];
            if !read_full(&mut input, &mut bytes).map_err(|e| self.io_error(e))?
                || !read_full(&mut input, &mut page).map_err(|e| self.io_error(e))?
            {
                break;
            }
            let frame = WalFrameHeader(bytes);
            if frame.salts() != salts {
                break;
            }
            let sum = checksum(big_endian, cursor.checksum, &bytes[..8]);
            let sum = checksum(big_endian, sum, &page);
            if sum != frame.checksum() {
                break;
            }
            pending.push(Frame {
                pgno: frame.pgno(),
                data_offset: cursor.offset + FRAME_HEADER_SIZE,
            });
            cursor = WalCursor {
                offset: cursor.offset + FRAME_HEADER_SIZE + page_size as u64,
                checksum: sum,
            };
            if frame.is_commit() {
                committed.frames.append(&mut pending);
                committed.end = cursor;
                committed.commit = frame.commit_size();
                if cursor.offset - from.offset >= max_bytes {
                    break;
                }
            }
        }
        Ok(committed)
    }

    /// Reads the page stored at `data_offset` (see [`Frame::data_offset`]).
    pub fn read_page(&mut self, data_offset: u64, page: &mut [u8]) -> Result<()> {
        if self.read_at(data_offset, page)? {
            Ok(())
        } else {
            Err(Error::Wal {
                path: self.path.display().to_string(),
                detail: format!("frame at offset {data_offset} vanished while being read"),
            })
        }
    }

    /// Fills `buf` from `offset`; false if the file ends first.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<bool> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_error(e))?;
        read_full(&mut self.file, buf).map_err(|e| self.io_error(e))
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

/// `read_exact` that reports a short read as `false` instead of an error.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match input.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// A WAL-mode database with autocheckpoint off, so its WAL keeps every frame.
    fn wal_db(page_size: u32) -> (tempfile::TempDir, Connection, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "page_size", page_size).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t(x BLOB)").unwrap();
        let wal = dir.path().join("test.db-wal");
        (dir, conn, wal)
    }

    fn insert(conn: &Connection, rows: usize, size: usize) {
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..rows {
            tx.execute("INSERT INTO t VALUES (randomblob(?1))", [size as i64])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn reads_real_wals_for_each_page_size() {
        for page_size in [512u32, 1024, 4096, 65536] {
            let (_dir, conn, wal_path) = wal_db(page_size);
            insert(&conn, 10, 100);
            insert(&conn, 10, 3000);
            let mut wal = WalFile::open(&wal_path).unwrap().unwrap();
            assert_eq!(wal.header().page_size(), page_size);
            let all = wal.read_committed(wal.header().start(), u64::MAX).unwrap();
            let len = std::fs::metadata(&wal_path).unwrap().len();
            assert_eq!(all.end.offset, len, "page size {page_size}");
            let page_count: u32 = conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .unwrap();
            assert_eq!(all.commit, page_count);
            assert_eq!(
                wal.checksum_at(all.end.offset).unwrap(),
                Some(all.end.checksum)
            );

            // Resuming from the middle gives the rest, with the same end.
            insert(&conn, 1, 10);
            let rest = wal.read_committed(all.end, u64::MAX).unwrap();
            assert!(!rest.frames.is_empty());
            assert_eq!(rest.end.offset, std::fs::metadata(&wal_path).unwrap().len());
        }
    }

    #[test]
    fn max_bytes_stops_at_a_commit_boundary() {
        let (_dir, conn, wal_path) = wal_db(1024);
        for _ in 0..5 {
            insert(&conn, 1, 10);
        }
        let mut wal = WalFile::open(&wal_path).unwrap().unwrap();
        let first = wal.read_committed(wal.header().start(), 1).unwrap();
        let frame = first.frames.last().unwrap();
        assert_eq!(first.end.offset, frame.data_offset + 1024);
        let rest = wal.read_committed(first.end, u64::MAX).unwrap();
        assert!(rest.end.offset > first.end.offset);
    }

    #[test]
    fn torn_tail_and_uncommitted_frames_are_not_returned() {
        let (_dir, conn, wal_path) = wal_db(4096);
        insert(&conn, 5, 100);
        let mut wal = WalFile::open(&wal_path).unwrap().unwrap();
        let good = wal.read_committed(wal.header().start(), u64::MAX).unwrap();
        insert(&conn, 50, 500);
        let full_len = std::fs::metadata(&wal_path).unwrap().len();

        // Cut the last transaction in the middle of a frame.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&wal_path)
            .unwrap();
        file.set_len(full_len - 100).unwrap();
        let mut wal = WalFile::open(&wal_path).unwrap().unwrap();
        let read = wal.read_committed(wal.header().start(), u64::MAX).unwrap();
        assert_eq!(read.end, good.end);

        // A flipped byte in a later frame ends the valid WAL there too.
        file.set_len(full_len).unwrap();
        let mut bytes = std::fs::read(&wal_path).unwrap();
        let at = good.end.offset as usize + 24 + 10;
        bytes[at] ^= 0xff;
        std::fs::write(&wal_path, &bytes).unwrap();
        let mut wal = WalFile::open(&wal_path).unwrap().unwrap();
        let read = wal.read_committed(wal.header().start(), u64::MAX).unwrap();
        assert_eq!(read.end, good.end);
    }

    #[test]
    fn checkpoint_restart_makes_a_successor_header() {
        let (_dir, conn, wal_path) = wal_db(4096);
        insert(&conn, 5, 100);
        let before = *WalFile::open(&wal_path).unwrap().unwrap().header();
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .unwrap();
        insert(&conn, 1, 100);
        let mut wal = WalFile::open(&wal_path).unwrap().unwrap();
        let after = *wal.header();
        assert_ne!(after.salts(), before.salts());
        assert!(before.id().restarted_as(&after.id()));
        assert!(!after.id().restarted_as(&before.id()));
        // The new WAL's frames verify from its own header; stale frames of
        // the old WAL after them do not.
        let read = wal.read_committed(after.start(), u64::MAX).unwrap();
        assert!(!read.frames.is_empty());
        assert!(read.end.offset < std::fs::metadata(&wal_path).unwrap().len());
        assert_eq!(wal.checksum_at(read.end.offset + 4120).unwrap(), None);
    }

    #[test]
    fn invalid_or_short_headers_mean_no_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-wal");
        assert!(WalFile::open(&path).unwrap().is_none());
        std::fs::write(&path, [0u8; 10]).unwrap();
        assert!(WalFile::open(&path).unwrap().is_none());
        std::fs::write(&path, [0u8; 32]).unwrap();
        assert!(WalFile::open(&path).unwrap().is_none());
    }

    #[test]
    fn checksum_matches_known_vectors() {
        // Two words each way: s1 = a + 0, s2 = b + s1.
        let data = [0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(checksum(true, Checksum(0, 0), &data), Checksum(1, 3));
        assert_eq!(
            checksum(false, Checksum(0, 0), &data),
            Checksum(1 << 24, (2 << 24) + (1 << 24))
        );
    }
}
