//! The crate against the independent assembler in `common`: same bytes,
//! legacy pages, checksum-tracking files.

use stn_ltx::{Error, Header, PageIndex, decode_frame};

use crate::common::{
    Encoding, Entries, FLAG, assemble, assemble_with_index, header, page_content, read_file,
    rolling_checksum, write_file,
};

fn pages(pgnos: &[u32], len: usize) -> Vec<(u32, Vec<u8>)> {
    pgnos
        .iter()
        .map(|&pgno| (pgno, page_content(u64::from(pgno), len)))
        .collect()
}

fn with_encoding(pages: &[(u32, Vec<u8>)], encoding: Encoding) -> Vec<(u32, Vec<u8>, Encoding)> {
    pages
        .iter()
        .map(|(pgno, page)| (*pgno, page.clone(), encoding))
        .collect()
}

#[test]
fn writer_output_equals_independent_assembly() {
    let header = header(1024, 9, 4, 6);
    let pages = pages(&[1, 2, 5, 9], 1024);
    let written = write_file(&header, &pages);
    let assembled = assemble(&header, &with_encoding(&pages, Encoding::Block), 0);
    assert_eq!(written, assembled);
}

#[test]
fn reader_accepts_legacy_lz4_frame_pages() {
    let header = header(4096, 3, 1, 1);
    let pages = pages(&[1, 2, 3], 4096);
    // Mix both encodings in one file, as never happens in practice but
    // proves each frame is decoded on its own.
    let mut frames = with_encoding(&pages, Encoding::LegacyFrame);
    frames[1].2 = Encoding::Block;
    let bytes = assemble(&header, &frames, 0);
    let (read_header, read_pages) = read_file(&bytes).unwrap();
    assert_eq!(read_header, header);
    assert_eq!(read_pages, pages);

    // The index of such a file points at whole legacy frames too.
    let index = PageIndex::parse_tail(&bytes[bytes.len() - 64..], bytes.len() as u64).unwrap();
    for entry in index.entries() {
        let start = entry.offset as usize;
        let frame = &bytes[start..start + entry.size as usize];
        let (pgno, page) = decode_frame(frame, 4096).unwrap();
        assert_eq!(pgno, entry.pgno);
        assert_eq!(page, pages[pgno as usize - 1].1);
    }
}

#[test]
fn reader_verifies_rolling_checksum_of_tracking_snapshot() {
    let header = Header {
        flags: 0,
        ..header(512, 3, 1, 2)
    };
    let pages = pages(&[1, 2, 3], 512);
    let frames = with_encoding(&pages, Encoding::Block);

    let good = assemble(&header, &frames, rolling_checksum(&pages));
    assert_eq!(read_file(&good).unwrap().1, pages);

    let wrong = assemble(&header, &frames, rolling_checksum(&pages[..2]));
    assert!(matches!(
        read_file(&wrong),
        Err(Error::ChecksumMismatch {
            what: "post-apply",
            ..
        })
    ));
    let missing = assemble(&header, &frames, 0);
    assert!(matches!(
        read_file(&missing),
        Err(Error::InvalidChecksumField {
            field: "post-apply",
            ..
        })
    ));
}

#[test]
fn tracking_incremental_needs_flagged_checksums() {
    let incremental = Header {
        flags: 0,
        pre_apply_checksum: FLAG | 77,
        ..header(512, 3, 5, 5)
    };
    let frames = with_encoding(&pages(&[2], 512), Encoding::Block);
    assert!(read_file(&assemble(&incremental, &frames, FLAG | 1)).is_ok());
    assert!(read_file(&assemble(&incremental, &frames, 1)).is_err());
}

#[test]
fn post_apply_checksum_is_refused_with_no_checksum_flag() {
    // What Litestream's restore rejects, we reject too.
    let frames = with_encoding(&pages(&[1], 512), Encoding::Block);
    let bytes = assemble(&header(512, 1, 1, 1), &frames, FLAG | 1);
    assert!(matches!(
        read_file(&bytes),
        Err(Error::InvalidChecksumField {
            field: "post-apply",
            ..
        })
    ));
}

#[test]
fn index_must_match_frames() {
    let header = header(512, 4, 2, 2);
    let frames = with_encoding(&pages(&[1, 4], 512), Encoding::Block);
    let lies: [fn(&mut Entries); 5] = [
        |entries| entries[1].0 = 3,
        |entries| entries[1].1 += 1,
        |entries| entries[0].2 -= 1,
        |entries| entries.swap(0, 1),
        |entries| {
            entries.pop();
        },
    ];
    for lie in lies {
        // The checksum is computed over the lying index, so only the
        // comparison with the frames can catch it.
        let bytes = assemble_with_index(&header, &frames, 0, lie);
        assert!(matches!(read_file(&bytes), Err(Error::IndexMismatch)));
    }
}
