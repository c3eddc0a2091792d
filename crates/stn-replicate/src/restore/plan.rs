//! Choosing which LTX files rebuild the database at a target TXID: a pure
//! function of the replica's file list, so it is tested without storage.
//!
//! The rule is Litestream's (`CalcRestorePlan`): start from the newest
//! level-9 snapshot at or before the target, then repeatedly take, from
//! levels 8 down to 0, the file that continues the coverage so far
//! (`min ≤ covered + 1` and `max > covered`) and reaches furthest without
//! passing the target. Ties go to the smaller min TXID, then the higher
//! level, then the older file. Without a snapshot the chain must start at
//! TXID 1.

use std::cmp::Ordering;

use crate::paths::SNAPSHOT_LEVEL;
use crate::storage::LtxFileInfo;

/// The state to restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The newest state; any gap in the replica is an error.
    Latest,
    /// Exactly this TXID; an error if no chain ends there.
    Txid(u64),
    /// The furthest TXID reachable without passing this one (the TXID of
    /// the last file written at or before a timestamp).
    AtOrBefore(u64),
}

/// One file of a plan, applied on top of the state at `from_txid - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) file: LtxFileInfo,
    /// The first TXID this step adds. Smaller than `file.max_txid + 1` and
    /// usually `file.min_txid`; larger than `file.min_txid` when the file
    /// overlaps what earlier steps covered (it is then rewritten to start
    /// here, because merging requires contiguous TXIDs).
    pub(crate) from_txid: u64,
}

/// The files to merge, in order, and the TXID they restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) txid: u64,
}

/// Plans a restore of `target` from `files` (any levels, any order).
/// The error says which TXIDs are missing.
pub(crate) fn plan(files: &[LtxFileInfo], target: Target) -> Result<Plan, String> {
    let limit = match target {
        Target::Latest => u64::MAX,
        Target::Txid(txid) | Target::AtOrBefore(txid) => txid,
    };
    let snapshot = files
        .iter()
        .filter(|f| f.level == SNAPSHOT_LEVEL && f.max_txid <= limit)
        .max_by(|a, b| better(a, b));
    let mut steps: Vec<Step> = snapshot
        .map(|file| Step {
            file: file.clone(),
            from_txid: 1,
        })
        .into_iter()
        .collect();
    let mut covered = snapshot.map_or(0, |file| file.max_txid);

    while covered < limit {
        let next = files
            .iter()
            .filter(|f| f.level < SNAPSHOT_LEVEL)
            .filter(|f| f.min_txid <= covered + 1 && f.max_txid > covered && f.max_txid <= limit)
            .max_by(|a, b| better(a, b));
        let Some(file) = next else { break };
        let from_txid = if file.min_txid == 1 {
            // A full image: nothing before it matters.
            steps.clear();
            1
        } else {
            covered + 1
        };
        steps.push(Step {
            file: file.clone(),
            from_txid,
        });
        covered = file.max_txid;
    }

    check_reached(files, target, covered)?;
    Ok(Plan {
        steps,
        txid: covered,
    })
}

/// `Greater` when `a` is the better choice: reaches further, then starts
/// earlier, then is compacted higher, then is older.
fn better(a: &LtxFileInfo, b: &LtxFileInfo) -> Ordering {
    a.max_txid
        .cmp(&b.max_txid)
        .then(b.min_txid.cmp(&a.min_txid))
        .then(a.level.cmp(&b.level))
        .then(b.last_modified.cmp(&a.last_modified))
}

