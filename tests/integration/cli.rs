//! The `jobhost` binary as a user types it.

use crate::support::*;
use std::process::Command;

fn jobhost(args: &[&str]) -> (i32, String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(out.stdout),
        text(out.stderr),
    )
}

#[test]
fn inspect_prints_each_examples_schema() {
    for path in EXAMPLES {
        let (code, stdout, _) = jobhost(&["plugin", "inspect", path, "--json"]);
        assert_eq!(code, 0, "{path}");
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["json_schema"]["type"], "object");
        assert!(doc["job_type"].is_string() && doc["version"].is_string());
        let (code, text, _) = jobhost(&["plugin", "inspect", path]);
        assert_eq!(code, 0);
        assert!(text.contains("config schema:"), "{text}");
    }
}

#[test]
fn validate_explains_a_bad_plugin() {
    let (code, stdout, _) = jobhost(&["plugin", "validate", TEXT_STATS]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("ok: text_stats 1.0.0"), "{stdout}");
    let (code, _, stderr) = jobhost(&["plugin", "validate", DESCRIBE_LOOP]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("describe failed") && stderr.contains("timeout"),
        "{stderr}"
    );
    let (code, _, stderr) = jobhost(&["plugin", "validate", "Cargo.toml"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not a WebAssembly binary"), "{stderr}");
}

#[test]
fn run_prints_output_logs_and_receipt() {
    let (code, stdout, stderr) = jobhost(&["run", TEXT_STATS, "--config", r#"{"text": "a b c"}"#]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["output"]["words"], 3);
    assert!(doc["receipt"]["wall_time_us"].as_u64().unwrap() > 0);
    assert!(stderr.contains("analysing 5 bytes"), "{stderr}");

    let (code, _, stderr) = jobhost(&["run", TEXT_STATS, "--config", r#"{"top_n": -1}"#]);
    assert_eq!(code, 2);
    assert!(stderr.contains("at `/top_n`"), "{stderr}");

    let (code, stdout, _) = jobhost(&[
        "run",
        HOSTILE,
        "--config",
        r#"{"attack": "loop"}"#,
        "--timeout-ms",
        "200",
    ]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["error"]["limit"], "timeout");
    assert_eq!(doc["receipt"]["stopped_by"], "timeout");
}

#[test]
fn bundled_examples_run_by_id() {
    let (code, stdout, stderr) =
        jobhost(&["run", "prime_sieve", "--config", r#"{"limit": 100000}"#]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["output"]["prime_count"], 9592);
    assert!(stderr.contains("[progress 100%]"), "{stderr}");
    let (code, _, stderr) = jobhost(&["run", "no_such_type"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("text_stats"),
        "lists the bundled ids: {stderr}"
    );
}

#[test]
fn receipts_match_the_checked_in_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/receipt.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for args in [
        vec!["run", "text_stats", "--config", r#"{"text": "x"}"#],
        vec!["run", HOSTILE, "--config", r#"{"attack": "memory"}"#],
    ] {
        let (_, stdout, _) = jobhost(&args);
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc["receipt"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

/// Runs the compile worker as the server does, on `component`, with its
/// data segment capped at `memory_bytes`.
fn compile_worker(component: &[u8], memory_bytes: u64) -> (Option<i32>, usize, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .args(["plugin", "compile-worker", "--max-instances", "10"])
        .args([
            "--max-memory-bytes",
            "268435456",
            "--max-component-bytes",
            "33554432",
        ])
        .args(["--fuel", "false", &format!("--memory-bytes={memory_bytes}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = component.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    (
        out.status.code(),
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_compile_worker_is_held_to_its_memory_cap() {
    // A sound plugin compiles under the default cap.
    let sound = std::fs::read(TEXT_STATS).unwrap();
    let (code, artifact, stderr) = compile_worker(&sound, jobhost::runtime::COMPILE_MEMORY_BYTES);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(artifact > 0);
    // The compile bomb needs more than 64 MiB: the worker dies, not the host.
    let (code, artifact, stderr) = compile_worker(&crate::components::compile_bomb(), 64 << 20);
    assert_eq!(code, None, "the allocator aborts it (SIGABRT): {stderr}");
    assert_eq!(artifact, 0);
    assert!(stderr.contains("memory allocation of"), "{stderr}");
}

/// The nice value of each of `pid`'s threads whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn thread_niceness(pid: u32, prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // Fields after the parenthesised name: state is 3rd, nice is 19th.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        out.push(after.split(' ').nth(16).unwrap().parse().unwrap());
    }
    out
}

/// Waits (up to 5 s) until `pid`'s worker threads run at `nice`; then
/// checks that the API threads run at 0.
#[cfg(target_os = "linux")]
fn assert_worker_niceness(pid: u32, nice: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut workers = thread_niceness(pid, "jobhost-worker");
    while workers != vec![nice, nice] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        workers = thread_niceness(pid, "jobhost-worker");
    }
    assert_eq!(workers, vec![nice, nice], "the two worker threads");
    let api = thread_niceness(pid, "tokio-rt-worker");
    assert!(
        !api.is_empty() && api.iter().all(|&n| n == 0),
        "API threads: {api:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn run_threads_are_lowered_only_when_asked() {
    use crate::server::Server;
    // By default the threads that execute runs (and write their changes)
    // keep the server's priority.
    let default = Server::start();
    let api = default.api(&default.user);
    let job = api.job("text_stats", serde_json::json!({"text": "a b"}));
    for _ in 0..4 {
        let run = api.trigger(&job, None);
        api.wait_done(&run);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_worker_niceness(default.pid(), 0);
    let lowered = Server::start_args(&[], &["--plugin-niceness", "7"]);
    assert_worker_niceness(lowered.pid(), 7);
}
