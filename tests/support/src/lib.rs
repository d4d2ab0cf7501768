//! What jobhost's integration tests and benchmarks share: the paths of the
//! example and fixture components, and a real `jobhost serve` process
//! started on a free port, with tokens made by the CLI.

pub mod artifacts;
pub mod postgres;
pub mod process;

/// Paths of the built components: the example job types (which the host
/// embeds) and the test fixtures (hostile, broken, versioned...).
pub mod wasm {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}
