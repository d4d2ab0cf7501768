//! The author's path of `plugins/README.md`, end to end: `jobhost plugin new`,
//! the crate's own unit test, a build for `wasm32-wasip2`, `plugin validate`,
//! `plugin publish` to a real server, then a job and a completed run.

use crate::server::Server;
use serde_json::json;
use std::path::Path;
use std::process::Command;

const JOBHOST: &str = env!("CARGO_BIN_EXE_jobhost");

fn cargo(dir: &Path, args: &[&str]) {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/author-template");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .unwrap();
    assert!(status.success(), "cargo {args:?} in {}", dir.display());
}

/// `jobhost plugin new NAME [--http]` in `work`, the crate's own tests, and
/// a build for `wasm32-wasip2`; returns the component and what `new` printed.
fn new_and_build(work: &Path, name: &str, http: bool) -> (std::path::PathBuf, String) {
    let dir = work.join(name);
    let mut cmd = Command::new(JOBHOST);
    cmd.args(["plugin", "new", name, "--dir"]).arg(&dir);
    if http {
        cmd.arg("--http");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The workspace's lock file: the same dependency versions, no surprise downloads.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    cargo(&dir, &["test", "--quiet"]);
    cargo(
        &dir,
        &["build", "--release", "--target", "wasm32-wasip2", "--quiet"],
    );
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../target/author-template/wasm32-wasip2/release/{name}.wasm"
    ));
    (wasm, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_new_plugin_builds_publishes_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let (wasm, said) = new_and_build(work.path(), "greeter", false);
    assert!(said.contains("cargo build --release --target wasm32-wasip2"));
    let out = Command::new(JOBHOST)
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .args(["plugin", "validate"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = Server::start();
    let out = Command::new(JOBHOST)
        .args(["plugin", "publish"])
        .arg(&wasm)
        .args(["--server", &s.base, "--token", &s.operator])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let published: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(published["job_type"], "greeter");
    assert_eq!(published["version"], "0.1.0");

    let api = s.api(&s.user);
    let schema = api.get("/jobs/schemas?job_types=greeter").body;
    assert_eq!(
        schema[0]["json_schema"]["properties"]["name"]["description"],
        "Who to greet."
    );
    // Agents may not create it until its author says so.
    assert_eq!(schema[0]["creatable_by_agent"], false);
    let job = api.job("greeter", json!({"name": "Ada", "times": 2}));
    let run = api.trigger(&job, None);
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["message"], "Hello, Ada! Hello, Ada!");

    // Publishing with a user token is refused, with the server's reason.
    let out = Command::new(JOBHOST)
        .args(["plugin", "publish"])
        .arg(&wasm)
        .args(["--server", &s.base, "--token", &s.user])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("operator"));
    let help = Command::new(JOBHOST)
        .args(["plugin", "publish", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("operator") && !help.contains("admin"),
        "{help}"
    );
}

#[test]
fn a_new_http_plugin_declares_its_api_and_secret_and_waits_for_approval() {
    let work = tempfile::tempdir().unwrap();
    let (wasm, _) = new_and_build(work.path(), "item_fetch", true);
    let out = Command::new(JOBHOST)
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .args(["plugin", "inspect"])
        .arg(&wasm)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        "contract:      jobhost:plugin@0.2.0",
        "  https://api.example.com (reads items)",
        "  api_token (API token of the example API)",
        "  wasi:http/outgoing-handler@",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }

    let s = Server::start();
    let out = Command::new(JOBHOST)
        .args(["plugin", "publish"])
        .arg(&wasm)
        .args(["--server", &s.base, "--token", &s.operator])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = s.api(&s.admin);
    let r = admin.post(
        "/jobs",
        &json!({"job_type": "item_fetch", "config": {"id": "item-42"}}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let ops = s.api(&s.operator);
    let r = ops.patch(
        "/plugins/item_fetch/0.1.0",
        &json!({"grants": {"http": ["https://api.example.com"], "secrets": ["api_token"]}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin
            .put("/secrets/api_token", &json!({"value": "t-1"}))
            .status,
        201
    );
    // Granted and keyed: the request goes out (this machine has no route
    // to api.example.com, so it fails there, named).
    let job = admin.job("item_fetch", json!({"id": "item-42"}));
    let done = admin.wait_done(&admin.trigger(&job, None));
    assert_eq!(done["receipt"]["http_requests"], 1, "{done}");
    assert_eq!(
        done["receipt"]["secrets_read"],
        json!(["api_token"]),
        "{done}"
    );
    if done["status"] == "failed" {
        let message = done["error"]["message"].as_str().unwrap();
        assert!(message.contains("request to api.example.com"), "{message}");
        assert!(!message.contains("denied"), "{message}");
    }
}
