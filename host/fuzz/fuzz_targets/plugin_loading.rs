//! Any bytes as an uploaded component: compiled under the code caps,
//! described under the describe limits and checked, exactly as an upload
//! is. An answer (a plugin, or the reason it is refused), never a panic.
#![no_main]

use jobhost::registry::Registry;
use jobhost::runtime::{Runtime, RuntimeConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("a runtime"))
}

fuzz_target!(|data: &[u8]| {
    let _ = Registry::prepare(runtime(), data, "fuzz");
});
