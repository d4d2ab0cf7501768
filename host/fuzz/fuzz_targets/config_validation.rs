//! Any bytes as a job config, validated against every bundled job type's
//! schema: an answer (accepted, or violations with their place), never a
//! panic.
#![no_main]

use jobhost::registry::Registry;
use jobhost::runtime::{Runtime, RuntimeConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let runtime = Runtime::new(RuntimeConfig::default()).expect("a runtime");
        let mut registry = Registry::new();
        let failures = registry.load_bundled(&runtime);
        assert!(failures.is_empty(), "bundled job types load");
        registry
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for plugin in registry().all() {
        let mut config = config.clone();
        if plugin.validate_config(&mut config).is_ok() {
            assert_eq!(config["job_type"], plugin.info.job_type.as_str());
        }
    }
});
