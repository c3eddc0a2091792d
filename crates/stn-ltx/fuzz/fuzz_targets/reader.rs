//! Arbitrary bytes into every decoding entry point of stn-ltx. None may
//! panic; the reader, compactor and database writer must agree on what
//! they accept.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stn_ltx::{PageIndex, Reader, compact, decode_frame, write_database};

fuzz_target!(|data: &[u8]| {
    let mut pages = Vec::new();
    let read_ok = match Reader::new(data) {
        Ok(mut reader) => loop {
            match reader.next_page() {
                Ok(Some(page)) => pages.push(page),
                Ok(None) => break true,
                Err(_) => break false,
            }
        },
        Err(_) => false,
    };

    if let Ok(reader) = Reader::new(data) {
        let compacted = compact(vec![reader], std::io::sink(), None);
        assert_eq!(compacted.is_ok(), read_ok, "compactor and reader disagree");
    }
    if let Ok(reader) = Reader::new(data)
        && reader.header().is_snapshot()
    {
        let mut image = Vec::new();
        if write_database(vec![reader], &mut image).is_ok() {
            // Fuzz inputs are far too small to reach the lock page at
            // 1 GiB, so the image is just the pages in order.
            let expected: Vec<u8> = pages.iter().flat_map(|(_, page)| page.clone()).collect();
            assert!(read_ok, "database written from a file the reader rejects");
            assert_eq!(image, expected);
        }
    }

    let _ = PageIndex::parse_tail(data, data.len() as u64);
    for page_size in [512, 4096] {
        let _ = decode_frame(data, page_size);
    }
});
