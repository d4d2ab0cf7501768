//! What the benchmarks share: a real `jobhost serve` process, tokens, flags.

// Each benchmark uses a part of this.
#![allow(dead_code)]

pub mod cpu;
pub mod http;
pub mod machine;
pub mod runs;
pub mod sandbox;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

const JOBHOST: &str = env!("CARGO_BIN_EXE_jobhost");

/// A running server (killed when dropped) and its API base URL.
pub struct Server(pub Child, pub String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `jobhost serve` on a free port; returns it and the time until it listened.
pub fn serve(data: &Path) -> (Server, Duration) {
    serve_with(data, &[])
}

/// Starts `jobhost serve` with more flags.
pub fn serve_with(data: &Path, flags: &[&str]) -> (Server, Duration) {
    serve_bin(JOBHOST, data, flags)
}

/// Starts `bin serve` (another build of jobhost, e.g. a baseline).
pub fn serve_bin(bin: &str, data: &Path, flags: &[&str]) -> (Server, Duration) {
    let listening = jobhost_test_support::process::serve(bin, data, flags, Stdio::null());
    (
        Server(listening.child, format!("{}/api/v1", listening.base)),
        listening.took,
    )
}

/// Creates a user token in `data`'s token file.
pub fn token(data: &Path) -> String {
    token_for(data, "default", "user")
}

/// This build of jobhost.
pub fn jobhost() -> &'static str {
    JOBHOST
}

/// Creates a user token in `data`'s token file with `bin`.
pub fn token_bin(bin: &str, data: &Path) -> String {
    jobhost_test_support::process::token(bin, data, "bench@example.com", "default", "user")
}

/// The value after `--name` on the command line.
pub fn arg_str(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

/// Creates a token of `role` in `tenant`.
pub fn token_for(data: &Path, tenant: &str, role: &str) -> String {
    jobhost_test_support::process::token(JOBHOST, data, "bench@example.com", tenant, role)
}

/// The value after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
