//! Shared helpers: fixture paths, a runtime with test-sized limits, and a
//! one-call way to run a plugin.

use jobhost::registry::{Plugin, Registry};
use jobhost::runtime::{CancelToken, Collector, RunReport, RunRequest, Runtime, RuntimeConfig};
use std::sync::Arc;
use std::time::Duration;

pub use jobhost_test_support::wasm::{
    BAD_SCHEMA, CSV_SUMMARY, DESCRIBE_LOOP, DESCRIBE_TRAP, EGRESS, HOSTILE, JSON_SELECT,
    PRIME_SIEVE, TEXT_STATS, UNTRUSTED_TEXT, VERSIONED, WITNESS,
};

pub const EXAMPLES: [&str; 4] = [TEXT_STATS, JSON_SELECT, CSV_SUMMARY, PRIME_SIEVE];

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime builds")
}

pub fn plugin(runtime: &Runtime, path: &str) -> Plugin {
    let bytes = std::fs::read(path).expect("fixture exists");
    Registry::prepare(runtime, &bytes, path).unwrap_or_else(|e| panic!("{path} loads: {e}"))
}

pub fn request(plugin: &Plugin, config: serde_json::Value) -> RunRequest {
    let mut config = config;
    plugin
        .validate_config(&mut config)
        .expect("config is valid");
    RunRequest {
        config: config.to_string(),
        run_id: uuid::Uuid::new_v4().to_string(),
        attempt: 1,
        checkpoint: None,
        limits: plugin.info.limits,
        access: Default::default(),
    }
}

/// Runs `plugin` with `config` and a short deadline; returns the report and what it observed.
pub fn run(
    runtime: &Runtime,
    plugin: &Plugin,
    config: serde_json::Value,
) -> (RunReport, Arc<Collector>) {
    let mut req = request(plugin, config);
    req.limits.timeout = req.limits.timeout.min(Duration::from_secs(5));
    run_request(runtime, plugin, &req)
}

pub fn run_request(
    runtime: &Runtime,
    plugin: &Plugin,
    req: &RunRequest,
) -> (RunReport, Arc<Collector>) {
    let collector = Arc::new(Collector::default());
    let report = runtime.run(
        &plugin.compiled,
        req,
        collector.clone(),
        &CancelToken::new(),
    );
    (report, collector)
}
