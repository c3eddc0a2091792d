//! The secret values an engine keeps out of run records, logs and events.
//!
//! Each run adds its environment's values when it starts (before any MCP
//! server is started with them), on top of the configured credentials the
//! engine was built with. Values stay known for the engine's life: a value
//! hidden in one run is hidden in every later one, which can only hide more.

use std::sync::RwLock;

use stn_core::Station;
use stn_core::files::variables::Variables;
use stn_core::model::RunStep;
use stn_core::redact::Redactor;
use stn_core::store::RunEnd;

/// The values to hide, shared by every run of one engine.
#[derive(Debug, Default)]
pub(crate) struct Secrets(RwLock<Redactor>);

impl Secrets {
    /// Starts from the configured credentials (model keys, database token).
    pub(crate) fn new(configured: Redactor) -> Secrets {
        Secrets(RwLock::new(configured))
    }

    /// Adds `env`'s `variables.yml` values and the secret-looking process
    /// variables. A file that cannot be read adds nothing here; starting
    /// the run's servers reports it.
    pub(crate) fn learn(&self, station: &Station, env: &str) {
        let vars = Variables::load(&station.layout().env_dir(env)).unwrap_or_default();
        let found = Redactor::for_variables(&vars);
        let mut known = self.0.write().unwrap_or_else(|e| e.into_inner());
        known.merge(&found);
    }

    /// A step as it may be stored and shown.
    pub(crate) fn step(&self, mut step: RunStep) -> RunStep {
        let r = self.0.read().unwrap_or_else(|e| e.into_inner());
        step.output = step.output.map(|text| r.redact_string(text));
        if let Some(input) = step.input.as_mut() {
            r.redact_json(input);
        }
        step
    }

    /// A run's end as it may be stored, logged and shown.
    pub(crate) fn end(&self, mut end: RunEnd) -> RunEnd {
        let r = self.0.read().unwrap_or_else(|e| e.into_inner());
        end.error = end.error.map(|text| r.redact_string(text));
        end.final_response = end.final_response.map(|text| r.redact_string(text));
        end
    }
}
