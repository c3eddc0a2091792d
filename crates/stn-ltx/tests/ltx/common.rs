//! Test helpers, including an independent LTX assembler with a bitwise
//! CRC-64 so the crate is checked against a second implementation.

use std::io::Write;

use stn_ltx::{Header, Reader, Result, Writer};

/// CRC-64/ISO bit by bit, written from the definition rather than shared
/// with the crate's table-driven version.
pub fn crc64(bytes: &[u8]) -> u64 {
    let mut crc = !0u64;
    for &byte in bytes {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xD800_0000_0000_0000
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub const FLAG: u64 = 1 << 63;

/// A page number and its content.
pub type Page = (u32, Vec<u8>);

/// Header and pages of a fully read file.
pub type Decoded = (Header, Vec<Page>);

/// Index entries as `(pgno, offset, size)`.
pub type Entries = Vec<(u32, u64, u64)>;

/// How a page is stored in a hand-assembled file.
#[derive(Clone, Copy, Debug)]
pub enum Encoding {
    /// Flags 0x0001: size prefix and LZ4 block (current format).
    Block,
    /// Flags 0: standalone LZ4 frame, as Litestream 0.5.0–0.5.15 wrote.
    LegacyFrame,
}

/// Builds a complete file from scratch, without the crate's writer.
pub fn assemble(header: &Header, pages: &[(u32, Vec<u8>, Encoding)], post_apply: u64) -> Vec<u8> {
    assemble_with_index(header, pages, post_apply, |_| {})
}

/// Like [`assemble`], but lets `edit` change the index entries
/// `(pgno, offset, size)` before they are encoded and checksummed.
pub fn assemble_with_index(
    header: &Header,
    pages: &[(u32, Vec<u8>, Encoding)],
    post_apply: u64,
    edit: impl FnOnce(&mut Entries),
) -> Vec<u8> {
    let mut out = header.encode().to_vec();
    // Everything the file checksum covers, in order.
    let mut covered = out.clone();
    let mut entries = Vec::new();
    for (pgno, page, encoding) in pages {
        let offset = out.len() as u64;
        let mut frame = pgno.to_be_bytes().to_vec();
        match encoding {
            Encoding::Block => {
                let block = lz4_flex::block::compress(page);
                frame.extend_from_slice(&1u16.to_be_bytes());
                frame.extend_from_slice(&(block.len() as u32).to_be_bytes());
                covered.extend_from_slice(&frame);
                frame.extend_from_slice(&block);
            }
            Encoding::LegacyFrame => {
                frame.extend_from_slice(&0u16.to_be_bytes());
                covered.extend_from_slice(&frame);
                let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                enc.write_all(page).unwrap();
                frame.extend_from_slice(&enc.finish().unwrap());
            }
        }
        covered.extend_from_slice(page);
        entries.push((*pgno, offset, frame.len() as u64));
        out.extend_from_slice(&frame);
    }
    edit(&mut entries);
    let mut index = Vec::new();
    for (pgno, offset, size) in entries {
        push_varint(&mut index, u64::from(pgno));
        push_varint(&mut index, offset);
        push_varint(&mut index, size);
    }
    index.push(0);
    let mut tail = vec![0u8; 6];
    tail.extend_from_slice(&index);
    tail.extend_from_slice(&(index.len() as u64).to_be_bytes());
    tail.extend_from_slice(&post_apply.to_be_bytes());
    covered.extend_from_slice(&tail);
    tail.extend_from_slice(&(FLAG | crc64(&covered)).to_be_bytes());
    out.extend_from_slice(&tail);
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Rolling database checksum over `(pgno, page)` pairs, from its definition.
pub fn rolling_checksum(pages: &[(u32, Vec<u8>)]) -> u64 {
    pages.iter().fold(FLAG, |acc, (pgno, page)| {
        let mut bytes = pgno.to_be_bytes().to_vec();
        bytes.extend_from_slice(page);
        FLAG | (acc ^ (FLAG | crc64(&bytes)))
    })
}

/// A header with the fields tests vary; everything else zero.
pub fn header(page_size: u32, commit: u32, min_txid: u64, max_txid: u64) -> Header {
    Header {
        page_size,
        commit,
        min_txid,
        max_txid,
        timestamp: 1_700_000_000_000 + max_txid as i64,
        ..Header::default()
    }
}

/// Writes a file with the crate's writer.
pub fn write_file(header: &Header, pages: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = Writer::new(&mut out, *header).unwrap();
    for (pgno, page) in pages {
        writer.write_page(*pgno, page).unwrap();
    }
    writer.finish().unwrap();
    out
}

/// Reads a whole file with the crate's reader.
pub fn read_file(bytes: &[u8]) -> Result<Decoded> {
    let mut reader = Reader::new(bytes)?;
    let mut pages = Vec::new();
    while let Some(page) = reader.next_page()? {
        pages.push(page);
    }
    Ok((*reader.header(), pages))
}

/// A page that is partly compressible and differs with `seed`.
pub fn page_content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            if i % 64 < 40 {
                (seed as u8).wrapping_add((i / 64) as u8)
            } else {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            }
        })
        .collect()
}
