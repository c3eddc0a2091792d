use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config> {
    Config::parse(
        text,
        "test.yml",
        LoadOptions {
            no_expand_env: true,
        },
    )
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(err) => err.to_string(),
    }
}

/// Parses with `$VAR`s expanded from `vars` instead of the process environment.
fn parse_with_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
    let expanded = env::expand(text, |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    });
    raw::parse(&expanded)
}

#[test]
fn minimal_config_gets_litestream_defaults() {
    let config =
        parse("dbs:\n  - path: /data/app.db\n    replica:\n      url: s3://bucket/db\n").unwrap();
    assert_eq!(config.levels.len(), 3);
    assert_eq!(config.levels[0].interval, Duration::from_secs(30));
    assert_eq!(config.levels[2].interval, Duration::from_secs(3600));
    assert_eq!(config.snapshot.interval, Duration::from_secs(86_400));
    assert_eq!(config.snapshot.retention, Duration::from_secs(86_400));
    assert_eq!(config.l0_retention, Duration::from_secs(300));
    assert_eq!(config.l0_retention_check_interval, Duration::from_secs(15));
    assert!(config.retention_enabled);

    let db = &config.dbs[0];
    assert_eq!(db.path, std::path::Path::new("/data/app.db"));
    assert_eq!(db.monitor_interval, Duration::from_secs(1));
    assert_eq!(db.checkpoint_interval, Duration::from_secs(60));
    assert_eq!(db.busy_timeout, Duration::from_secs(1));
    assert_eq!(db.min_checkpoint_page_count, 1000);
    assert_eq!(db.truncate_page_n, 121_359);
    assert_eq!(db.max_sync_wal_bytes, 64 * 1024 * 1024);

    let replica = &db.replicas[0];
    assert_eq!(replica.kind, ReplicaKind::S3);
    assert_eq!(replica.url.as_deref(), Some("s3://bucket/db"));
    assert_eq!(replica.sync_interval, Duration::from_secs(1));
}

#[test]
fn full_litestream_config_parses() {
    let text = r#"
addr: ":9090"
access-key-id: AKIA_GLOBAL
secret-access-key: global-secret
region: eu-west-1
levels:
  - interval: 10s
  - interval: 1m30s
snapshot:
  interval: 1h
  retention: 72h
l0-retention: 1m
l0-retention-check-interval: 5s
retention:
  enabled: false
logging:
  level: debug
  type: json
  stderr: true
dbs:
  - path: /var/lib/a.db
    monitor-interval: 500ms
    checkpoint-interval: 2m
    busy-timeout: 5s
    min-checkpoint-page-count: 500
    truncate-page-n: 0
    max-sync-wal-bytes: 1048576
    restore-if-db-not-exists: true
    replica:
      type: s3
      bucket: backups
      path: a
      endpoint: http://127.0.0.1:9000
      force-path-style: true
      sync-interval: 10s
  - path: /var/lib/b.db
    replica:
      type: file
      path: /backup/b
"#;
    let config = parse(text).unwrap();
    assert_eq!(config.addr.as_deref(), Some(":9090"));
    assert_eq!(
        config.levels,
        [Duration::from_secs(10), Duration::from_secs(90)].map(|interval| LevelConfig { interval })
    );
    assert_eq!(config.snapshot.interval, Duration::from_secs(3600));
    assert_eq!(config.snapshot.retention, Duration::from_secs(72 * 3600));
    assert_eq!(config.l0_retention, Duration::from_secs(60));
    assert!(!config.retention_enabled);
    assert_eq!(config.logging.format.as_deref(), Some("json"));
    assert!(config.logging.stderr);

    let a = &config.dbs[0];
    assert_eq!(a.monitor_interval, Duration::from_millis(500));
    assert_eq!(
        a.truncate_page_n, DEFAULT_TRUNCATE_PAGE_N,
        "0 means the default"
    );
    assert!(a.restore_if_db_not_exists);
    let s3 = &a.replicas[0];
    assert_eq!(s3.bucket.as_deref(), Some("backups"));
    assert_eq!(
        s3.access_key_id.as_deref(),
        Some("AKIA_GLOBAL"),
        "inherited from the top level"
    );
    assert_eq!(s3.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s3.force_path_style, Some(true));
    assert_eq!(s3.sync_interval, Duration::from_secs(10));

    let file = &config.dbs[1].replicas[0];
    assert_eq!(file.kind, ReplicaKind::File);
    assert_eq!(file.path.as_deref(), Some("/backup/b"));
}