/// Fails unless the chain reached what `target` asks for, naming the gap.
fn check_reached(files: &[LtxFileInfo], target: Target, covered: u64) -> Result<(), String> {
    let beyond = files
        .iter()
        .filter(|f| f.level < SNAPSHOT_LEVEL && f.max_txid > covered)
        .min_by_key(|f| (f.min_txid, f.max_txid));
    let gap = |next: &LtxFileInfo| {
        let what = if covered == 0 {
            "no snapshot and no file starting at TXID 1".to_owned()
        } else {
            format!("files reach TXID {covered:#x}")
        };
        format!(
            "{what}, the next file starts at TXID {:#x}: TXIDs {:#x}..={:#x} are missing",
            next.min_txid,
            covered + 1,
            next.min_txid - 1
        )
    };
    match target {
        Target::Latest => match beyond {
            Some(next) if next.min_txid > covered + 1 => Err(gap(next)),
            // Only unreachable with nothing below the snapshot level at all.
            _ if covered == 0 => {
                Err("the replica has no snapshot and no file starting at TXID 1".to_owned())
            }
            _ => Ok(()),
        },
        Target::Txid(txid) if covered == txid => Ok(()),
        Target::Txid(txid) => Err(match beyond {
            Some(next) if next.min_txid > covered + 1 => gap(next),
            Some(next) => format!(
                "no file ends at TXID {txid:#x}: a level-{} file covers {:#x}..={:#x} as a whole; the nearest restorable TXIDs are {covered:#x} and {:#x}",
                next.level, next.min_txid, next.max_txid, next.max_txid
            ),
            None => format!("TXID {txid:#x} is newer than the newest backed-up TXID {covered:#x}"),
        }),
        Target::AtOrBefore(_) if covered == 0 => Err(match beyond {
            Some(next) if next.min_txid > 1 => gap(next),
            _ => "no backup was written at or before that time".to_owned(),
        }),
        Target::AtOrBefore(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(level: u8, min_txid: u64, max_txid: u64) -> LtxFileInfo {
        LtxFileInfo {
            level,
            min_txid,
            max_txid,
            size: 0,
            last_modified: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn ranges(plan: &Plan) -> Vec<(u8, u64, u64, u64)> {
        plan.steps
            .iter()
            .map(|s| (s.file.level, s.file.min_txid, s.file.max_txid, s.from_txid))
            .collect()
    }

    #[test]
    fn snapshot_then_largest_reach_across_levels() {
        let files = [
            file(9, 1, 10),
            file(3, 1, 12),
            file(2, 11, 20),
            file(1, 11, 14),
            file(1, 15, 22),
            file(0, 21, 21),
            file(0, 22, 22),
            file(0, 23, 23),
        ];
        let plan = plan(&files, Target::Latest).unwrap();
        // L2 11-20 reaches further than L3 1-12; L1 15-22 overlaps it and
        // adds 21..=22.
        assert_eq!(
            ranges(&plan),
            [
                (9, 1, 10, 1),
                (2, 11, 20, 11),
                (1, 15, 22, 21),
                (0, 23, 23, 23)
            ]
        );
        assert_eq!(plan.txid, 23);
    }

    #[test]
    fn a_later_full_image_replaces_the_snapshot() {
        let files = [file(9, 1, 5), file(3, 1, 12), file(0, 13, 13)];
        let plan = plan(&files, Target::Latest).unwrap();
        assert_eq!(ranges(&plan), [(3, 1, 12, 1), (0, 13, 13, 13)]);
    }

    #[test]
    fn txid_target_uses_newest_snapshot_at_or_before_it() {
        let files = [
            file(9, 1, 5),
            file(9, 1, 9),
            file(0, 6, 6),
            file(0, 7, 7),
            file(0, 8, 8),
            file(0, 9, 9),
        ];
        let plan = plan(&files, Target::Txid(7)).unwrap();
        assert_eq!(ranges(&plan), [(9, 1, 5, 1), (0, 6, 6, 6), (0, 7, 7, 7)]);
        let exact = super::plan(&files, Target::Txid(9)).unwrap();
        assert_eq!(ranges(&exact), [(9, 1, 9, 1)]);
    }

    #[test]
    fn ties_prefer_smaller_min_then_higher_level_then_older() {
        let files = [file(0, 1, 4), file(1, 1, 4), file(2, 2, 4), file(0, 1, 1)];
        assert_eq!(
            ranges(&plan(&files, Target::Latest).unwrap()),
            [(1, 1, 4, 1)]
        );

        let epoch = time::OffsetDateTime::UNIX_EPOCH;
        let (mut newer, mut older) = (file(0, 1, 4), file(0, 1, 4));
        newer.last_modified = epoch + time::Duration::seconds(1);
        older.size = 9;
        for files in [
            [newer.clone(), older.clone()],
            [older.clone(), newer.clone()],
        ] {
            assert_eq!(plan(&files, Target::Latest).unwrap().steps[0].file.size, 9);
        }
    }

    #[test]
    fn chain_must_start_at_one_without_snapshot() {
        let err = plan(&[file(0, 2, 2), file(0, 3, 3)], Target::Latest).unwrap_err();
        assert!(err.contains("TXIDs 0x1..=0x1 are missing"), "{err}");
    }

    #[test]
    fn gap_names_missing_range() {
        let files = [file(0, 1, 1), file(0, 2, 2), file(0, 6, 6)];
        let err = plan(&files, Target::Latest).unwrap_err();
        assert!(err.contains("TXIDs 0x3..=0x5 are missing"), "{err}");
        let err = plan(&files, Target::Txid(6)).unwrap_err();
        assert!(err.contains("TXIDs 0x3..=0x5 are missing"), "{err}");
        assert_eq!(plan(&files, Target::Txid(2)).unwrap().txid, 2);
    }

    #[test]
    fn txid_inside_a_compacted_file_is_not_restorable() {
        let files = [file(9, 1, 2), file(1, 3, 8)];
        let err = plan(&files, Target::Txid(5)).unwrap_err();
        assert!(err.contains("no file ends at TXID 0x5"), "{err}");
        assert!(err.contains("0x2 and 0x8"), "{err}");
        let err = plan(&files, Target::Txid(9)).unwrap_err();
        assert!(err.contains("newer than the newest"), "{err}");
    }

    #[test]
    fn at_or_before_stops_where_the_files_stop() {
        let files = [file(0, 1, 1), file(0, 2, 2), file(1, 1, 8)];
        let plan = plan(&files, Target::AtOrBefore(5)).unwrap();
        assert_eq!(plan.txid, 2);
        let err = super::plan(&[file(0, 3, 3)], Target::AtOrBefore(5)).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn snapshot_alone_restores() {
        let plan = plan(&[file(9, 1, 3)], Target::Latest).unwrap();
        assert_eq!(ranges(&plan), [(9, 1, 3, 1)]);
    }
}
