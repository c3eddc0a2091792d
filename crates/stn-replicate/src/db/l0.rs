//! Building LTX files from a database: which pages go in, where each one is
//! read from, and writing them.
//!
//! A page's current version is its latest committed frame in the WAL being
//! followed (up to the position) or, if the WAL does not hold it, the
//! database file. The database file is safe to read for such pages: a
//! checkpoint only copies pages that are in frames at or below the
//! replicator's read mark, and those pages are read from the WAL instead.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use stn_ltx::{Header, Writer};

use crate::db::file;
use crate::db::meta::write_atomically;
use crate::error::{Error, Result};
use crate::fs::io_error;
use crate::wal::{Frame, WalFile};

/// Where the bytes of one page are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSource {
    /// A WAL frame; the offset of its page data.
    Wal(u64),
    /// The database file, at `(pgno - 1) * page_size`.
    Database,
}

/// The latest committed frame of each page in the followed WAL.
pub type WalPages = HashMap<u32, u64>;

/// Records `frames` (in WAL order) into `pages`, later frames winning.
pub fn index_frames(pages: &mut WalPages, frames: &[Frame]) {
    for frame in frames {
        pages.insert(frame.pgno, frame.data_offset);
    }
}

/// The pages of an incremental L0 file: every page written by `frames`
/// (latest version), plus the pages the database grew by from
/// `prev_commit` to `commit` that no frame wrote (Litestream adds these
/// too), minus pages past `commit` (the database shrank) and the lock page.
pub fn incremental_pages(
    frames: &[Frame],
    earlier: &WalPages,
    prev_commit: u32,
    commit: u32,
    lock_pgno: u32,
) -> BTreeMap<u32, PageSource> {
    let mut pages: BTreeMap<u32, PageSource> = frames
        .iter()
        .map(|f| (f.pgno, PageSource::Wal(f.data_offset)))
        .collect();
    for pgno in prev_commit.saturating_add(1)..=commit {
        pages
            .entry(pgno)
            .or_insert_with(|| source_of(earlier, pgno));
    }
    pages.retain(|&pgno, _| pgno <= commit && pgno != lock_pgno);
    pages
}

/// Every page `1..=commit` but the lock page, each from `overlay` when the
/// WAL holds it and from the database file otherwise.
pub fn full_image_pages(
    overlay: &WalPages,
    commit: u32,
    lock_pgno: u32,
) -> impl Iterator<Item = (u32, PageSource)> + '_ {
    (1..=commit)
        .filter(move |&pgno| pgno != lock_pgno)
        .map(move |pgno| (pgno, source_of(overlay, pgno)))
}

fn source_of(pages: &WalPages, pgno: u32) -> PageSource {
    pages
        .get(&pgno)
        .map_or(PageSource::Database, |&offset| PageSource::Wal(offset))
}

/// Reads pages from the followed WAL and the database file.
pub struct PageReader<'a> {
    /// The WAL, when one is being followed.
    pub wal: Option<&'a mut WalFile>,
    /// The database file.
    pub db: &'a File,
    /// The database file's path, for errors.
    pub db_path: &'a Path,
}

impl PageReader<'_> {
    fn read(&mut self, pgno: u32, source: PageSource, page: &mut [u8]) -> Result<()> {
        match (source, self.wal.as_deref_mut()) {
            (PageSource::Wal(offset), Some(wal)) => wal.read_page(offset, page),
            (PageSource::Wal(offset), None) => Err(Error::Wal {
                path: self.db_path.display().to_string(),
                detail: format!("page {pgno} is at WAL offset {offset} but no WAL is open"),
            }),
            (PageSource::Database, _) => self.read_db_page(pgno, page),
        }
    }

    fn read_db_page(&mut self, pgno: u32, page: &mut [u8]) -> Result<()> {
        let at = u64::from(pgno - 1) * page.len() as u64;
        file::read_zero_filled(self.db, at, page).map_err(io_error(self.db_path))
    }
}

