//! `durability`: when a write is acknowledged, Station's own setting beside
//! Litestream's keys (read from the config file, used by the replicator).

/// When a write made through Station is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Once committed locally; the replicas follow within `sync_interval`
    /// (Litestream's model: a crash can lose the last second of writes).
    #[default]
    Async,
    /// Once every replica holds it: nothing acknowledged is ever lost.
    /// Concurrent writes share syncs and uploads (group commit).
    Sync,
}

impl Durability {
    /// The name used in flags and config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Async => "async",
            Durability::Sync => "sync",
        }
    }
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "async" => Ok(Durability::Async),
            "sync" => Ok(Durability::Sync),
            other => Err(format!(
                "unknown durability `{other}`: use `async` (acknowledge once committed locally) or `sync` (once the replica holds it)"
            )),
        }
    }
}
