//! Compaction: merging consecutive LTX files into one, as Litestream does
//! when it moves files up a level or rebuilds a snapshot.

use std::io::{Read, Write};

use crate::error::Result;
use crate::header::Header;
use crate::merge::Merge;
use crate::reader::Reader;
use crate::writer::{WriteSummary, Writer};

/// Merges `inputs` (in TXID order, each min TXID = previous max + 1, one
/// page size) into a single LTX file written to `out`.
///
/// The output covers the first min TXID to the last max TXID, has the last
/// file's commit size, the latest input timestamp unless `timestamp` is
/// given, and no WAL fields. For each page the newest version wins; pages
/// past the final commit are dropped. If the first input is a snapshot the
/// output is one too, and fails unless it is complete. Streams: memory is
/// one page per input. Every input is fully verified; an error in any of
/// them fails the compaction, and `out` then holds an unusable partial file.
pub fn compact<R: Read, W: Write>(
    inputs: Vec<Reader<R>>,
    out: W,
    timestamp: Option<i64>,
) -> Result<WriteSummary> {
    let mut merge = Merge::new(inputs)?;
    let merged = *merge.header();
    let header = Header {
        timestamp: timestamp.unwrap_or(merged.timestamp),
        ..merged
    };
    let mut writer = Writer::new(out, header)?;
    while let Some((pgno, page)) = merge.next_page()? {
        writer.write_page(pgno, page)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn file(min_txid: u64, commit: u32, pages: &[(u32, u8)]) -> Vec<u8> {
        let header = Header {
            page_size: 1024,
            commit,
            min_txid,
            max_txid: min_txid,
            timestamp: 5,
            wal_offset: 32,
            wal_size: 4128,
            wal_salt1: 7,
            ..Header::default()
        };
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, header).unwrap();
        for &(pgno, fill) in pages {
            writer.write_page(pgno, &[fill; 1024]).unwrap();
        }
        writer.finish().unwrap();
        out
    }

    fn readers(files: &[Vec<u8>]) -> Vec<Reader<&[u8]>> {
        files.iter().map(|f| Reader::new(&f[..]).unwrap()).collect()
    }

    #[test]
    fn output_is_a_valid_file_with_merged_header() {
        let files = [file(5, 3, &[(1, 1), (3, 1)]), file(6, 4, &[(3, 2), (4, 2)])];
        let mut out = Vec::new();
        let summary = compact(readers(&files), &mut out, Some(99)).unwrap();
        assert_eq!(summary.size, out.len() as u64);
        assert_eq!(summary.page_count, 3);

        let mut reader = Reader::new(&out[..]).unwrap();
        let header = *reader.header();
        assert_eq!((header.min_txid, header.max_txid, header.commit), (5, 6, 4));
        assert_eq!(header.timestamp, 99);
        assert_eq!(
            (header.wal_offset, header.wal_size, header.wal_salt1),
            (0, 0, 0)
        );
        let mut pages = Vec::new();
        while let Some((pgno, page)) = reader.next_page().unwrap() {
            pages.push((pgno, page[0]));
        }
        assert_eq!(pages, [(1, 1), (3, 2), (4, 2)]);
    }

    #[test]
    fn snapshot_output_must_be_complete() {
        // The database grew to 3 pages but page 3 is in no input.
        let files = [file(1, 2, &[(1, 1), (2, 1)]), file(2, 3, &[(2, 2)])];
        assert!(matches!(
            compact(readers(&files), Vec::new(), None),
            Err(Error::SnapshotMissingPage { pgno: 3 })
        ));
    }
}
