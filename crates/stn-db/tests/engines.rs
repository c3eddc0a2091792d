//! The same behaviour checks against a local file and a real sqld.

use stn_db::{Database, DatabaseUrl, DbError, Migration, Statement, params};
use stn_testkit::{CountingProxy, Sqld, SqldOptions, mint_jwt};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "parents",
        sql: "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n\
              CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE, v TEXT);",
    },
    Migration {
        version: 2,
        name: "index",
        sql: "CREATE INDEX child_parent ON child(parent_id);",
    },
];

async fn local() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("t.db").to_str().unwrap()).unwrap();
    let db = Database::open(&url).await.unwrap();
    (dir, db)
}

async fn remote(server: &Sqld) -> Database {
    let url = DatabaseUrl::parse(&server.url()).unwrap();
    Database::open(&url).await.unwrap()
}

async fn cascades_and_atomic_batches(db: &Database) {
    db.migrate(MIGRATIONS).await.unwrap();
    db.batch(vec![
        Statement::new("INSERT INTO parent (name) VALUES (?1)", params!["p"]),
        Statement::new(
            "INSERT INTO child (parent_id, v) VALUES ((SELECT id FROM parent WHERE name = ?1), ?2)",
            params!["p", "c1"],
        ),
    ])
    .await
    .unwrap();
    // A failing statement in the middle leaves nothing of the batch behind.
    let err = db
        .batch(vec![
            Statement::new("INSERT INTO parent (name) VALUES (?1)", params!["q"]),
            Statement::new("INSERT INTO parent (name) VALUES (?1)", params!["p"]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Constraint { .. }), "{err}");
    let names = db
        .query("SELECT name FROM parent ORDER BY name", params![])
        .await
        .unwrap();
    assert_eq!(names.rows.len(), 1);
    // Foreign keys are on: a dangling child is refused and a delete cascades.
    let err = db
        .execute(
            "INSERT INTO child (parent_id, v) VALUES (999, 'x')",
            params![],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Constraint { .. }), "{err}");
    let deleted = db
        .execute("DELETE FROM parent WHERE name = 'p'", params![])
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected, 1);
    let children: i64 = db
        .query_opt("SELECT count(*) FROM child", params![])
        .await
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(children, 0, "ON DELETE CASCADE must hold");
    // Values of every type round-trip.
    let row = db
        .query_opt(
            "SELECT ?1, ?2, ?3, ?4, ?5",
            params![
                i64::MAX,
                1.5,
                "t\u{e9}xt",
                vec![0u8, 255, 7],
                None::<String>
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), i64::MAX);
    assert_eq!(row.get::<f64>(1).unwrap(), 1.5);
    assert_eq!(row.get::<String>(2).unwrap(), "t\u{e9}xt");
    assert_eq!(row.get::<Vec<u8>>(3).unwrap(), vec![0u8, 255, 7]);
    assert_eq!(row.get::<Option<String>>(4).unwrap(), None);
}

async fn concurrent_migrators_apply_once(a: Database, b: Database) {
    let (ra, rb) = tokio::join!(a.migrate(MIGRATIONS), b.migrate(MIGRATIONS));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut applied: Vec<u32> = ra.iter().chain(rb.iter()).copied().collect();
    applied.sort();
    assert_eq!(
        applied,
        vec![1, 2],
        "each migration applied exactly once: {ra:?} {rb:?}"
    );
    let status = a.migration_status(MIGRATIONS).await.unwrap();
    assert_eq!(status.version(), 2);
    assert!(status.pending.is_empty());
}

