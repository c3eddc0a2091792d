//! The page index after the page block: per page three unsigned LEB128
//! varints (page number, absolute frame offset, frame size including its
//! header and size prefix), a 0 varint, then a big-endian u64 holding the
//! byte length of the varint area (terminator included).

use crate::checksum::Crc64;
use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, TRAILER_SIZE};
use crate::page::FRAME_HEADER_SIZE;

/// Bytes of the big-endian length field after the varint area.
pub(crate) const INDEX_LEN_SIZE: usize = 8;

/// Where one page frame lives in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Page number.
    pub pgno: u32,
    /// Absolute byte offset of the frame in the file.
    pub offset: u64,
    /// Bytes of the frame, header and size prefix included.
    pub size: u64,
}

/// Appends the varint encoding of `entry` to `out`.
pub(crate) fn encode_entry(out: &mut Vec<u8>, entry: &IndexEntry) {
    encode_varint(out, u64::from(entry.pgno));
    encode_varint(out, entry.offset);
    encode_varint(out, entry.size);
}

/// The terminator that ends the varint area.
pub(crate) const INDEX_TERMINATOR: [u8; 1] = [0];

fn encode_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes one varint from the front of `bytes`, advancing it. Rejects
/// values that do not fit 64 bits, like Go's `binary.ReadUvarint`.
fn decode_varint(bytes: &mut &[u8]) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or(Error::InvalidIndex {
            reason: "varint runs past the end of the index",
        })?;
        *bytes = rest;
        let low = u64::from(byte & 0x7f);
        if shift == 63 && low > 1 {
            break;
        }
        value |= low << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::InvalidIndex {
        reason: "varint overflows 64 bits",
    })
}

/// A file's page index, parsed from the tail of the file so single pages
/// can be fetched by byte range (see [`crate::decode_frame`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageIndex {
    entries: Vec<IndexEntry>,
}

impl PageIndex {
    /// Parses the index from `tail`, the last `tail.len()` bytes of a file
    /// that is `file_len` bytes long. If `tail` does not reach back to the
    /// start of the index, fails with [`Error::TailTooShort`] saying how
    /// many bytes are needed, so the caller can fetch more and retry.
    ///
    /// Checks the structure: ascending pages, frames packed back to back
    /// from the end of the header to the page-block terminator. The file
    /// checksum is not verified here; only a full read does that.
    pub fn parse_tail(tail: &[u8], file_len: u64) -> Result<PageIndex> {
        const FIXED: u64 = (INDEX_LEN_SIZE + TRAILER_SIZE) as u64;
        if tail.len() as u64 > file_len {
            return Err(Error::InvalidIndex {
                reason: "tail is longer than the file",
            });
        }
        let (rest, _trailer) = tail
            .split_last_chunk::<TRAILER_SIZE>()
            .ok_or(Error::TailTooShort { needed: FIXED })?;
        let (rest, len_field) = rest
            .split_last_chunk::<INDEX_LEN_SIZE>()
            .ok_or(Error::TailTooShort { needed: FIXED })?;
        let area_len = u64::from_be_bytes(*len_field);

        // At least the header and the page-block terminator precede the index.
        let needed = area_len.saturating_add(FIXED);
        let area_start = file_len
            .checked_sub(needed)
            .filter(|&start| start >= (HEADER_SIZE + FRAME_HEADER_SIZE) as u64)
            .ok_or(Error::InvalidIndex {
                reason: "index length exceeds the file",
            })?;
        let area = usize::try_from(area_len)
            .ok()
            .and_then(|area_len| rest.len().checked_sub(area_len))
            .and_then(|area_at| rest.get(area_at..))
            .ok_or(Error::TailTooShort { needed })?;
        Ok(PageIndex {
            entries: parse_area(area, area_start)?,
        })
    }

    /// The entry for `pgno`, if the file holds that page.
    pub fn get(&self, pgno: u32) -> Option<&IndexEntry> {
        self.entries
            .binary_search_by_key(&pgno, |entry| entry.pgno)
            .ok()
            .and_then(|at| self.entries.get(at))
    }

    /// All entries in ascending page order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }
}

/// Parses the varint area of a file where that area starts at `area_start`.
fn parse_area(mut area: &[u8], area_start: u64) -> Result<Vec<IndexEntry>> {
    let invalid = |reason| Error::InvalidIndex { reason };
    let mut entries: Vec<IndexEntry> = Vec::new();
    // Frames are packed: each starts where the previous ended.
    let mut next_offset = HEADER_SIZE as u64;
    loop {
        let pgno = decode_varint(&mut area)?;
        if pgno == 0 {
            break;
        }
        let pgno = u32::try_from(pgno).map_err(|_| invalid("page number exceeds 32 bits"))?;
        if entries.last().is_some_and(|last| last.pgno >= pgno) {
            return Err(invalid("pages are not strictly ascending"));
        }
        let offset = decode_varint(&mut area)?;
        let size = decode_varint(&mut area)?;
        if offset != next_offset {
            return Err(invalid("frames are not packed back to back"));
        }
        if size <= FRAME_HEADER_SIZE as u64 {
            return Err(invalid("frame size too small"));
        }
        next_offset = offset
            .checked_add(size)
            .ok_or(invalid("frame extends past the file"))?;
        entries.push(IndexEntry { pgno, offset, size });
    }
    if !area.is_empty() {
        return Err(invalid("bytes after the index terminator"));
    }
    if next_offset.checked_add(FRAME_HEADER_SIZE as u64) != Some(area_start) {
        return Err(invalid("frames do not end at the page-block terminator"));
    }
    Ok(entries)
}

