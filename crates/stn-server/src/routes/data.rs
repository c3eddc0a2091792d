//! `GET /api/v1/data`: where Station's state lives and how safe it is — the
//! database (redacted URL, size, schema version) and, when it is replicated,
//! every replica's progress and last error.

use axum::Json;
use axum::extract::{Extension, State};
use serde::Serialize;
use stn_core::Station;
use stn_core::migrations::MIGRATIONS;

use crate::error::ApiResult;
use crate::{DataFn, Replication};

/// The answer of `GET /api/v1/data`.
#[derive(Debug, Clone, Serialize)]
pub struct DataStatus {
    /// The database URL or path, credentials removed.
    pub database: String,
    /// `local` (a SQLite file) or `remote` (libSQL / sqld).
    pub kind: &'static str,
    /// Pages times page size.
    pub size_bytes: Option<u64>,
    /// The highest applied migration.
    pub schema_version: u32,
    /// Migrations this binary has that the database lacks.
    pub pending_migrations: usize,
    /// Present when this server replicates the database.
    pub replication: Option<Replication>,
}

/// What both the API and the Data page show.
pub async fn status(station: &Station, data: Option<&DataFn>) -> ApiResult<DataStatus> {
    let db = station.store().db();
    let migrations = db
        .migration_status(MIGRATIONS)
        .await
        .map_err(stn_core::CoreError::from)?;
    Ok(DataStatus {
        database: db.url().redacted(),
        kind: if db.url().is_remote() {
            "remote"
        } else {
            "local"
        },
        size_bytes: db.size_bytes().await.ok(),
        schema_version: migrations.version(),
        pending_migrations: migrations.pending.len(),
        replication: data.map(|f| f()),
    })
}

/// `GET /api/v1/data`.
pub async fn get(
    State(station): State<Station>,
    data: Option<Extension<DataFn>>,
) -> ApiResult<Json<DataStatus>> {
    let data = data.map(|Extension(f)| f);
    Ok(Json(status(&station, data.as_ref()).await?))
}
