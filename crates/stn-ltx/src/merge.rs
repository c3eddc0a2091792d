//! K-way merge of consecutive LTX files into one page stream where the
//! newest version of each page wins. Holds one page per input in memory.

use std::io::Read;

use crate::error::{Error, Result};
use crate::header::{FLAG_NO_CHECKSUM, Header};
use crate::reader::Reader;

#[derive(Debug)]
pub(crate) struct Merge<R> {
    inputs: Vec<Input<R>>,
    header: Header,
}

#[derive(Debug)]
struct Input<R> {
    reader: Reader<R>,
    page: Vec<u8>,
    /// Page number held in `page`, if one is waiting to be merged.
    pgno: Option<u32>,
    /// The reader has reached and verified its end.
    done: bool,
}

impl<R: Read> Merge<R> {
    /// Checks that `readers` (headers already read, in TXID order) have one
    /// page size and contiguous TXIDs, and works out the merged header:
    /// TXID range of the whole chain, commit of the last file, latest
    /// timestamp, NoChecksum and no WAL fields.
    pub(crate) fn new(readers: Vec<Reader<R>>) -> Result<Self> {
        let (first, last) = match (readers.first(), readers.last()) {
            (Some(first), Some(last)) => (*first.header(), *last.header()),
            _ => return Err(Error::NoInputs),
        };
        for pair in readers.windows(2) {
            let [before, after] = pair else { continue };
            let (before, after) = (before.header(), after.header());
            if after.page_size != first.page_size {
                return Err(Error::PageSizesDiffer {
                    first: first.page_size,
                    other: after.page_size,
                });
            }
            if before.max_txid.checked_add(1) != Some(after.min_txid) {
                return Err(Error::NonContiguous {
                    previous_max: before.max_txid,
                    next_min: after.min_txid,
                });
            }
        }
        let timestamp = readers
            .iter()
            .map(|reader| reader.header().timestamp)
            .max()
            .unwrap_or(last.timestamp);
        let header = Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: first.page_size,
            commit: last.commit,
            min_txid: first.min_txid,
            max_txid: last.max_txid,
            timestamp,
            ..Header::default()
        };
        let inputs = readers
            .into_iter()
            .map(|reader| Input {
                page: vec![0u8; first.page_size as usize],
                reader,
                pgno: None,
                done: false,
            })
            .collect();
        Ok(Merge { inputs, header })
    }

    /// The header of the merged result.
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// The next page of the merged result in ascending order, or `None`
    /// once every input has been read to its end and verified. Pages past
    /// the final commit size are dropped: the database was truncated.
    pub(crate) fn next_page(&mut self) -> Result<Option<(u32, &[u8])>> {
        let Some((pgno, newest)) = self.next_winner()? else {
            return Ok(None);
        };
        // `newest` is a position in `inputs` found by next_winner.
        Ok(Some((pgno, &self.inputs[newest].page)))
    }

    /// Finds the lowest page number held by any input and the newest input
    /// holding it, and marks that page consumed in every input.
    fn next_winner(&mut self) -> Result<Option<(u32, usize)>> {
        loop {
            for input in &mut self.inputs {
                if input.pgno.is_none() && !input.done {
                    input.pgno = input.reader.next_page_into(&mut input.page)?;
                    input.done = input.pgno.is_none();
                }
            }
            let Some(pgno) = self.inputs.iter().filter_map(|input| input.pgno).min() else {
                return Ok(None);
            };
            let mut newest = 0;
            for (at, input) in self.inputs.iter_mut().enumerate() {
                if input.pgno == Some(pgno) {
                    input.pgno = None;
                    newest = at;
                }
            }
            if pgno <= self.header.commit {
                return Ok(Some((pgno, newest)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Writer;

    fn file(min_txid: u64, max_txid: u64, commit: u32, pages: &[(u32, u8)]) -> Vec<u8> {
        let header = Header {
            page_size: 512,
            commit,
            min_txid,
            max_txid,
            timestamp: min_txid as i64 * 1000,
            ..Header::default()
        };
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, header).unwrap();
        for &(pgno, fill) in pages {
            writer.write_page(pgno, &[fill; 512]).unwrap();
        }
        writer.finish().unwrap();
        out
    }

    fn merge(files: &[Vec<u8>]) -> Result<(Header, Vec<(u32, u8)>)> {
        let readers = files
            .iter()
            .map(|bytes| Reader::new(&bytes[..]))
            .collect::<Result<Vec<_>>>()?;
        let mut merge = Merge::new(readers)?;
        let header = *merge.header();
        let mut pages = Vec::new();
        while let Some((pgno, page)) = merge.next_page()? {
            pages.push((pgno, page[0]));
        }
        Ok((header, pages))
    }

    #[test]
    fn newest_page_wins_and_truncated_pages_drop() {
        let files = [
            file(1, 1, 4, &[(1, 10), (2, 10), (3, 10), (4, 10)]),
            file(2, 3, 4, &[(2, 20), (4, 20)]),
            file(4, 4, 3, &[(1, 40)]),
        ];
        let (header, pages) = merge(&files).unwrap();
        assert_eq!(pages, [(1, 40), (2, 20), (3, 10)]);
        assert_eq!((header.min_txid, header.max_txid, header.commit), (1, 4, 3));
        assert_eq!(header.timestamp, 4000);
    }

    #[test]
    fn gaps_and_overlaps_are_rejected() {
        let gap = [file(1, 1, 1, &[(1, 1)]), file(3, 3, 1, &[])];
        assert!(matches!(
            merge(&gap),
            Err(Error::NonContiguous {
                previous_max: 1,
                next_min: 3
            })
        ));
        let overlap = [file(1, 2, 1, &[(1, 1)]), file(2, 3, 1, &[])];
        assert!(matches!(merge(&overlap), Err(Error::NonContiguous { .. })));
    }

    #[test]
    fn no_inputs_is_an_error() {
        assert!(matches!(merge(&[]), Err(Error::NoInputs)));
    }

    #[test]
    fn corrupt_input_fails_the_merge() {
        let mut bad = file(2, 2, 2, &[(1, 1)]);
        let at = bad.len() - 1;
        bad[at] ^= 1;
        let files = [file(1, 1, 2, &[(1, 0), (2, 0)]), bad];
        assert!(matches!(merge(&files), Err(Error::ChecksumMismatch { .. })));
    }
}
