//! The planner and the merge together, on random replicas: whatever mix of
//! L0, compacted and snapshot files a replica holds, the plan covers
//! 1..=target without gaps and rebuilds exactly the database that applying
//! every L0 file in order does.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use proptest::prelude::*;
use stn_ltx::{Header, Reader, Writer};

use super::apply::rebase;
use super::plan::{Plan, Target, plan};
use crate::storage::LtxFileInfo;

const PAGE_SIZE: u32 = 512;

/// A replica's files by `(level, min TXID, max TXID)`.
type Files = BTreeMap<(u8, u64, u64), Vec<u8>>;

/// One synced transaction: the database size after it and the pages it wrote.
#[derive(Clone, Debug)]
struct Txn {
    commit: u32,
    pages: BTreeMap<u32, u8>,
}

fn l0_file(txid: u64, txn: &Txn) -> Vec<u8> {
    let header = Header {
        page_size: PAGE_SIZE,
        commit: txn.commit,
        min_txid: txid,
        max_txid: txid,
        timestamp: txid as i64 * 1000,
        ..Header::default()
    };
    let mut out = Vec::new();
    let mut writer = Writer::new(&mut out, header).unwrap();
    for (&pgno, &fill) in &txn.pages {
        writer
            .write_page(pgno, &[fill; PAGE_SIZE as usize])
            .unwrap();
    }
    writer.finish().unwrap();
    out
}

/// Merges L0 files `min..=max` as compaction would.
fn compacted(l0: &[Vec<u8>], min: u64, max: u64) -> Vec<u8> {
    let readers = (min..=max)
        .map(|txid| Reader::new(&l0[txid as usize - 1][..]).unwrap())
        .collect();
    let mut out = Vec::new();
    stn_ltx::compact(readers, &mut out, None).unwrap();
    out
}

fn info(level: u8, min_txid: u64, max_txid: u64, bytes: &[u8]) -> LtxFileInfo {
    LtxFileInfo {
        level,
        min_txid,
        max_txid,
        size: bytes.len() as u64,
        last_modified: time::OffsetDateTime::UNIX_EPOCH,
    }
}

/// The database image after `files` (a plan's chain), through the same
/// rebase and merge steps a real restore uses.
fn apply(plan: &Plan, files: &Files) -> Vec<u8> {
    let inputs: Vec<Vec<u8>> = plan
        .steps
        .iter()
        .map(|step| {
            let bytes = &files[&(step.file.level, step.file.min_txid, step.file.max_txid)];
            if step.from_txid == step.file.min_txid {
                bytes.clone()
            } else {
                let mut out = Vec::new();
                rebase(&bytes[..], step, "test", &mut out).unwrap();
                out
            }
        })
        .collect();
    let mut db = Vec::new();
    write_image(inputs.iter().map(|bytes| &bytes[..]).collect(), &mut db).unwrap();
    db
}

fn image_of_l0(l0: &[Vec<u8>], upto: u64) -> Vec<u8> {
    let mut db = Vec::new();
    write_image(
        l0[..upto as usize].iter().map(|bytes| &bytes[..]).collect(),
        &mut db,
    )
    .unwrap();
    db
}

fn check_contiguous(plan: &Plan, target: u64) {
    let mut covered = 0;
    for (at, step) in plan.steps.iter().enumerate() {
        assert_eq!(step.from_txid, covered + 1, "step {at} of {plan:?}");
        assert!(step.file.min_txid <= step.from_txid && step.from_txid <= step.file.max_txid);
        if at == 0 {
            assert_eq!(step.file.min_txid, 1, "chain starts with a full image");
        }
        covered = step.file.max_txid;
    }
    assert_eq!((covered, plan.txid), (target, target));
}

fn txns() -> impl Strategy<Value = Vec<Txn>> {
    let step = (
        1u32..=12,
        proptest::collection::btree_map(1u32..=12, any::<u8>(), 0..6),
    );
    proptest::collection::vec(step, 2..20).prop_map(|steps| {
        let mut previous_commit = 0;
        steps
            .into_iter()
            .enumerate()
            .map(|(at, (commit, mut pages))| {
                pages.retain(|&pgno, _| pgno <= commit);
                // New pages must be written; the first sync holds them all.
                let first_new = if at == 0 { 1 } else { previous_commit + 1 };
                for pgno in first_new..=commit {
                    pages.entry(pgno).or_insert(pgno as u8 ^ at as u8);
                }
                previous_commit = commit;
                Txn { commit, pages }
            })
            .collect()
    })
}

