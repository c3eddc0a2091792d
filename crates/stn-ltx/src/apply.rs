//! Turning a chain of LTX files that starts with a snapshot into the bytes
//! of a SQLite database file.

use std::io::{Read, Write};

use crate::error::{Error, Result};
use crate::header::Header;
use crate::merge::Merge;
use crate::order::PageOrder;
use crate::reader::Reader;

/// Writes the database image described by `inputs` to `db`: a snapshot
/// (min TXID 1) optionally followed by consecutive incremental files, merged
/// as [`crate::compact`] merges them. Page `n` lands at byte
/// `(n - 1) * page_size`; the lock page is written as zeros. `db` should be
/// empty: the image is written front to back and nothing is truncated.
///
/// Returns the header of the merged chain (page size, commit, TXID range).
/// Every input is fully verified; on error `db` holds a partial image.
pub fn write_database<R: Read, W: Write>(inputs: Vec<Reader<R>>, mut db: W) -> Result<Header> {
    let mut merge = Merge::new(inputs)?;
    let header = *merge.header();
    if !header.is_snapshot() {
        return Err(Error::NotSnapshot {
            min_txid: header.min_txid,
        });
    }
    let page_size = header.page_size as usize;
    let lock_pgno = header.lock_pgno();
    let mut order = PageOrder::new(&header);
    while let Some((pgno, page)) = merge.next_page()? {
        // A complete snapshot yields pages 1, 2, 3, … so each page follows
        // the previous one in the file, except across the lock page.
        order.check(pgno)?;
        if pgno == lock_pgno + 1 {
            db.write_all(&vec![0u8; page_size])?;
        }
        db.write_all(page)?;
    }
    order.finish()?;
    if header.commit == lock_pgno {
        db.write_all(&vec![0u8; page_size])?;
    }
    db.flush()?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Writer;

    fn file(min_txid: u64, commit: u32, page_size: u32, pages: &[u32]) -> Vec<u8> {
        let header = Header {
            page_size,
            commit,
            min_txid,
            max_txid: min_txid,
            ..Header::default()
        };
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, header).unwrap();
        for &pgno in pages {
            let page = vec![(pgno % 251) as u8 + min_txid as u8; page_size as usize];
            writer.write_page(pgno, &page).unwrap();
        }
        writer.finish().unwrap();
        out
    }

    fn apply(files: &[Vec<u8>]) -> Result<Vec<u8>> {
        let readers = files
            .iter()
            .map(|f| Reader::new(&f[..]))
            .collect::<Result<Vec<_>>>()?;
        let mut db = Vec::new();
        write_database(readers, &mut db)?;
        Ok(db)
    }

    #[test]
    fn writes_pages_at_their_offsets() {
        let files = [file(1, 3, 512, &[1, 2, 3]), file(2, 4, 512, &[2, 4])];
        let db = apply(&files).unwrap();
        assert_eq!(db.len(), 4 * 512);
        let firsts: Vec<u8> = db.chunks(512).map(|page| page[0]).collect();
        assert_eq!(firsts, [2, 4, 4, 6]);
    }

    /// Remembers only what the lock-page test needs, so the 1 GiB image
    /// is never held in memory.
    #[derive(Default)]
    struct LockPageProbe {
        len: u64,
        lock_range: std::ops::Range<u64>,
        nonzero_in_lock_page: bool,
        first_byte_after_lock: Option<u8>,
    }

    impl Write for LockPageProbe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            for (at, &byte) in (self.len..).zip(buf) {
                if self.lock_range.contains(&at) && byte != 0 {
                    self.nonzero_in_lock_page = true;
                }
                if at == self.lock_range.end {
                    self.first_byte_after_lock = Some(byte);
                }
            }
            self.len += buf.len() as u64;
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[ignore = "builds a 1 GiB image; run with --release -- --ignored"]
    fn lock_page_is_zero_filled() {
        let page_size = 65536u32;
        let lock = crate::header::lock_pgno(page_size);
        let pages: Vec<u32> = (1..=lock + 1).filter(|&p| p != lock).collect();
        let bytes = file(1, lock + 1, page_size, &pages);
        let lock_at = u64::from(lock - 1) * u64::from(page_size);
        let mut probe = LockPageProbe {
            lock_range: lock_at..lock_at + u64::from(page_size),
            ..LockPageProbe::default()
        };
        write_database(vec![Reader::new(&bytes[..]).unwrap()], &mut probe).unwrap();
        assert_eq!(probe.len, u64::from(lock + 1) * u64::from(page_size));
        assert!(!probe.nonzero_in_lock_page);
        assert_eq!(
            probe.first_byte_after_lock,
            Some(((lock + 1) % 251) as u8 + 1)
        );
    }

    #[test]
    fn chain_without_snapshot_is_rejected() {
        let files = [file(2, 1, 512, &[1])];
        assert!(matches!(
            apply(&files),
            Err(Error::NotSnapshot { min_txid: 2 })
        ));
    }
}
