//! What the in-process runtime benchmarks share: percentiles, loading a
//! component, and a run request for a validated config.

use jobhost::registry::{Plugin, Registry};
use jobhost::runtime::{RunAccess, RunRequest, Runtime};
use std::sync::Arc;
use std::time::Duration;

/// The `p` quantile (0 to 1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Compiles a component file into a plugin.
pub fn load(rt: &Runtime, path: &str) -> Plugin {
    Registry::prepare(rt, &std::fs::read(path).unwrap(), path).unwrap()
}

/// A run of `plugin` with `config` (validated) and `access`.
pub fn request(plugin: &Plugin, config: serde_json::Value, access: RunAccess) -> RunRequest {
    let mut config = config;
    plugin.validate_config(&mut config).unwrap();
    RunRequest {
        config: config.to_string(),
        run_id: "bench".into(),
        attempt: 1,
        checkpoint: None,
        limits: plugin.info.limits,
        access: Arc::new(access),
    }
}
