use super::*;

fn object(generation: &str, kind: Kind, index: u32, created_secs: i64) -> Object {
    let name = match kind {
        Kind::Snapshot => format!("snapshots/{index:08x}.snapshot.lz4"),
        Kind::Segment { offset } => format!("wal/{index:08x}_{offset:08x}.wal.lz4"),
    };
    Object {
        generation: generation.to_owned(),
        kind,
        index,
        name: format!("generations/{generation}/{name}"),
        key: format!("db/generations/{generation}/{name}"),
        size: 10,
        created: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(created_secs),
    }
}

const GEN_A: &str = "aaaaaaaaaaaaaaaa";
const GEN_B: &str = "bbbbbbbbbbbbbbbb";

fn seg(generation: &str, index: u32, offset: u64, created: i64) -> Object {
    object(generation, Kind::Segment { offset }, index, created)
}

fn snap(generation: &str, index: u32, created: i64) -> Object {
    object(generation, Kind::Snapshot, index, created)
}

fn keys(plan: &LegacyPlan) -> Vec<String> {
    std::iter::once(&plan.snapshot)
        .chain(&plan.segments)
        .map(|o| o.key.clone())
        .collect()
}

#[test]
fn names_parse_like_litestream() {
    assert_eq!(
        parse_name("snapshots", "0000000a.snapshot.lz4"),
        Some((Kind::Snapshot, 10))
    );
    assert_eq!(
        parse_name("wal", "00000001_00001000.wal.lz4"),
        Some((Kind::Segment { offset: 0x1000 }, 1))
    );
    assert_eq!(
        parse_name("wal", "00000001_0000000100000000.wal.lz4"),
        Some((Kind::Segment { offset: 1 << 32 }, 1)),
        "offsets past 4 GiB have more digits"
    );
    for (dir, name) in [
        ("snapshots", "0000000A.snapshot.lz4"),
        ("snapshots", "000a.snapshot.lz4"),
        ("wal", "00000001_0000.wal.lz4"),
        ("wal", "00000001-00000000.wal.lz4"),
        ("wal", "00000001_00000000.wal"),
        ("other", "00000001.snapshot.lz4"),
    ] {
        assert_eq!(parse_name(dir, name), None, "{dir}/{name}");
    }
    assert!(is_generation("0123456789abcdef"));
    assert!(!is_generation("0123456789ABCDEF"));
    assert!(!is_generation("0123"));
}

#[test]
fn newest_generation_wins_without_timestamp() {
    let objects = vec![
        snap(GEN_A, 0, 10),
        seg(GEN_A, 0, 0, 11),
        seg(GEN_A, 0, 100, 50),
        snap(GEN_B, 0, 20),
        seg(GEN_B, 0, 0, 21),
    ];
    let plan = plan(objects, None).unwrap().unwrap();
    assert_eq!(plan.snapshot.generation, GEN_A, "A has the newest object");
    assert_eq!(plan.segments.len(), 2);
}

#[test]
fn latest_snapshot_and_following_segments_in_order() {
    let objects = vec![
        seg(GEN_A, 2, 0, 31),
        snap(GEN_A, 0, 1),
        seg(GEN_A, 1, 200, 21),
        snap(GEN_A, 1, 19),
        seg(GEN_A, 0, 0, 2),
        seg(GEN_A, 1, 0, 20),
    ];
    let plan = plan(objects, None).unwrap().unwrap();
    assert_eq!(
        keys(&plan),
        [
            "db/generations/aaaaaaaaaaaaaaaa/snapshots/00000001.snapshot.lz4",
            "db/generations/aaaaaaaaaaaaaaaa/wal/00000001_00000000.wal.lz4",
            "db/generations/aaaaaaaaaaaaaaaa/wal/00000001_000000c8.wal.lz4",
            "db/generations/aaaaaaaaaaaaaaaa/wal/00000002_00000000.wal.lz4",
        ]
    );
}

#[test]
fn timestamp_picks_snapshot_and_cuts_segments() {
    let objects = vec![
        snap(GEN_B, 0, 5),
        seg(GEN_B, 0, 0, 6),
        snap(GEN_A, 0, 10),
        seg(GEN_A, 0, 0, 11),
        seg(GEN_A, 0, 100, 15),
    ];
    let at = |secs| Some(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs));
    let plan12 = plan(objects.clone(), at(12)).unwrap().unwrap();
    assert_eq!(plan12.snapshot.generation, GEN_A);
    assert_eq!(plan12.segments.len(), 1);
    let plan7 = plan(objects.clone(), at(7)).unwrap().unwrap();
    assert_eq!(plan7.snapshot.generation, GEN_B);
    let err = plan(objects, at(1)).unwrap_err();
    assert!(err.contains("at or before"), "{err}");
}

#[test]
fn no_snapshot_means_no_backup() {
    assert_eq!(plan(vec![], None).unwrap(), None);
    assert_eq!(plan(vec![seg(GEN_A, 0, 0, 1)], None).unwrap(), None);
}

#[test]
fn missing_wal_index_or_start_is_an_error() {
    let gap = vec![snap(GEN_A, 0, 1), seg(GEN_A, 0, 0, 2), seg(GEN_A, 2, 0, 3)];
    let err = plan(gap, None).unwrap_err();
    assert!(err.contains("WAL index 00000001 is missing"), "{err}");
    let headless = vec![snap(GEN_A, 0, 1), seg(GEN_A, 0, 64, 2)];
    let err = plan(headless, None).unwrap_err();
    assert!(
        err.contains("start of WAL index 00000000 is missing"),
        "{err}"
    );
    let late = vec![snap(GEN_A, 3, 1), seg(GEN_A, 4, 0, 2)];
    assert!(
        plan(late, None)
            .unwrap_err()
            .contains("00000003 is missing")
    );
}
