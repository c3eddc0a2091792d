//! Legacy page payloads: one standalone LZ4 frame per page, with no size
//! prefix, as written by Litestream 0.5.0–0.5.15 (ltx ≤ v0.5.1).
//!
//! The frame is decoded here rather than with a frame decoder library
//! because nothing says where the frame ends: we must consume exactly its
//! bytes and no more, and we want every allocation bounded by the page size
//! no matter what block size the frame declares.

use std::io::Read;

use twox_hash::XxHash32;

use crate::error::{Error, Result};
use crate::input::{read_array, read_vec};
use crate::page::max_compressed_size;

const MAGIC: u32 = 0x184D_2204;

// Frame descriptor FLG bits.
const FLG_VERSION_MASK: u8 = 0b1100_0000;
const FLG_VERSION_1: u8 = 0b0100_0000;
const FLG_INDEPENDENT_BLOCKS: u8 = 0b0010_0000;
const FLG_BLOCK_CHECKSUM: u8 = 0b0001_0000;
const FLG_CONTENT_SIZE: u8 = 0b0000_1000;
const FLG_CONTENT_CHECKSUM: u8 = 0b0000_0100;
const FLG_RESERVED: u8 = 0b0000_0010;
const FLG_DICT_ID: u8 = 0b0000_0001;

// Frame descriptor BD bits.
const BD_RESERVED: u8 = 0b1000_1111;

/// The high bit of a block size marks a block stored uncompressed.
const BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;

