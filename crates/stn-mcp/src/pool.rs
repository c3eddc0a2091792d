//! Long-lived connections, pooled per key (an environment) while
//! `stn serve` runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::Connection;
use crate::error::McpError;
use crate::pidfile::Registry;
use crate::types::{ServerSpec, ToolInfo, ToolOutput};

/// How long a server may take to start by default: a first `npx -y` or
/// `uvx` start downloads the package, and several servers starting at once
/// on a loaded machine share it.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How a [`Pool`] starts servers.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Directory where the process group of every running stdio server is
    /// recorded, for [`crate::reap_orphans`] after a crash. `None`: not recorded.
    pub pid_dir: Option<PathBuf>,
    /// Longest time a server may take to start, initialize and list its tools.
    pub start_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            pid_dir: None,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }
}

/// MCP connections per (key, server name). Cheap to clone; the clones share
/// the connections. A server that died is restarted on its next use. Every
/// child process group is killed on [`Pool::close`], [`Pool::shutdown`] and
/// when the last clone is dropped; after a SIGKILL of our own process, see
/// [`crate::reap_orphans`].
#[derive(Clone, Default)]
pub struct Pool {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    registry: Arc<Registry>,
    start_timeout: Duration,
}

/// One server under one key. The async mutex makes concurrent first uses
/// start the server once; calls share the connection without holding it.
struct Slot {
    spec: ServerSpec,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("servers", &self.lock().len())
            .field("pids", &self.child_pids())
            .finish()
    }
}

impl Pool {
    /// A pool with [`PoolOptions::default`].
    pub fn new() -> Self {
        Self::with_options(PoolOptions::default())
    }

    /// A pool with the given options.
    pub fn with_options(options: PoolOptions) -> Self {
        Pool {
            inner: Arc::new(Inner {
                slots: Mutex::default(),
                registry: Arc::new(Registry::new(options.pid_dir)),
                start_timeout: options.start_timeout,
            }),
        }
    }

    /// Connects (or reuses) every server of a set, concurrently, and returns
    /// their tools in the order of `specs`. A server whose spec changed is
    /// restarted. Servers that fail are each named with the reason (exit
    /// status, stderr tail, non-JSON output); the others stay connected.
    pub async fn tools(&self, key: &str, specs: &[ServerSpec]) -> Result<Vec<ToolInfo>, McpError> {
        let connecting = specs.iter().map(|spec| async move {
            let slot = self.slot_for(key, spec).await;
            self.connected(&slot).await
        });
        let mut tools = Vec::new();
        let mut errors = Vec::new();
        for result in futures::future::join_all(connecting).await {
            match result {
                Ok(connection) => tools.extend(connection.tools.iter().cloned()),
                Err(e) => errors.push(e),
            }
        }
        match McpError::combine(errors) {
            Some(error) => Err(error),
            None => Ok(tools),
        }
    }

    /// Calls a tool of a server connected under `key` by [`Pool::tools`].
    /// A dead server is restarted first. Times out after the server's
    /// `call_timeout`. Calls may run concurrently on one connection.
    pub async fn call(
        &self,
        key: &str,
        server: &str,
        tool: &str,
        args: serde_json::Value,
    ) -> Result<ToolOutput, McpError> {
        let slot = self
            .lock()
            .get(&(key.to_owned(), server.to_owned()))
            .cloned()
            .ok_or_else(|| McpError::UnknownServer {
                key: key.to_owned(),
                server: server.to_owned(),
            })?;
        let connection = self.connected(&slot).await?;
        connection.call(tool, args, slot.spec.call_timeout).await
    }

    /// Stops every server under `key` (e.g. the environment's config changed).
    pub async fn close(&self, key: &str) {
        let slots: Vec<Arc<Slot>> = {
            let mut map = self.lock();
            let keys: Vec<_> = map.keys().filter(|(k, _)| k == key).cloned().collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        close_all(slots).await;
    }

    /// Stops every server of the pool.
    pub async fn shutdown(&self) {
        let slots: Vec<Arc<Slot>> = self.lock().drain().map(|(_, slot)| slot).collect();
        close_all(slots).await;
    }

    /// The pids (= process groups) of the running stdio servers.
    pub fn child_pids(&self) -> Vec<u32> {
        self.inner.registry.groups()
    }

    /// The slot for a spec; a slot holding another spec under that name is
    /// closed and replaced.
    async fn slot_for(&self, key: &str, spec: &ServerSpec) -> Arc<Slot> {
        let id = (key.to_owned(), spec.name.clone());
        let replaced = {
            let mut map = self.lock();
            match map.get(&id) {
                Some(slot) if slot.spec == *spec => return slot.clone(),
                _ => map.insert(
                    id.clone(),
                    Arc::new(Slot {
                        spec: spec.clone(),
                        connection: tokio::sync::Mutex::new(None),
                    }),
                ),
            }
        };
        if let Some(old) = replaced {
            tracing::info!(key, server = %spec.name, "MCP server config changed: restarting it");
            close_all(vec![old]).await;
        }
        self.lock()
            .get(&id)
            .cloned()
            .expect("the slot was inserted above")
    }

    /// The slot's live connection, started (or restarted) when needed.
    async fn connected(&self, slot: &Slot) -> Result<Arc<Connection>, McpError> {
        let mut current = slot.connection.lock().await;
        let mut died = None;
        if let Some(connection) = current.as_ref() {
            if connection.is_alive() {
                return Ok(connection.clone());
            }
            let reason = connection.death_reason().await;
            tracing::warn!(server = %slot.spec.name, "MCP server stopped ({reason}); restarting it");
            connection.close().await;
            died = Some(reason);
            *current = None;
        }
        let connection =
            Connection::open(&slot.spec, self.inner.start_timeout, &self.inner.registry)
                .await
                .map_err(|e| match (e, died) {
                    (McpError::Start { server, reason }, Some(before)) => McpError::Start {
                        server,
                        reason: format!("restart after it stopped ({before}) failed: {reason}"),
                    },
                    (e, _) => e,
                })?;
        let connection = Arc::new(connection);
        *current = Some(connection.clone());
        Ok(connection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Slot>>> {
        // Only whole-slot inserts and removals happen under this lock.
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn close_all(slots: Vec<Arc<Slot>>) {
    let closing = slots.iter().map(|slot| async move {
        if let Some(connection) = slot.connection.lock().await.take() {
            connection.close().await;
        }
    });
    futures::future::join_all(closing).await;
}
