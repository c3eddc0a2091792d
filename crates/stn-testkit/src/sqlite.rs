//! Comparing SQLite databases in tests: a hash per row of every table.

use std::path::Path;

use rusqlite::types::ValueRef;

/// Every user table with a hash per row, in rowid order (Litestream's own
/// `_litestream_*` tables excluded, so its replicas compare with ours).
pub fn dump(path: &Path) -> Vec<(String, Vec<u64>)> {
    let conn = rusqlite::Connection::open(path)
        .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
    dump_conn(&conn)
}

/// [`dump`] on an open connection.
pub fn dump_conn(conn: &rusqlite::Connection) -> Vec<(String, Vec<u64>)> {
    use std::hash::{Hash, Hasher};

    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE '\\_litestream%' ESCAPE '\\' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .expect("list tables");
    tables
        .into_iter()
        .map(|table| {
            let mut statement = conn
                .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
                .expect("select rows");
            let columns = statement.column_count();
            let rows = statement
                .query_map([], |row| {
                    let mut hasher = std::hash::DefaultHasher::new();
                    for at in 0..columns {
                        match row.get_ref(at)? {
                            ValueRef::Null => 0u8.hash(&mut hasher),
                            ValueRef::Integer(i) => (1u8, i).hash(&mut hasher),
                            ValueRef::Real(f) => (2u8, f.to_bits()).hash(&mut hasher),
                            ValueRef::Text(t) => (3u8, t).hash(&mut hasher),
                            ValueRef::Blob(b) => (4u8, b).hash(&mut hasher),
                        }
                    }
                    Ok(hasher.finish())
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .expect("read rows");
            (table, rows)
        })
        .collect()
}

/// The result of `PRAGMA integrity_check` ("ok" when healthy).
pub fn integrity_check(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open database");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}