/// Reads one LZ4 frame that must decompress to exactly `page.len()` bytes.
pub(crate) fn read_frame<R: Read>(
    r: &mut R,
    pgno: u32,
    page: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Result<()> {
    let magic = u32::from_le_bytes(read_array(r, "legacy LZ4 frame header")?);
    if magic != MAGIC {
        return Err(corrupt(pgno, "bad magic"));
    }
    let flg = read_descriptor(r, pgno, page.len())?;

    let mut filled = 0;
    loop {
        let raw_size = u32::from_le_bytes(read_array(r, "legacy LZ4 block size")?);
        if raw_size == 0 {
            break; // end mark
        }
        let stored_uncompressed = raw_size & BLOCK_UNCOMPRESSED != 0;
        let size = raw_size & !BLOCK_UNCOMPRESSED;
        if size as usize > max_compressed_size(page.len()) {
            return Err(Error::CompressedSizeTooLarge {
                pgno,
                size: u64::from(size),
            });
        }
        let size = size as usize;
        read_vec(r, scratch, size, "legacy LZ4 block")?;
        if flg & FLG_BLOCK_CHECKSUM != 0 {
            let stored = u32::from_le_bytes(read_array(r, "legacy LZ4 block checksum")?);
            if stored != XxHash32::oneshot(0, scratch) {
                return Err(corrupt(pgno, "block checksum mismatch"));
            }
        }

        let (done, rest) = page.split_at_mut(filled);
        let written = if stored_uncompressed {
            let target = rest
                .get_mut(..size)
                .ok_or_else(|| corrupt(pgno, "more data than one page"))?;
            target.copy_from_slice(scratch);
            size
        } else {
            // Linked blocks may copy from the output of earlier blocks.
            let dict: &[u8] = if flg & FLG_INDEPENDENT_BLOCKS != 0 {
                &[]
            } else {
                done
            };
            lz4_flex::block::decompress_into_with_dict(scratch, rest, dict)
                .map_err(|err| corrupt(pgno, &err.to_string()))?
        };
        if written == 0 {
            // Empty blocks are pointless and would let a hostile stream
            // loop without making progress.
            return Err(corrupt(pgno, "empty block"));
        }
        filled += written;
    }

    if filled != page.len() {
        return Err(Error::PageSizeMismatch {
            pgno,
            expected: page.len(),
            actual: filled,
        });
    }
    if flg & FLG_CONTENT_CHECKSUM != 0 {
        let stored = u32::from_le_bytes(read_array(r, "legacy LZ4 content checksum")?);
        let actual = XxHash32::oneshot(0, page);
        if stored != actual {
            return Err(Error::ChecksumMismatch {
                what: "legacy LZ4 content",
                expected: u64::from(stored),
                actual: u64::from(actual),
            });
        }
    }
    Ok(())
}

fn corrupt(pgno: u32, reason: &str) -> Error {
    Error::CorruptPage {
        pgno,
        reason: format!("legacy LZ4 frame: {reason}"),
    }
}

/// Reads and checks the frame descriptor: FLG, BD, optional content size,
/// header checksum, and returns FLG. Dictionaries are refused; LTX never
/// used them.
fn read_descriptor<R: Read>(r: &mut R, pgno: u32, page_len: usize) -> Result<u8> {
    let [flg, bd] = read_array(r, "legacy LZ4 frame descriptor")?;
    if flg & FLG_VERSION_MASK != FLG_VERSION_1 || flg & FLG_RESERVED != 0 {
        return Err(corrupt(pgno, "unsupported version or reserved bit set"));
    }
    if flg & FLG_DICT_ID != 0 {
        return Err(corrupt(pgno, "dictionaries are not supported"));
    }
    let block_max = (bd >> 4) & 0b111;
    if bd & BD_RESERVED != 0 || block_max < 4 {
        return Err(corrupt(pgno, "invalid block size descriptor"));
    }

    // The header checksum covers FLG, BD and the optional content size.
    let mut covered = vec![flg, bd];
    if flg & FLG_CONTENT_SIZE != 0 {
        let content_size: [u8; 8] = read_array(r, "legacy LZ4 content size")?;
        if u64::from_le_bytes(content_size) != page_len as u64 {
            return Err(corrupt(pgno, "content size is not the page size"));
        }
        covered.extend_from_slice(&content_size);
    }
    let [stored_hc] = read_array(r, "legacy LZ4 header checksum")?;
    let hc = (XxHash32::oneshot(0, &covered) >> 8) as u8;
    if stored_hc != hc {
        return Err(corrupt(pgno, "header checksum mismatch"));
    }
    Ok(flg)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use lz4_flex::frame::{BlockMode, FrameEncoder, FrameInfo};

    use super::*;

    fn encode(page: &[u8], info: FrameInfo) -> Vec<u8> {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(page).unwrap();
        enc.finish().unwrap()
    }

    fn decode(frame: &[u8], page_len: usize) -> Result<(Vec<u8>, usize)> {
        let mut page = vec![0u8; page_len];
        let mut rest = frame;
        read_frame(&mut rest, 1, &mut page, &mut Vec::new())?;
        Ok((page, rest.len()))
    }

    fn text_page(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"legacy frame "[i % 13]).collect()
    }

    #[test]
    fn decodes_frames_with_every_option() {
        let page = text_page(4096);
        let infos = [
            FrameInfo::new(),
            FrameInfo::new().content_checksum(true),
            FrameInfo::new().block_checksums(true),
            FrameInfo::new().content_size(Some(4096)),
            FrameInfo::new().block_mode(BlockMode::Linked),
        ];
        for info in infos {
            let frame = encode(&page, info);
            // A following byte must be left unread: it belongs to the next frame.
            let mut with_next = frame.clone();
            with_next.push(0xAA);
            assert_eq!(decode(&with_next, 4096).unwrap(), (page.clone(), 1));
        }
    }

    #[test]
    fn decodes_incompressible_page_stored_raw() {
        let mut state = 0x1234_5678u32;
        let page: Vec<u8> = (0..65536)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let frame = encode(&page, FrameInfo::new().content_checksum(true));
        assert_eq!(decode(&frame, 65536).unwrap().0, page);
    }

    #[test]
    fn content_checksum_mismatch_is_detected() {
        let page = text_page(512);
        let mut frame = encode(&page, FrameInfo::new().content_checksum(true));
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert!(matches!(
            decode(&frame, 512),
            Err(Error::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn wrong_page_length_is_detected() {
        let frame = encode(&text_page(1024), FrameInfo::new());
        assert!(matches!(
            decode(&frame, 2048),
            Err(Error::PageSizeMismatch { actual: 1024, .. })
        ));
        assert!(decode(&frame, 512).is_err());
    }

    #[test]
    fn header_checksum_is_verified() {
        let mut frame = encode(&text_page(512), FrameInfo::new());
        frame[6] ^= 0xFF; // HC byte of a frame without content size
        assert!(matches!(
            decode(&frame, 512),
            Err(Error::CorruptPage { .. })
        ));
    }

    #[test]
    fn every_truncation_fails() {
        let frame = encode(&text_page(512), FrameInfo::new().content_checksum(true));
        for len in 0..frame.len() {
            assert!(decode(&frame[..len], 512).is_err(), "length {len}");
        }
    }
}
