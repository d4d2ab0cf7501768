//! What the benchmarks share: a real `jobhost serve` process, tokens, flags.

// Each benchmark uses a part of this.
#![allow(dead_code)]

pub mod http;
pub mod sandbox;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("jobhost listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let took = started.elapsed();
    std::thread::spawn(move || for _ in lines {});
    (Server(child, format!("{base}/api/v1")), took)
}

/// Creates a user token in `data`'s token file.
pub fn token(data: &Path) -> String {
    token_for(data, "default", "user")
}

/// Creates a token of `role` in `tenant`.
pub fn token_for(data: &Path, tenant: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(data)
        .args(["token", "create", "--user", "bench@example.com"])
        .args(["--tenant", tenant, "--role", role])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
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