/// What the index of a file must contain, gathered while its frames stream
/// past. A streaming reader cannot hold every entry without memory growing
/// with the page count, so it keeps the CRC and length of the expected
/// encoding and compares the stored index against that.
#[derive(Clone, Debug)]
pub(crate) struct IndexDigest {
    crc: Crc64,
    len: u64,
    scratch: Vec<u8>,
}

impl IndexDigest {
    pub(crate) fn new() -> Self {
        IndexDigest {
            crc: Crc64::new(),
            len: 0,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, entry: &IndexEntry) {
        self.scratch.clear();
        encode_entry(&mut self.scratch, entry);
        self.crc.update(&self.scratch);
        self.len += self.scratch.len() as u64;
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Byte length of everything pushed so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn matches(&self, other: &IndexDigest) -> bool {
        self.len == other.len && self.crc.finish() == other.crc.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_varint(&mut out, value);
        out
    }

    #[test]
    fn varints_match_go_encoding() {
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x80, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(varint(u64::MAX).len(), 10);
        for value in [0, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
            let bytes = varint(value);
            let mut rest = &bytes[..];
            assert_eq!(decode_varint(&mut rest).unwrap(), value);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let mut eleven: &[u8] = &[0xff; 11];
        assert!(decode_varint(&mut eleven).is_err());
        let mut too_big: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(decode_varint(&mut too_big).is_err());
        let mut cut: &[u8] = &[0x80];
        assert!(decode_varint(&mut cut).is_err());
    }

    /// Builds the tail (index + length + trailer) of a file whose frames
    /// have the given sizes, returning the tail and the file length.
    fn tail_for(pages: &[(u32, u64)]) -> (Vec<u8>, u64) {
        let mut area = Vec::new();
        let mut offset = HEADER_SIZE as u64;
        for &(pgno, size) in pages {
            encode_entry(&mut area, &IndexEntry { pgno, offset, size });
            offset += size;
        }
        area.extend_from_slice(&INDEX_TERMINATOR);
        let file_len = offset + FRAME_HEADER_SIZE as u64 + area.len() as u64 + 24;
        let mut tail = area.clone();
        tail.extend_from_slice(&(area.len() as u64).to_be_bytes());
        tail.extend_from_slice(&[0u8; TRAILER_SIZE]);
        (tail, file_len)
    }

    #[test]
    fn parses_tail() {
        let (tail, file_len) = tail_for(&[(1, 40), (2, 300), (9, 12)]);
        let index = PageIndex::parse_tail(&tail, file_len).unwrap();
        assert_eq!(index.entries().len(), 3);
        assert_eq!(
            index.get(2),
            Some(&IndexEntry {
                pgno: 2,
                offset: 140,
                size: 300
            })
        );
        assert_eq!(index.get(3), None);
    }

    #[test]
    fn longer_tail_is_fine_and_short_tail_says_what_it_needs() {
        let (tail, file_len) = tail_for(&[(1, 40), (2, 300)]);
        let mut longer = vec![0xEE; 50];
        longer.extend_from_slice(&tail);
        assert_eq!(
            PageIndex::parse_tail(&longer, file_len)
                .unwrap()
                .entries()
                .len(),
            2
        );

        let short = &tail[3..];
        match PageIndex::parse_tail(short, file_len) {
            Err(Error::TailTooShort { needed }) => assert_eq!(needed, tail.len() as u64),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            PageIndex::parse_tail(&tail[..10], file_len),
            Err(Error::TailTooShort { .. }) | Err(Error::InvalidIndex { .. })
        ));
    }

    #[test]
    fn empty_index_parses() {
        let (tail, file_len) = tail_for(&[]);
        assert!(
            PageIndex::parse_tail(&tail, file_len)
                .unwrap()
                .entries()
                .is_empty()
        );
    }

    #[test]
    fn inconsistent_offsets_are_rejected() {
        let (tail, file_len) = tail_for(&[(1, 40), (2, 300)]);
        assert!(PageIndex::parse_tail(&tail, file_len + 1).is_err());
        let (tail, file_len) = tail_for(&[(2, 40), (1, 300)]);
        assert!(PageIndex::parse_tail(&tail, file_len).is_err());
    }

    #[test]
    fn digest_compares_encodings() {
        let entry = IndexEntry {
            pgno: 1,
            offset: 100,
            size: 20,
        };
        let mut a = IndexDigest::new();
        a.push(&entry);
        let mut b = IndexDigest::new();
        let mut bytes = Vec::new();
        encode_entry(&mut bytes, &entry);
        b.update(&bytes);
        assert!(a.matches(&b));
        b.update(&INDEX_TERMINATOR);
        assert!(!a.matches(&b));
    }
}
