//! Streaming, fully verifying reader of one LTX file.

use std::io::Read;

use crate::checksum::{CHECKSUM_FLAG, Crc64, fold_page};
use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, Header, TRAILER_SIZE, Trailer};
use crate::index::{INDEX_LEN_SIZE, INDEX_TERMINATOR, IndexDigest, IndexEntry};
use crate::input::{CountingReader, expect_end, read_array, read_exact};
use crate::order::PageOrder;
use crate::page::read_frame;

/// Reads an LTX file front to back, one page at a time, checking every
/// rule on the way: header, each frame and its decompressed size, page
/// order, snapshot completeness, that the index describes the frames seen,
/// the trailer, the file checksum (and, for checksum-tracking snapshots,
/// the rolling checksum), and that nothing follows the trailer.
///
/// A page returned before the end has not been covered by the file checksum
/// yet: only when [`Reader::next_page`] returns `Ok(None)` is the whole file
/// known to be intact. Memory use is bounded by the page size. Reads are
/// small, so wrap files in a `BufReader`.
#[derive(Debug)]
pub struct Reader<R> {
    input: CountingReader<R>,
    header: Header,
    state: State,
    crc: Crc64,
    order: PageOrder,
    expected_index: IndexDigest,
    /// Rolling database checksum, kept only for checksum-tracking snapshots.
    rolling: Option<u64>,
    /// Compressed bytes of the current frame.
    scratch: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Pages,
    Finished(Trailer),
    Failed,
}