async fn changed_migration_is_refused(db: &Database) {
    db.migrate(MIGRATIONS).await.unwrap();
    let changed = [
        MIGRATIONS[0],
        Migration {
            sql: "CREATE INDEX other ON child(v);",
            ..MIGRATIONS[1]
        },
    ];
    let err = db.migrate(&changed).await.unwrap_err();
    assert!(
        matches!(err, DbError::MigrationChanged { version: 2, .. }),
        "{err}"
    );
    let err = db.migrate(&MIGRATIONS[..1]).await.unwrap_err();
    assert!(
        matches!(
            err,
            DbError::SchemaTooNew {
                database: 2,
                known: 1
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn local_cascades_and_atomic_batches() {
    let (_dir, db) = local().await;
    cascades_and_atomic_batches(&db).await;
}

#[tokio::test]
async fn remote_cascades_and_atomic_batches() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    cascades_and_atomic_batches(&remote(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_concurrent_migrators_apply_once() {
    let (dir, a) = local().await;
    // A second handle has its own connections, like a second process.
    let b = Database::open(a.url()).await.unwrap();
    concurrent_migrators_apply_once(a, b).await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_concurrent_migrators_apply_once() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    concurrent_migrators_apply_once(remote(&server).await, remote(&server).await).await;
}

#[tokio::test]
async fn local_changed_migration_is_refused() {
    let (_dir, db) = local().await;
    changed_migration_is_refused(&db).await;
}

#[tokio::test]
async fn remote_changed_migration_is_refused() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    changed_migration_is_refused(&remote(&server).await).await;
}

#[tokio::test]
async fn remote_migration_from_scratch_takes_two_requests() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    let proxy = CountingProxy::start(server.port());
    let url = DatabaseUrl::parse(&format!("http://127.0.0.1:{}", proxy.port())).unwrap();
    let db = Database::open(&url).await.unwrap();
    assert_eq!(db.migrate(MIGRATIONS).await.unwrap(), vec![1, 2]);
    assert_eq!(proxy.requests(), 2, "read status + one atomic batch");
    assert!(db.migrate(MIGRATIONS).await.unwrap().is_empty());
    assert_eq!(
        proxy.requests(),
        3,
        "an up-to-date database costs one request"
    );
}

#[tokio::test]
async fn remote_idle_past_stream_expiry_is_invisible() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    let db = remote(&server).await;
    db.migrate(MIGRATIONS).await.unwrap();
    db.query("SELECT * FROM parent", params![]).await.unwrap();
    // sqld expires idle streams after 10 s; no stream of ours outlives a call.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    db.execute("INSERT INTO parent (name) VALUES ('after-idle')", params![])
        .await
        .unwrap();
    assert_eq!(
        db.query("SELECT * FROM parent", params![])
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
}

#[tokio::test]
async fn remote_auth_errors_are_named_and_never_show_the_token() {
    let Some(server) = Sqld::start(SqldOptions {
        jwt: true,
        ..Default::default()
    }) else {
        return;
    };
    let rw = mint_jwt(&serde_json::json!({"a": "rw"}));
    let ro = mint_jwt(&serde_json::json!({"a": "ro"}));
    let expired = mint_jwt(&serde_json::json!({"a": "rw", "exp": 1_000_000_000}));
    let open = |token: &str| {
        let url = DatabaseUrl::parse(&format!("{}?authToken={token}", server.url())).unwrap();
        async move { Database::open(&url).await.unwrap() }
    };
    open(&rw).await.migrate(MIGRATIONS).await.unwrap();

    let wrong = format!("{}x", &rw[..rw.len() - 2]);
    for token in [&wrong, &expired] {
        let err = open(token).await.ping().await.unwrap_err();
        assert!(matches!(err, DbError::Unauthorized { .. }), "{err}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(token.as_str()), "token leaked: {text}");
    }
    let no_token = Database::open(&DatabaseUrl::parse(&server.url()).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        no_token.ping().await.unwrap_err(),
        DbError::Unauthorized { .. }
    ));

    let read_only = open(&ro).await;
    read_only
        .query("SELECT count(*) FROM parent", params![])
        .await
        .unwrap();
    let err = read_only
        .execute("INSERT INTO parent (name) VALUES ('nope')", params![])
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Forbidden { .. }), "{err}");
    assert!(!err.to_string().contains(&ro));
}

#[tokio::test]
async fn remote_unknown_namespace_is_not_found() {
    let Some(server) = Sqld::start(SqldOptions {
        namespaces: true,
        ..Default::default()
    }) else {
        return;
    };
    let err = remote(&server).await.ping().await.unwrap_err();
    assert!(matches!(err, DbError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn remote_tls_url_on_plain_http_server_is_named() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    let url = DatabaseUrl::parse(&format!("libsql://127.0.0.1:{}", server.port())).unwrap();
    let err = Database::open(&url)
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::TlsMismatch { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_server_is_named() {
    let port = stn_testkit::free_port();
    let url = DatabaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = Database::open(&url)
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn corrupt_local_file_is_named_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    let junk = vec![0x5au8; 8192];
    std::fs::write(&path, &junk).unwrap();
    let url = DatabaseUrl::parse(path.to_str().unwrap()).unwrap();
    let err = Database::open(&url).await.unwrap_err();
    assert!(matches!(err, DbError::NotADatabase { .. }), "{err}");
    assert!(err.to_string().contains("bad.db"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        junk,
        "the file must not change"
    );
}

#[tokio::test]
async fn local_commit_notifications_and_external_checkpointing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("r.db").to_str().unwrap()).unwrap();
    let commits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&commits);
    let options = stn_db::OpenOptions {
        must_exist: false,
        checkpoint_externally: true,
        on_commit: Some(std::sync::Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(std::future::ready(Ok(())))
        })),
        ..Default::default()
    };
    let db = Database::open_with(&url, &options).await.unwrap();
    db.migrate(MIGRATIONS).await.unwrap();
    let after_migrate = commits.load(Ordering::SeqCst);
    assert!(after_migrate >= 1, "a migration is a commit");
    db.query("SELECT * FROM parent", params![]).await.unwrap();
    assert_eq!(
        commits.load(Ordering::SeqCst),
        after_migrate,
        "reads are not commits"
    );
    db.execute("INSERT INTO parent (name) VALUES ('x')", params![])
        .await
        .unwrap();
    db.query(
        "INSERT INTO parent (name) VALUES ('y') RETURNING id",
        params![],
    )
    .await
    .unwrap();
    assert_eq!(commits.load(Ordering::SeqCst), after_migrate + 2);
    // No automatic checkpoint: the WAL keeps every frame until someone else checkpoints.
    for i in 0..2000 {
        db.execute(
            "INSERT INTO child (parent_id, v) VALUES (1, ?1)",
            params![format!("{i:0>200}")],
        )
        .await
        .unwrap();
    }
    let wal = std::fs::metadata(dir.path().join("r.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal > 1000 * 4096,
        "WAL was checkpointed behind the replicator's back: {wal} bytes"
    );
}

#[tokio::test]
async fn a_write_the_commit_hook_rejects_is_committed_but_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("d.db").to_str().unwrap()).unwrap();
    let plain = Database::open(&url).await.unwrap();
    plain.migrate(MIGRATIONS).await.unwrap();
    let options = stn_db::OpenOptions {
        must_exist: false,
        checkpoint_externally: true,
        on_commit: Some(std::sync::Arc::new(|| {
            Box::pin(std::future::ready(Err("replica down".to_owned())))
        })),
        ..Default::default()
    };
    let db = Database::open_with(&url, &options).await.unwrap();
    let error = db
        .execute("INSERT INTO parent (name) VALUES ('x')", params![])
        .await
        .unwrap_err();
    assert!(matches!(error, DbError::NotReplicated(_)), "{error:?}");
    assert!(error.to_string().contains("replica down"), "{error}");
    assert!(error.is_transient() && error.hint().is_some());
    // Not acknowledged does not mean lost: the row is there locally.
    let rows = plain
        .query("SELECT name FROM parent", params![])
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 1);
}

/// Issue 9 item 12: opening an existing database never creates one.
#[tokio::test]
async fn open_existing_refuses_a_missing_file_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo").join("station.db");
    let url = DatabaseUrl::parse(path.to_str().unwrap()).unwrap();
    let err = Database::open_existing(&url).await.unwrap_err();
    assert!(matches!(err, DbError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    assert!(err.hint().unwrap().contains("stn init"));
    assert!(!path.exists() && !path.parent().unwrap().exists());

    // An existing file opens as before.
    let created = Database::open(&url).await.unwrap();
    created.migrate(MIGRATIONS).await.unwrap();
    let existing = Database::open_existing(&url).await.unwrap();
    assert_eq!(
        existing
            .migration_status(MIGRATIONS)
            .await
            .unwrap()
            .version(),
        2
    );
}
