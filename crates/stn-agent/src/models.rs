//! Model clients, one per model setting, made once and reused: a client owns
//! an HTTP connection pool and its TLS setup, which would otherwise cost every
//! run several milliseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stn_llm::{LlmError, ModelClient, ProviderConfig};

/// Turns an agent's `model:` (or none) into a provider and a model name:
/// config.yaml's `ai_*` keys and the process environment, as stn-llm resolves them.
pub type Resolve =
    Arc<dyn Fn(Option<&str>) -> Result<(ProviderConfig, String), LlmError> + Send + Sync>;

/// The model clients of an engine.
pub struct Models {
    resolve: Resolve,
    clients: Mutex<HashMap<Option<String>, (ModelClient, String)>>,
}

impl Models {
    /// Clients resolved by `resolve`.
    pub fn new(resolve: Resolve) -> Self {
        Self {
            resolve,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client and model name for an agent's `model:` setting.
    pub fn client(&self, model: Option<&str>) -> Result<(ModelClient, String), LlmError> {
        let key = model.map(str::to_owned);
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let (config, name) = (self.resolve)(model)?;
        let client = ModelClient::new(config)?;
        self.lock().insert(key, (client.clone(), name.clone()));
        Ok((client, name))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<String>, (ModelClient, String)>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models").finish_non_exhaustive()
    }
}