/// Writes an LTX file with `header` and `pages` (ascending) to `path`
/// atomically; returns its size in bytes.
pub fn write_ltx(
    path: &Path,
    header: Header,
    pages: impl IntoIterator<Item = (u32, PageSource)>,
    reader: &mut PageReader<'_>,
) -> Result<u64> {
    let ltx_error = |source| Error::Ltx {
        file: path.display().to_string(),
        source,
    };
    write_atomically(path, |out| {
        let mut writer = Writer::new(out, header).map_err(ltx_error)?;
        let mut page = vec![0u8; header.page_size as usize];
        for (pgno, source) in pages {
            reader.read(pgno, source, &mut page)?;
            writer.write_page(pgno, &page).map_err(ltx_error)?;
        }
        Ok(writer.finish().map_err(ltx_error)?.size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pgno: u32, data_offset: u64) -> Frame {
        Frame { pgno, data_offset }
    }

    #[test]
    fn latest_frame_per_page_wins() {
        let frames = [frame(3, 100), frame(1, 200), frame(3, 300)];
        let pages = incremental_pages(&frames, &WalPages::new(), 5, 5, 99);
        assert_eq!(
            pages.into_iter().collect::<Vec<_>>(),
            [(1, PageSource::Wal(200)), (3, PageSource::Wal(300))]
        );
    }

    #[test]
    fn growth_pages_come_from_earlier_frames_or_the_database() {
        let frames = [frame(1, 100), frame(7, 200)];
        let earlier = WalPages::from([(5, 50)]);
        let pages = incremental_pages(&frames, &earlier, 4, 7, 99);
        assert_eq!(
            pages.into_iter().collect::<Vec<_>>(),
            [
                (1, PageSource::Wal(100)),
                (5, PageSource::Wal(50)),
                (6, PageSource::Database),
                (7, PageSource::Wal(200)),
            ]
        );
    }

    #[test]
    fn shrinking_drops_pages_past_the_commit() {
        let frames = [frame(2, 100), frame(9, 200), frame(4, 300)];
        let pages = incremental_pages(&frames, &WalPages::new(), 10, 4, 99);
        assert_eq!(pages.keys().copied().collect::<Vec<_>>(), [2, 4]);
    }

    #[test]
    fn lock_page_is_never_included() {
        // With 512-byte pages the lock page is 2097153 (byte 1 GiB).
        let lock = stn_ltx::lock_pgno(512);
        assert_eq!(lock, 2_097_153);
        let frames = [frame(lock - 1, 10), frame(lock + 1, 20)];
        let pages = incremental_pages(&frames, &WalPages::new(), lock - 2, lock + 2, lock);
        assert_eq!(
            pages.keys().copied().collect::<Vec<_>>(),
            [lock - 1, lock + 1, lock + 2]
        );
        let image: Vec<u32> = full_image_pages(&WalPages::new(), lock + 1, lock)
            .map(|(pgno, _)| pgno)
            .skip(lock as usize - 2)
            .collect();
        assert_eq!(image, [lock - 1, lock + 1]);
    }

    #[test]
    fn full_image_overlays_the_wal() {
        let overlay = WalPages::from([(2, 64)]);
        let image: Vec<_> = full_image_pages(&overlay, 3, 99).collect();
        assert_eq!(
            image,
            [
                (1, PageSource::Database),
                (2, PageSource::Wal(64)),
                (3, PageSource::Database)
            ]
        );
    }

    #[test]
    fn database_pages_past_the_end_read_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, [7u8; 768]).unwrap();
        let mut db = File::open(&path).unwrap();
        let mut reader = PageReader {
            wal: None,
            db: &mut db,
            db_path: &path,
        };
        let mut page = [1u8; 512];
        reader.read(2, PageSource::Database, &mut page).unwrap();
        assert_eq!(&page[..256], &[7u8; 256]);
        assert_eq!(&page[256..], &[0u8; 256]);
        assert!(reader.read(1, PageSource::Wal(0), &mut page).is_err());
    }
}