#[test]
fn several_replicas_are_allowed() {
    let text = "dbs:\n  - path: /a.db\n    replicas:\n      - url: file:///backup/a\n      - url: s3://bucket/a\n      - type: abs\n        bucket: container\n        account-name: acct\n";
    let replicas = &parse(text).unwrap().dbs[0].replicas;
    let kinds: Vec<_> = replicas.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [ReplicaKind::File, ReplicaKind::S3, ReplicaKind::Abs]
    );
}

#[test]
fn unknown_keys_are_errors_naming_key_and_file() {
    let cases = [
        (
            "dbs:\n  - path: /a.db\n    replica:\n      url: s3://b/p\n      sync-intervl: 1s\n",
            "dbs[0].replica: `sync-intervl`",
        ),
        (
            "dbs:\n  - path: /a.db\n    montor-interval: 1s\n    replica:\n      url: s3://b/p\n",
            "dbs[0]: `montor-interval`",
        ),
        ("bogus: 1\n", "`bogus`"),
        ("snapshot:\n  intervl: 1h\n", "intervl"),
        ("logging:\n  colour: true\n", "colour"),
    ];
    for (text, expected) in cases {
        let message = parse_err(text);
        assert!(message.starts_with("test.yml: "), "{message}");
        assert!(
            message.contains(expected),
            "{message} should name {expected}"
        );
    }
}

#[test]
fn durability_is_async_unless_set_to_sync() {
    let text = "dbs:\n  - path: /a.db\n    durability: sync\n    replica:\n      url: s3://b/p\n  - path: /b.db\n    replica:\n      url: s3://b/q\n";
    let config = parse(text).unwrap();
    assert_eq!(config.dbs[0].durability, Durability::Sync);
    assert_eq!(config.dbs[1].durability, Durability::Async);
    let message = parse_err(
        "dbs:\n  - path: /a.db\n    durability: always\n    replica:\n      url: s3://b/p\n",
    );
    assert!(
        message.contains("dbs[0].durability") && message.contains("`always`"),
        "{message}"
    );
}

#[test]
fn obsolete_keys_say_what_replaced_them() {
    let cases = [
        ("retention: 72h", "snapshot.retention"),
        (
            "retention-check-interval: 1h",
            "l0-retention-check-interval",
        ),
        ("snapshot-interval: 1h", "snapshot.interval"),
        ("max-checkpoint-page-count: 10000", "truncate-page-n"),
        ("name: primary", "`url` or `path`"),
        ("age:\n        identities: [x]", "age encryption"),
    ];
    for (line, replacement) in cases {
        let text =
            format!("dbs:\n  - path: /a.db\n    replica:\n      url: s3://b/p\n      {line}\n");
        let message = parse_err(&text);
        assert!(message.contains("removed in Litestream v0.5"), "{message}");
        assert!(
            message.contains(replacement),
            "{message} should mention {replacement}"
        );
    }
    let message = parse_err("retention: 24h\n");
    assert!(message.contains("snapshot.retention"), "{message}");
}

#[test]
fn litestream_only_keys_are_named_as_unsupported() {
    let message =
        parse_err("dbs:\n  - dir: /data\n    path: /a.db\n    replica:\n      url: s3://b/p\n");
    assert!(
        message.contains("`dir` is a Litestream setting that Station does not support"),
        "{message}"
    );
    let message =
        parse_err("dbs:\n  - path: /a.db\n    replica:\n      type: sftp\n      path: /x\n");
    assert!(message.contains("does not support"), "{message}");
    assert!(
        parse_err("dbs:\n  - path: /a.db\n    replica:\n      url: gcs://b/p\n")
            .contains("use `gs`")
    );
}

#[test]
fn replica_shape_errors() {
    let cases = [
        (
            "replica:\n      url: s3://b/p\n    replicas:\n      - url: s3://b/q\n",
            "not both",
        ),
        (
            "replica:\n      url: s3://b/p\n      bucket: other\n",
            "either `url` or `bucket`/`path`",
        ),
        (
            "replica:\n      type: file\n      path: s3://b/p\n",
            "put it in `url`",
        ),
        (
            "replica:\n      type: s3\n      path: p\n",
            "needs `bucket`",
        ),
        ("replica:\n      type: file\n", "needs `path`"),
        (
            "replica:\n      type: abs\n      url: s3://b/p\n",
            "does not match",
        ),
        ("replicas: []\n", "a `replica` is required"),
    ];
    for (replica, expected) in cases {
        let message = parse_err(&format!("dbs:\n  - path: /a.db\n    {replica}"));
        assert!(
            message.contains(expected),
            "{message} should contain {expected}"
        );
    }
    assert!(
        parse_err("dbs:\n  - replica:\n      url: s3://b/p\n")
            .contains("dbs[0]: `path` is required")
    );
}

