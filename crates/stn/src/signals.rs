//! Stop requests from the operating system.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM, listened for from the moment this is made. A command
/// that makes it first keeps a signal that arrives while it is still starting
/// (restoring, migrating, starting replication) instead of being killed by
/// the default action before its final sync.
pub struct Shutdown {
    interrupt: Signal,
    terminate: Signal,
}

impl Shutdown {
    /// Starts listening.
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves on the first SIGINT or SIGTERM since [`Shutdown::listen`].
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        tracing::info!("shutdown signal received");
    }
}

/// Resolves on SIGINT or SIGTERM (listening from the first poll).
pub async fn shutdown() {
    match Shutdown::listen() {
        Ok(stop) => stop.wait().await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