impl<R: Read> Reader<R> {
    /// Reads and validates the header.
    pub fn new(input: R) -> Result<Self> {
        let mut input = CountingReader::new(input);
        let bytes: [u8; HEADER_SIZE] = read_array(&mut input, "header")?;
        let header = Header::decode(&bytes)?;
        let mut crc = Crc64::new();
        crc.update(&bytes);
        let tracks_snapshot_checksum = header.is_snapshot() && !header.no_checksum();
        Ok(Reader {
            input,
            header,
            state: State::Pages,
            crc,
            order: PageOrder::new(&header),
            expected_index: IndexDigest::new(),
            rolling: tracks_snapshot_checksum.then_some(CHECKSUM_FLAG),
            scratch: Vec::new(),
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The verified trailer, once the end of the file has been reached.
    pub fn trailer(&self) -> Option<Trailer> {
        match self.state {
            State::Finished(trailer) => Some(trailer),
            State::Pages | State::Failed => None,
        }
    }

    /// Returns the next page and its number, or `None` once the rest of the
    /// file has been read and verified.
    pub fn next_page(&mut self) -> Result<Option<(u32, Vec<u8>)>> {
        let mut page = vec![0u8; self.header.page_size as usize];
        Ok(self.next_page_into(&mut page)?.map(|pgno| (pgno, page)))
    }

    /// Like [`Reader::next_page`], but decodes into `page`, which must be
    /// exactly the page size long. After any error the reader is unusable.
    pub fn next_page_into(&mut self, page: &mut [u8]) -> Result<Option<u32>> {
        match self.state {
            State::Finished(_) => return Ok(None),
            State::Failed => return Err(Error::ReaderFailed),
            State::Pages => {}
        }
        let expected = self.header.page_size as usize;
        if page.len() != expected {
            return Err(Error::PageSizeMismatch {
                pgno: 0,
                expected,
                actual: page.len(),
            });
        }
        let result = self.read_page(page);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn read_page(&mut self, page: &mut [u8]) -> Result<Option<u32>> {
        let offset = self.input.position();
        let Some(pgno) = read_frame(&mut self.input, page, &mut self.scratch, &mut self.crc)?
        else {
            let trailer = self.read_tail()?;
            self.state = State::Finished(trailer);
            return Ok(None);
        };
        self.order.check(pgno)?;
        self.expected_index.push(&IndexEntry {
            pgno,
            offset,
            size: self.input.position() - offset,
        });
        if let Some(rolling) = self.rolling {
            self.rolling = Some(fold_page(rolling, pgno, page));
        }
        Ok(Some(pgno))
    }

    /// Reads and checks everything after the page-block terminator.
    fn read_tail(&mut self) -> Result<Trailer> {
        self.order.finish()?;
        self.expected_index.update(&INDEX_TERMINATOR);
        self.read_index()?;

        let len_field: [u8; INDEX_LEN_SIZE] = read_array(&mut self.input, "page index length")?;
        self.crc.update(&len_field);
        if u64::from_be_bytes(len_field) != self.expected_index.len() {
            return Err(Error::IndexMismatch);
        }

        let bytes: [u8; TRAILER_SIZE] = read_array(&mut self.input, "trailer")?;
        let trailer = Trailer::decode(&bytes);
        self.crc.update(&bytes[..8]);
        trailer.validate(&self.header)?;
        let actual = CHECKSUM_FLAG | self.crc.finish();
        if trailer.file_checksum != actual {
            return Err(Error::ChecksumMismatch {
                what: "file",
                expected: trailer.file_checksum,
                actual,
            });
        }
        if let Some(rolling) = self.rolling
            && rolling != trailer.post_apply_checksum
        {
            return Err(Error::ChecksumMismatch {
                what: "post-apply",
                expected: trailer.post_apply_checksum,
                actual: rolling,
            });
        }
        expect_end(&mut self.input, "trailer")?;
        Ok(trailer)
    }

    /// Reads exactly as many index bytes as the frames seen call for and
    /// compares them with what those frames require.
    fn read_index(&mut self) -> Result<()> {
        let mut stored = IndexDigest::new();
        let mut remaining = self.expected_index.len();
        let mut chunk = [0u8; 4096];
        while remaining > 0 {
            let take = remaining.min(chunk.len() as u64) as usize;
            let buf = &mut chunk[..take];
            read_exact(&mut self.input, buf, "page index")?;
            self.crc.update(buf);
            stored.update(buf);
            remaining -= take as u64;
        }
        if stored.matches(&self.expected_index) {
            Ok(())
        } else {
            Err(Error::IndexMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Writer;

    fn file(min_txid: u64, commit: u32, pages: &[u32]) -> Vec<u8> {
        let header = Header {
            page_size: 512,
            commit,
            min_txid,
            max_txid: min_txid,
            ..Header::default()
        };
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, header).unwrap();
        for &pgno in pages {
            writer.write_page(pgno, &[pgno as u8; 512]).unwrap();
        }
        writer.finish().unwrap();
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>> {
        let mut reader = Reader::new(bytes)?;
        let mut pages = Vec::new();
        while let Some(page) = reader.next_page()? {
            pages.push(page);
        }
        assert!(reader.trailer().is_some());
        Ok(pages)
    }

    #[test]
    fn reads_what_writer_wrote() {
        let bytes = file(3, 9, &[2, 5, 9]);
        let pages = read_all(&bytes).unwrap();
        let pgnos: Vec<u32> = pages.iter().map(|(pgno, _)| *pgno).collect();
        assert_eq!(pgnos, [2, 5, 9]);
        assert_eq!(pages[1].1, vec![5u8; 512]);
    }

    #[test]
    fn reads_empty_file() {
        assert!(read_all(&file(4, 0, &[])).unwrap().is_empty());
    }

    #[test]
    fn finished_reader_keeps_returning_none() {
        let bytes = file(2, 1, &[1]);
        let mut reader = Reader::new(&bytes[..]).unwrap();
        assert!(reader.next_page().unwrap().is_some());
        assert!(reader.next_page().unwrap().is_none());
        assert!(reader.next_page().unwrap().is_none());
    }

    #[test]
    fn failed_reader_stays_failed() {
        let mut bytes = file(2, 3, &[1, 2]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let mut reader = Reader::new(&bytes[..]).unwrap();
        reader.next_page().unwrap();
        reader.next_page().unwrap();
        assert!(matches!(
            reader.next_page(),
            Err(Error::ChecksumMismatch { what: "file", .. })
        ));
        assert!(matches!(reader.next_page(), Err(Error::ReaderFailed)));
    }

    #[test]
    fn trailing_data_is_rejected() {
        let mut bytes = file(2, 1, &[1]);
        bytes.push(0);
        assert!(matches!(read_all(&bytes), Err(Error::TrailingData { .. })));
    }

    #[test]
    fn wrong_buffer_size_is_rejected() {
        let bytes = file(2, 1, &[1]);
        let mut reader = Reader::new(&bytes[..]).unwrap();
        assert!(matches!(
            reader.next_page_into(&mut [0u8; 10]),
            Err(Error::PageSizeMismatch { .. })
        ));
    }
}