/// A replica: every L0 file, compacted runs at levels 1..=3 and
/// snapshots, as `(level, min, max) → bytes`, plus the L0 bytes.
fn replica(txns: &[Txn], runs: &[(u8, u64, u64)], snapshots: &[u64]) -> (Vec<Vec<u8>>, Files) {
    let n = txns.len() as u64;
    let l0: Vec<Vec<u8>> = (1..=n)
        .map(|txid| l0_file(txid, &txns[txid as usize - 1]))
        .collect();
    let mut files: BTreeMap<_, _> = (1..=n)
        .map(|txid| ((0, txid, txid), l0[txid as usize - 1].clone()))
        .collect();
    for &(level, start, len) in runs {
        let (min, max) = (1 + start % n, (1 + start % n + len).min(n));
        files.insert((level, min, max), compacted(&l0, min, max));
    }
    for &upto in snapshots {
        let max = 1 + upto % n;
        files.insert((9, 1, max), compacted(&l0, 1, max));
    }
    (l0, files)
}

fn infos(files: &Files) -> Vec<LtxFileInfo> {
    files
        .iter()
        .map(|(&(level, min, max), bytes)| info(level, min, max, bytes))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_txid_restores_like_replaying_l0(
        txns in txns(),
        runs in proptest::collection::vec((1u8..=3, 0u64..20, 0u64..8), 0..6),
        snapshots in proptest::collection::vec(0u64..20, 0..3),
    ) {
        let (l0, files) = replica(&txns, &runs, &snapshots);
        let infos = infos(&files);
        for target in 1..=txns.len() as u64 {
            let plan = plan(&infos, Target::Txid(target)).unwrap();
            check_contiguous(&plan, target);
            prop_assert_eq!(apply(&plan, &files), image_of_l0(&l0, target), "target {}", target);
        }
    }

    #[test]
    fn latest_survives_l0_retention(
        txns in txns(),
        runs in proptest::collection::vec((1u8..=3, 0u64..20, 0u64..8), 1..6),
        snapshots in proptest::collection::vec(0u64..20, 0..3),
        drop_mask in any::<u32>(),
    ) {
        let (l0, mut files) = replica(&txns, &runs, &snapshots);
        // Retention removes L0 files that a compacted file already covers.
        let covered: Vec<(u64, u64)> = files.keys().filter(|k| (1..=3).contains(&k.0)).map(|k| (k.1, k.2)).collect();
        files.retain(|&(level, txid, _), _| {
            let droppable = level == 0 && covered.iter().any(|&(min, max)| min <= txid && txid <= max);
            !(droppable && drop_mask & (1 << (txid % 32)) != 0)
        });
        let n = txns.len() as u64;
        let plan = plan(&infos(&files), Target::Latest).unwrap();
        check_contiguous(&plan, n);
        prop_assert_eq!(apply(&plan, &files), image_of_l0(&l0, n));
    }
}

#[test]
fn rebase_keeps_pages_and_moves_the_start() {
    let txn = Txn {
        commit: 3,
        pages: BTreeMap::from([(2, 7), (3, 9)]),
    };
    let l0: Vec<Vec<u8>> = (1..=1)
        .map(|_| {
            l0_file(
                1,
                &Txn {
                    commit: 3,
                    pages: BTreeMap::from([(1, 1), (2, 1), (3, 1)]),
                },
            )
        })
        .chain([l0_file(2, &txn), l0_file(3, &txn)])
        .collect();
    let both = compacted(&l0, 2, 3);
    let step = super::plan::Step {
        file: info(1, 2, 3, &both),
        from_txid: 3,
    };
    let mut out = Vec::new();
    rebase(&both[..], &step, "key", &mut out).unwrap();
    let mut reader = Reader::new(&out[..]).unwrap();
    assert_eq!((reader.header().min_txid, reader.header().max_txid), (3, 3));
    let mut pages = Vec::new();
    while let Some((pgno, page)) = reader.next_page().unwrap() {
        pages.push((pgno, page[0]));
    }
    assert_eq!(pages, [(2, 7), (3, 9)]);

    let wrong = super::plan::Step {
        file: info(1, 2, 4, &both),
        from_txid: 3,
    };
    let err = rebase(&both[..], &wrong, "db/0001/x.ltx", Vec::new()).unwrap_err();
    assert!(err.to_string().contains("db/0001/x.ltx"), "{err}");
}

/// Merges a planned chain (rebased where needed) into a database image,
/// as a restore does.
fn write_image<R: Read, W: Write>(inputs: Vec<R>, out: W) -> stn_ltx::Result<Header> {
    let readers = inputs
        .into_iter()
        .map(Reader::new)
        .collect::<stn_ltx::Result<Vec<_>>>()?;
    stn_ltx::write_database(readers, out)
}