#[test]
fn bad_durations_explain_the_syntax() {
    let message = parse_err("l0-retention: 5 minutes\n");
    assert!(
        message.contains("invalid duration `5 minutes`"),
        "{message}"
    );
    assert!(message.contains("1m30s"), "{message}");
    assert!(parse_err("levels:\n  - interval: 0s\n").contains("greater than 0"));
    let nine = "levels:\n".to_owned() + &"  - interval: 1s\n".repeat(9);
    assert!(parse_err(&nine).contains("at most 8"));
}

#[test]
fn conflicting_per_db_snapshots_are_rejected() {
    let db = |interval: &str| {
        format!(
            "  - path: /{interval}.db\n    snapshot:\n      interval: {interval}\n    replica:\n      url: s3://b/{interval}\n"
        )
    };
    let same = parse(&format!(
        "dbs:\n{}{}",
        db("2h"),
        db("2h").replace("/2h.db", "/other.db")
    ))
    .unwrap();
    assert_eq!(
        same.snapshot.interval,
        Duration::from_secs(7200),
        "promoted to global"
    );
    let message = parse_err(&format!("dbs:\n{}{}", db("2h"), db("3h")));
    assert!(message.contains("dbs[1].snapshot.interval"), "{message}");
}

#[test]
fn env_expansion_fills_values_and_empty_means_unset() {
    let text = "dbs:\n  - path: $DB\n    replica:\n      type: s3\n      bucket: ${BUCKET}\n      region: ${REGION}\n      secret-access-key: pa$$word\n";
    let config = parse_with_env(text, &[("DB", "/x.db"), ("BUCKET", "b")]).unwrap();
    let replica = &config.dbs[0].replicas[0];
    assert_eq!(config.dbs[0].path, std::path::Path::new("/x.db"));
    assert_eq!(replica.bucket.as_deref(), Some("b"));
    assert_eq!(
        replica.region, None,
        "unset variable expands to empty, which is unset"
    );
    assert_eq!(replica.secret_access_key.as_deref(), Some("pa$word"));

    let literal = parse(text).unwrap();
    assert_eq!(
        literal.dbs[0].replicas[0].bucket.as_deref(),
        Some("${BUCKET}"),
        "no_expand_env"
    );
}

#[test]
fn no_expand_env_keeps_dollars() {
    let config =
        parse("dbs:\n  - path: /$HOME/a.db\n    replica:\n      url: file:///b\n").unwrap();
    assert_eq!(config.dbs[0].path, std::path::Path::new("/$HOME/a.db"));
}

#[test]
fn empty_file_is_an_empty_config() {
    assert!(parse("").unwrap().dbs.is_empty());
    assert!(parse("# nothing yet\n").unwrap().dbs.is_empty());
}

#[test]
fn debug_redacts_secrets() {
    let text = "dbs:\n  - path: /a.db\n    replicas:\n      - type: s3\n        bucket: b\n        access-key-id: AKIAEXAMPLE\n        secret-access-key: s3-secret-value\n      - type: abs\n        bucket: c\n        account-key: azure-secret-value\n        sas-token: sas-secret-value\n";
    let debug = format!("{:?}", parse(text).unwrap());
    for secret in ["s3-secret-value", "azure-secret-value", "sas-secret-value"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    assert!(debug.contains("<redacted>"));
}

#[test]
fn init_text_parses_with_and_without_its_variables() {
    let text = init_config_text("/data/station.db");
    let vars = [
        ("LITESTREAM_S3_BUCKET", "station-backups"),
        ("LITESTREAM_S3_REGION", "eu-central-1"),
    ];
    let config = parse_with_env(&text, &vars).unwrap();
    let replica = &config.dbs[0].replicas[0];
    assert_eq!(config.dbs[0].path, std::path::Path::new("/data/station.db"));
    assert_eq!(replica.kind, ReplicaKind::S3);
    assert_eq!(replica.bucket.as_deref(), Some("station-backups"));
    assert_eq!(replica.path.as_deref(), Some("station-db"));
    assert_eq!(replica.region.as_deref(), Some("eu-central-1"));
    assert_eq!(replica.endpoint, None);

    let message = parse_with_env(&text, &[]).unwrap_err();
    assert!(message.contains("needs `bucket`"), "{message}");
}

#[test]
fn init_text_quotes_odd_paths() {
    let text = init_config_text("/data/my db: #1.db");
    let config = parse_with_env(&text, &[("LITESTREAM_S3_BUCKET", "b")]).unwrap();
    assert_eq!(
        config.dbs[0].path,
        std::path::Path::new("/data/my db: #1.db")
    );
}
