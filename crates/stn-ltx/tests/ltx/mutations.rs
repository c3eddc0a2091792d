//! Mini-fuzz: seeded random mutations of valid files fed to every entry
//! point. Nothing may panic, and whatever is accepted must be exactly the
//! original content. (The cargo-fuzz target in `fuzz/` does the same with
//! coverage guidance where a nightly toolchain is available.)

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stn_ltx::{PageIndex, Reader, compact, decode_frame, write_database};

use crate::common::{Decoded, Encoding, assemble, header, page_content, read_file, write_file};
use crate::fixtures::chain;

const ITERATIONS: usize = 20_000;

/// Small valid files covering snapshots, incrementals, legacy pages, the
/// empty file, and real Litestream output.
fn originals() -> Vec<Vec<u8>> {
    let pages = |pgnos: &[u32], len: usize| -> Vec<(u32, Vec<u8>)> {
        pgnos
            .iter()
            .map(|&p| (p, page_content(u64::from(p) * 31, len)))
            .collect()
    };
    let legacy: Vec<(u32, Vec<u8>, Encoding)> = pages(&[1, 2], 512)
        .into_iter()
        .map(|(p, page)| (p, page, Encoding::LegacyFrame))
        .collect();
    let mut files = vec![
        write_file(&header(512, 3, 1, 1), &pages(&[1, 2, 3], 512)),
        write_file(&header(512, 9, 4, 7), &pages(&[2, 9], 512)),
        write_file(&header(1024, 2, 2, 2), &pages(&[1], 1024)),
        write_file(&header(512, 0, 3, 3), &[]),
        assemble(&header(512, 2, 1, 1), &legacy, 0),
    ];
    // Real files, including legacy frames from Litestream's own encoder.
    files.extend(chain("litestream-0.5.17").into_iter().take(2));
    files.extend(chain("litestream-0.5.15").into_iter().take(2));
    files
}

fn mutate(rng: &mut StdRng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let len = bytes.len();
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..=3) {
                let at = rng.random_range(0..len);
                bytes[at] ^= rng.random_range(1..=255u8);
            }
        }
        1 => bytes.truncate(rng.random_range(0..len)),
        2 => {
            let at = rng.random_range(0..=len);
            let extra: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
            bytes.splice(at..at, extra);
        }
        3 => {
            let start = rng.random_range(0..len);
            let end = rng.random_range(start..=len.min(start + 32));
            bytes.drain(start..end);
        }
        4 => {
            // Extreme values in a header or frame field.
            let value: u64 = [0, 1, u64::from(u32::MAX), u64::MAX, 1 << 63][rng.random_range(0..5)];
            let width = [2usize, 4, 8][rng.random_range(0..3)];
            let at = rng.random_range(0..len.saturating_sub(width).max(1));
            let field = value.to_be_bytes();
            let end = (at + width).min(len);
            bytes[at..end].copy_from_slice(&field[8 - (end - at)..]);
        }
        _ => {
            let start = rng.random_range(0..len);
            let end = rng.random_range(start..=len);
            let copy = bytes[start..end].to_vec();
            let at = rng.random_range(0..=len);
            bytes.splice(at..at, copy);
        }
    }
    bytes
}

fn compacted(bytes: &[u8]) -> Option<Decoded> {
    let reader = Reader::new(bytes).ok()?;
    let mut out = Vec::new();
    compact(vec![reader], &mut out, None).ok()?;
    read_file(&out).ok()
}

#[test]
fn mutated_files_never_panic_and_never_lie() {
    let originals = originals();
    let decoded: Vec<_> = originals.iter().map(|f| read_file(f).unwrap()).collect();
    let mut rng = StdRng::seed_from_u64(0x4c54_5831);
    let mut accepted = 0;
    for _ in 0..ITERATIONS {
        let which = rng.random_range(0..originals.len());
        let (header, pages) = &decoded[which];
        let bytes = mutate(&mut rng, &originals[which]);

        let read = read_file(&bytes);
        if let Ok(read) = &read {
            assert_eq!(read, &decoded[which], "accepted altered content");
            accepted += 1;
        }
        match compacted(&bytes) {
            Some((_, merged)) => assert_eq!(&merged, pages),
            None => assert!(read.is_err(), "compaction refused a valid file"),
        }
        if header.is_snapshot()
            && let Ok(reader) = Reader::new(&bytes[..])
        {
            let mut image = Vec::new();
            if write_database(vec![reader], &mut image).is_ok() {
                let expected: Vec<u8> = pages.iter().flat_map(|(_, p)| p.clone()).collect();
                assert_eq!(image, expected);
            }
        }
        // Range-read entry points only need to not panic.
        let _ = PageIndex::parse_tail(&bytes, bytes.len() as u64);
        let start = rng.random_range(0..bytes.len().max(1));
        let _ = decode_frame(bytes.get(start..).unwrap_or_default(), 512);
    }
    // Some mutations (e.g. in compressed bytes) are harmless; most are not.
    assert!(accepted < ITERATIONS / 10, "{accepted} accepted");
}
