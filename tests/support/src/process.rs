//! A `jobhost serve` process on 127.0.0.1 and a free port, and tokens made
//! with `jobhost token create`. The binary's path comes from the caller
//! (`env!("CARGO_BIN_EXE_jobhost")` in the host's tests and benchmarks).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server that printed its address.
pub struct Listening {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// From spawning to the "listening" line.
    pub took: Duration,
}

/// Starts `BIN --data-dir DATA serve --listen 127.0.0.1:0 ARGS...` and waits
/// for its "listening" line; the rest of its stdout is drained in the
/// background. Panics with what it printed if it exits first.
pub fn serve<I, S>(bin: &str, data: &Path, args: I, stderr: Stdio) -> Listening
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    serve_env(bin, data, args, stderr, &[])
}

/// [`serve`] with extra environment variables.
pub fn serve_env<I, S>(
    bin: &str,
    data: &Path,
    args: I,
    stderr: Stdio,
    env: &[(&str, &str)],
) -> Listening
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let started = Instant::now();
    crate::artifacts::seed(data);
    let mut child = Command::new(bin)
        .envs(env.iter().copied())
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut printed = Vec::new();
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            let status = child.wait().ok();
            panic!(
                "the server ended ({status:?}) before it listened; it printed:\n{}",
                printed.join("\n")
            );
        };
        if let Some(rest) = line.strip_prefix("jobhost listening on ") {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_string();
        }
        printed.push(line);
    };
    let took = started.elapsed();
    crate::artifacts::keep(data);
    std::thread::spawn(move || for _ in lines {});
    Listening { child, base, took }
}

/// Creates a token for `user` in `tenant` with `role` in `data`'s token file.
pub fn token(bin: &str, data: &Path, user: &str, tenant: &str, role: &str) -> String {
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(["token", "create", "--user", user, "--tenant", tenant])
        .args(["--role", role])
        .output()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("a token is ASCII")
        .trim()
        .to_string()
}
