//! Writing an LTX file page by page.

use std::io::Write;

use crate::checksum::{CHECKSUM_FLAG, Crc64};
use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, Header};
use crate::index::{INDEX_TERMINATOR, IndexEntry, encode_entry};
use crate::order::PageOrder;
use crate::page::{FRAME_HEADER_SIZE, encode_frame};

/// What [`Writer::finish`] reports about the file it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// The file checksum stored in the trailer (bit 63 set).
    pub file_checksum: u64,
    /// Total bytes written.
    pub size: u64,
    /// Number of page frames written.
    pub page_count: u32,
}

/// Writes one LTX file to `W` in the form Litestream 0.5 reads: NoChecksum
/// flag, zero pre- and post-apply checksums, every page as an LZ4 block
/// with size prefix, page index and file checksum.
///
/// Pages must be given in ascending order, within the commit size, never
/// the lock page, and for a snapshot (min TXID 1) all of them. Output is
/// written as it goes; wrap `W` in a `BufWriter` for files. If a write to
/// `W` fails the output is incomplete and must be discarded.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    header: Header,
    crc: Crc64,
    order: PageOrder,
    /// Bytes written so far, i.e. the offset of the next frame.
    offset: u64,
    /// Encoded index entries, written at the end.
    index: Vec<u8>,
    /// Reused buffer for one encoded frame.
    frame: Vec<u8>,
    page_count: u32,
}

impl<W: Write> Writer<W> {
    /// Validates `header` and writes it.
    pub fn new(mut out: W, header: Header) -> Result<Self> {
        header.validate()?;
        if !header.no_checksum() {
            return Err(Error::ChecksumTrackingUnsupported);
        }
        let bytes = header.encode();
        out.write_all(&bytes)?;
        let mut crc = Crc64::new();
        crc.update(&bytes);
        Ok(Writer {
            out,
            header,
            crc,
            order: PageOrder::new(&header),
            offset: HEADER_SIZE as u64,
            index: Vec::new(),
            frame: Vec::new(),
            page_count: 0,
        })
    }

    /// The header being written.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Appends one page; `page` must be exactly the page size.
    pub fn write_page(&mut self, pgno: u32, page: &[u8]) -> Result<()> {
        let expected = self.header.page_size as usize;
        if page.len() != expected {
            return Err(Error::PageSizeMismatch {
                pgno,
                expected,
                actual: page.len(),
            });
        }
        self.order.check(pgno)?;

        encode_frame(pgno, page, &mut self.frame, &mut self.crc);
        self.out.write_all(&self.frame)?;
        let entry = IndexEntry {
            pgno,
            offset: self.offset,
            size: self.frame.len() as u64,
        };
        encode_entry(&mut self.index, &entry);
        self.offset += entry.size;
        self.page_count += 1;
        Ok(())
    }

    /// Ends the page block, writes index and trailer, and flushes `W`.
    /// Fails if a snapshot is missing pages.
    pub fn finish(mut self) -> Result<WriteSummary> {
        self.order.finish()?;
        self.index.extend_from_slice(&INDEX_TERMINATOR);
        let index_len = (self.index.len() as u64).to_be_bytes();
        let post_apply_checksum = 0u64.to_be_bytes();

        let mut tail = Vec::with_capacity(FRAME_HEADER_SIZE + self.index.len() + 16);
        tail.extend_from_slice(&[0u8; FRAME_HEADER_SIZE]);
        tail.extend_from_slice(&self.index);
        tail.extend_from_slice(&index_len);
        tail.extend_from_slice(&post_apply_checksum);
        self.crc.update(&tail);
        let file_checksum = CHECKSUM_FLAG | self.crc.finish();
        tail.extend_from_slice(&file_checksum.to_be_bytes());

        self.out.write_all(&tail)?;
        self.out.flush()?;
        Ok(WriteSummary {
            file_checksum,
            size: self.offset + tail.len() as u64,
            page_count: self.page_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{FLAG_NO_CHECKSUM, TRAILER_SIZE};

    fn header(min_txid: u64, commit: u32) -> Header {
        Header {
            page_size: 512,
            commit,
            min_txid,
            max_txid: min_txid,
            timestamp: 1_700_000_000_000,
            ..Header::default()
        }
    }

    #[test]
    fn writes_expected_layout() {
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, header(1, 2)).unwrap();
        writer.write_page(1, &[1u8; 512]).unwrap();
        writer.write_page(2, &[2u8; 512]).unwrap();
        let summary = writer.finish().unwrap();

        assert_eq!(summary.size, out.len() as u64);
        assert_eq!(summary.page_count, 2);
        assert_eq!(&out[..4], b"LTX1");
        assert_eq!(&out[4..8], &FLAG_NO_CHECKSUM.to_be_bytes());
        let trailer = &out[out.len() - TRAILER_SIZE..];
        assert_eq!(&trailer[..8], &[0u8; 8], "post-apply checksum");
        assert_eq!(&trailer[8..], &summary.file_checksum.to_be_bytes());
        assert_ne!(summary.file_checksum & CHECKSUM_FLAG, 0);
        assert_eq!(&out[100..106], &[0, 0, 0, 1, 0, 1], "first frame header");
    }

    #[test]
    fn rejects_checksum_tracking_and_invalid_headers() {
        let tracking = Header {
            flags: 0,
            ..header(1, 1)
        };
        assert!(matches!(
            Writer::new(Vec::new(), tracking),
            Err(Error::ChecksumTrackingUnsupported)
        ));
        assert!(matches!(
            Writer::new(Vec::new(), header(0, 1)),
            Err(Error::InvalidTxidRange { .. })
        ));
    }

    #[test]
    fn rejects_bad_pages() {
        let mut writer = Writer::new(Vec::new(), header(5, 4)).unwrap();
        assert!(matches!(
            writer.write_page(1, &[0u8; 100]),
            Err(Error::PageSizeMismatch { .. })
        ));
        writer.write_page(2, &[0u8; 512]).unwrap();
        assert!(matches!(
            writer.write_page(2, &[0u8; 512]),
            Err(Error::PageOutOfOrder { .. })
        ));
        assert!(matches!(
            writer.write_page(5, &[0u8; 512]),
            Err(Error::PageBeyondCommit { .. })
        ));
        // A rejected page leaves the writer usable.
        writer.write_page(4, &[0u8; 512]).unwrap();
        writer.finish().unwrap();
    }

    #[test]
    fn incomplete_snapshot_cannot_finish() {
        let mut writer = Writer::new(Vec::new(), header(1, 3)).unwrap();
        writer.write_page(1, &[0u8; 512]).unwrap();
        assert!(matches!(
            writer.finish(),
            Err(Error::SnapshotMissingPage { pgno: 2 })
        ));
    }
}
