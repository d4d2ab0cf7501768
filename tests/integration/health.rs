//! First-day clarity: health endpoints without a token, and logs written to
//! a pipe without colour codes.

use crate::server::Server;
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn liveness_and_readiness_need_no_token() {
    let s = Server::start();
    let r = reqwest::blocking::get(format!("{}/healthz", s.base)).unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::blocking::get(format!("{}/readyz", s.base)).unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["workers"], json!({"up": 2, "started": 2}));
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .expect("the server says where it listens")
        .unwrap()
        .starts_with("jobhost listening on")
    {}
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(err.contains("INFO"), "something was logged: {err}");
    assert!(!err.contains('\u{1b}'), "no escape codes: {err:?}");
}
