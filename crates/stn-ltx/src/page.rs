//! Page frames: a 6-byte header (page number u32, flags u16) followed by
//! the page compressed on its own, so any page can be fetched by range.
//!
//! Flags 0x0001 (what Litestream ≥ 0.5.16 and this crate write): a u32 size
//! prefix, then one LZ4 block. Flags 0: a standalone LZ4 frame without
//! prefix (Litestream 0.5.0–0.5.15), see [`crate::legacy`].

use std::io::Read;

use crate::checksum::Crc64;
use crate::error::{Error, Result};
use crate::header::check_page_size;
use crate::input::{read_array, read_vec};
use crate::legacy;

/// Bytes of the frame header; six zero bytes end the page block.
pub(crate) const FRAME_HEADER_SIZE: usize = 6;

const FLAG_BLOCK: u16 = 0x0001;

/// The largest compressed size a page of `page_size` bytes can need; LZ4's
/// worst case is only slightly above the input size.
pub(crate) fn max_compressed_size(page_size: usize) -> usize {
    lz4_flex::block::get_maximum_output_size(page_size)
}

/// Replaces `out` with the frame for one page (block format) and feeds the
/// bytes the file checksum covers into `crc`: the frame header, the size
/// prefix and the uncompressed page.
pub(crate) fn encode_frame(pgno: u32, page: &[u8], out: &mut Vec<u8>, crc: &mut Crc64) {
    let compressed = lz4_flex::block::compress(page);
    // Pages are at most 64 KiB, so the compressed size always fits a u32.
    let size = compressed.len() as u32;

    out.clear();
    out.extend_from_slice(&pgno.to_be_bytes());
    out.extend_from_slice(&FLAG_BLOCK.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    crc.update(out);
    crc.update(page);
    out.extend_from_slice(&compressed);
}

/// Reads the next frame into `page` (whose length is the page size) and
/// returns its page number, or `None` at the page-block terminator.
///
/// Feeds the bytes the file checksum covers into `crc`. `scratch` holds
/// compressed bytes between calls so they are allocated once.
pub(crate) fn read_frame<R: Read>(
    r: &mut R,
    page: &mut [u8],
    scratch: &mut Vec<u8>,
    crc: &mut Crc64,
) -> Result<Option<u32>> {
    let header: [u8; FRAME_HEADER_SIZE] = read_array(r, "page frame header")?;
    crc.update(&header);
    let [p0, p1, p2, p3, f0, f1] = header;
    let pgno = u32::from_be_bytes([p0, p1, p2, p3]);
    let flags = u16::from_be_bytes([f0, f1]);

    if pgno == 0 && flags == 0 {
        return Ok(None);
    }
    if pgno == 0 {
        return Err(Error::PageNumberZero);
    }
    match flags {
        FLAG_BLOCK => read_block(r, pgno, page, scratch, crc)?,
        0 => legacy::read_frame(r, pgno, page, scratch)?,
        _ => return Err(Error::InvalidPageFlags { pgno, flags }),
    }
    crc.update(page);
    Ok(Some(pgno))
}

fn read_block<R: Read>(
    r: &mut R,
    pgno: u32,
    page: &mut [u8],
    scratch: &mut Vec<u8>,
    crc: &mut Crc64,
) -> Result<()> {
    let prefix: [u8; 4] = read_array(r, "page size prefix")?;
    crc.update(&prefix);
    let size = u32::from_be_bytes(prefix);
    if size as usize > max_compressed_size(page.len()) {
        return Err(Error::CompressedSizeTooLarge {
            pgno,
            size: u64::from(size),
        });
    }

    read_vec(r, scratch, size as usize, "compressed page")?;
    let written =
        lz4_flex::block::decompress_into(scratch, page).map_err(|err| Error::CorruptPage {
            pgno,
            reason: err.to_string(),
        })?;
    if written != page.len() {
        return Err(Error::PageSizeMismatch {
            pgno,
            expected: page.len(),
            actual: written,
        });
    }
    Ok(())
}

/// Decodes one page frame fetched on its own, e.g. by a byte range taken
/// from a [`crate::PageIndex`] entry. Returns the page number and page.
///
/// Only the file checksum protects page contents, and it spans the whole
/// file, so a frame read alone is checked for structure but not content.
pub fn decode_frame(frame: &[u8], page_size: u32) -> Result<(u32, Vec<u8>)> {
    check_page_size(page_size)?;
    let mut page = vec![0u8; page_size as usize];
    let mut rest = frame;
    let pgno = read_frame(&mut rest, &mut page, &mut Vec::new(), &mut Crc64::new())?
        .ok_or(Error::PageNumberZero)?;
    if !rest.is_empty() {
        return Err(Error::TrailingData { what: "page frame" });
    }
    Ok((pgno, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_page(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i / 7 % 256) as u8).collect()
    }

    fn frame_of(pgno: u32, page: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(pgno, page, &mut out, &mut Crc64::new());
        out
    }

    #[test]
    fn frame_round_trips() {
        let page = sample_page(4096);
        let frame = frame_of(9, &page);
        assert_eq!(&frame[..6], &[0, 0, 0, 9, 0, 1]);
        assert_eq!(decode_frame(&frame, 4096).unwrap(), (9, page));
    }

    #[test]
    fn checksum_covers_header_prefix_and_uncompressed_page() {
        let page = sample_page(512);
        let mut crc = Crc64::new();
        let mut frame = Vec::new();
        encode_frame(3, &page, &mut frame, &mut crc);

        let mut expected = Crc64::new();
        expected.update(&frame[..10]);
        expected.update(&page);
        assert_eq!(crc.finish(), expected.finish());

        let mut read_crc = Crc64::new();
        let mut out = vec![0u8; 512];
        let pgno = read_frame(&mut &frame[..], &mut out, &mut Vec::new(), &mut read_crc).unwrap();
        assert_eq!(pgno, Some(3));
        assert_eq!(read_crc.finish(), expected.finish());
    }

    #[test]
    fn terminator_ends_page_block() {
        let mut out = vec![0u8; 512];
        let got = read_frame(
            &mut &[0u8; 6][..],
            &mut out,
            &mut Vec::new(),
            &mut Crc64::new(),
        );
        assert_eq!(got.unwrap(), None);
    }

    #[test]
    fn wrong_decompressed_size_is_rejected() {
        let frame = frame_of(1, &sample_page(1024));
        assert!(matches!(
            decode_frame(&frame, 2048),
            Err(Error::PageSizeMismatch { .. })
        ));
        assert!(decode_frame(&frame, 512).is_err());
    }

    #[test]
    fn oversized_prefix_is_rejected_before_reading() {
        let mut frame = frame_of(1, &sample_page(512));
        frame[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_frame(&frame, 512),
            Err(Error::CompressedSizeTooLarge { pgno: 1, .. })
        ));
    }

    #[test]
    fn unknown_flags_and_zero_pgno_are_rejected() {
        let mut frame = frame_of(1, &sample_page(512));
        frame[5] = 2;
        assert!(matches!(
            decode_frame(&frame, 512),
            Err(Error::InvalidPageFlags { flags: 2, .. })
        ));
        let mut frame = frame_of(1, &sample_page(512));
        frame[3] = 0;
        assert!(matches!(
            decode_frame(&frame, 512),
            Err(Error::PageNumberZero)
        ));
    }

    #[test]
    fn trailing_bytes_after_frame_are_rejected() {
        let mut frame = frame_of(1, &sample_page(512));
        frame.push(0);
        assert!(matches!(
            decode_frame(&frame, 512),
            Err(Error::TrailingData { .. })
        ));
    }

    #[test]
    fn invalid_page_size_is_rejected() {
        let frame = frame_of(1, &sample_page(512));
        assert!(matches!(
            decode_frame(&frame, 1000),
            Err(Error::InvalidPageSize { page_size: 1000 })
        ));
    }
}
