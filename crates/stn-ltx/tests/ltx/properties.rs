//! Property tests: round trips, merge against a naive model, corruption.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use stn_ltx::{Header, PageIndex, Reader, compact, decode_frame, write_database};

use crate::common::{header, page_content, read_file, write_file};

/// One file to write: header plus pages.
#[derive(Clone, Debug)]
struct Spec {
    header: Header,
    pages: Vec<(u32, Vec<u8>)>,
}

fn page_size() -> impl Strategy<Value = u32> {
    prop_oneof![Just(512u32), Just(1024), Just(4096)]
}

fn pages_for(pgnos: &BTreeSet<u32>, page_size: u32, seed: u64) -> Vec<(u32, Vec<u8>)> {
    pgnos
        .iter()
        .map(|&pgno| {
            (
                pgno,
                page_content(seed ^ u64::from(pgno), page_size as usize),
            )
        })
        .collect()
}

/// Any valid file: a snapshot or an incremental with a random page set.
fn spec() -> impl Strategy<Value = Spec> {
    (page_size(), 0u32..24, 1u64..4, any::<u64>())
        .prop_flat_map(|(page_size, commit, min_txid, seed)| {
            let pgnos = if min_txid == 1 {
                Just((1..=commit).collect::<BTreeSet<u32>>()).boxed()
            } else {
                proptest::collection::btree_set(1..=commit.max(1), 0..=commit as usize)
                    .prop_map(move |set| set.into_iter().filter(|&p| p <= commit).collect())
                    .boxed()
            };
            (Just((page_size, commit, min_txid, seed)), pgnos)
        })
        .prop_map(|((page_size, commit, min_txid, seed), pgnos)| Spec {
            header: header(page_size, commit, min_txid, min_txid + seed % 3),
            pages: pages_for(&pgnos, page_size, seed),
        })
}

/// A valid chain: a snapshot then incrementals with changing commit sizes.
/// Growth pages are always included, as Litestream includes them.
fn chain() -> impl Strategy<Value = Vec<Spec>> {
    let step = (
        0u32..20,
        proptest::collection::btree_set(1u32..20, 0..8),
        any::<u64>(),
    );
    (page_size(), 1u32..16, proptest::collection::vec(step, 0..5)).prop_map(
        |(page_size, first_commit, steps)| {
            let all: BTreeSet<u32> = (1..=first_commit).collect();
            let mut files = vec![Spec {
                header: header(page_size, first_commit, 1, 1),
                pages: pages_for(&all, page_size, 0),
            }];
            let mut previous_commit = first_commit;
            for (txid, (commit, changed, seed)) in (2u64..).zip(steps) {
                let mut pgnos: BTreeSet<u32> =
                    changed.into_iter().filter(|&p| p <= commit).collect();
                pgnos.extend(previous_commit + 1..=commit);
                files.push(Spec {
                    header: header(page_size, commit, txid, txid),
                    pages: pages_for(&pgnos, page_size, seed),
                });
                previous_commit = commit;
            }
            files
        },
    )
}

/// The naive result of applying `files` in order: latest page wins, pages
/// past each commit size disappear.
fn apply_naively(files: &[Spec]) -> BTreeMap<u32, Vec<u8>> {
    let mut db = BTreeMap::new();
    for file in files {
        for (pgno, page) in &file.pages {
            db.insert(*pgno, page.clone());
        }
        db.retain(|&pgno, _| pgno <= file.header.commit);
    }
    db
}

fn readers(files: &[Vec<u8>]) -> Vec<Reader<&[u8]>> {
    files
        .iter()
        .map(|bytes| Reader::new(&bytes[..]).unwrap())
        .collect()
}

proptest! {
    #[test]
    fn files_round_trip(spec in spec()) {
        let bytes = write_file(&spec.header, &spec.pages);
        let (header, pages) = read_file(&bytes).unwrap();
        prop_assert_eq!(header, spec.header);
        prop_assert_eq!(&pages, &spec.pages);

        // Every page can also be fetched alone through the index.
        let index = PageIndex::parse_tail(&bytes, bytes.len() as u64).unwrap();
        prop_assert_eq!(index.entries().len(), spec.pages.len());
        for ((pgno, page), entry) in spec.pages.iter().zip(index.entries()) {
            let start = entry.offset as usize;
            let frame = &bytes[start..start + entry.size as usize];
            let decoded = decode_frame(frame, spec.header.page_size).unwrap();
            prop_assert_eq!(&decoded, &(*pgno, page.clone()));
        }
    }

    #[test]
    fn merge_equals_applying_in_order(files in chain()) {
        let encoded: Vec<Vec<u8>> = files.iter().map(|f| write_file(&f.header, &f.pages)).collect();
        let model = apply_naively(&files);

        let mut image = Vec::new();
        let merged = write_database(readers(&encoded), &mut image).unwrap();
        let expected: Vec<u8> = model.values().flatten().copied().collect();
        prop_assert_eq!(image, expected);
        prop_assert_eq!(merged.commit as usize, model.len());

        // Compacting the whole chain gives a snapshot of the same content.
        let mut compacted = Vec::new();
        compact(readers(&encoded), &mut compacted, None).unwrap();
        let (header, pages) = read_file(&compacted).unwrap();
        prop_assert!(header.is_snapshot());
        prop_assert_eq!(header.max_txid, files.len() as u64);
        let model_pages: Vec<(u32, Vec<u8>)> = model.clone().into_iter().collect();
        prop_assert_eq!(&pages, &model_pages);

        // Compacting only the incrementals keeps each page's newest version.
        if encoded.len() > 1 {
            let mut tail = Vec::new();
            compact(readers(&encoded[1..]), &mut tail, None).unwrap();
            let (header, pages) = read_file(&tail).unwrap();
            prop_assert_eq!(header.min_txid, 2);
            let expected: Vec<(u32, Vec<u8>)> = apply_naively(&files[1..]).into_iter().collect();
            prop_assert_eq!(pages, expected);
        }
    }

    #[test]
    fn any_byte_flip_is_an_error_or_harmless(
        spec in spec(),
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let bytes = write_file(&spec.header, &spec.pages);
        let mut flipped = bytes.clone();
        let at = position.index(flipped.len());
        flipped[at] ^= mask;
        // Only the compressed bytes escape the file checksum, and then only
        // if they still decode to the very same page.
        if let Ok((header, pages)) = read_file(&flipped) {
            prop_assert_eq!(header, spec.header);
            prop_assert_eq!(pages, spec.pages);
        }
    }

    #[test]
    fn any_truncation_is_an_error(spec in spec(), cut in any::<prop::sample::Index>()) {
        let bytes = write_file(&spec.header, &spec.pages);
        let len = cut.index(bytes.len());
        prop_assert!(read_file(&bytes[..len]).is_err());
    }
}
