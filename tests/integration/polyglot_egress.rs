//! Outbound HTTP from Python (`ctx.http`, over `wasi:http`) and JavaScript
//! (`fetch`) job types: granted destinations answer, declared but ungranted
//! ones are refused before anything reaches the network, and the host's caps
//! and cancel hold while a Python run waits on a response.

use crate::origin::Origin;
use crate::server::Server;
use jobhost_test_support::wasm::{HOSTILE_JS, HOSTILE_PY};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A server with `job_type`'s `http://api.example.test` granted and resolved
/// to `origin`; `denied.example.test` is declared by the fixtures, never granted.
fn start(
    origin: &Origin,
    job_type: &str,
    wasm: &str,
    extra: &[&str],
) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let grants = dir.path().join("grants.json");
    std::fs::write(
        &grants,
        json!({format!("{job_type}@0.1.0"): {"http": ["http://api.example.test"]}}).to_string(),
    )
    .unwrap();
    let at = format!("api.example.test:80=127.0.0.1:{}", origin.port);
    let mut args = vec![
        "--grants",
        grants.to_str().unwrap(),
        "--resolve",
        &at,
        "--resolve",
        "denied.example.test:80=127.0.0.1:1",
        "--http-allow-net",
        "127.0.0.1/32",
    ];
    args.extend_from_slice(extra);
    (Server::start_args(&[wasm], &args), dir)
}

/// A JavaScript `fetch` goes through the host's checked outbound HTTP: a
/// granted destination answers, a declared but ungranted one is refused
/// before any connection.
#[test]
fn javascript_fetch_reaches_granted_destinations_only() {
    let origin = Origin::start();
    let (s, _dir) = start(&origin, "hostile_js", HOSTILE_JS, &[]);
    let api = s.api(&s.user);
    let fetch = |url: &str| {
        let job = api.job("hostile_js", json!({"attack": "fetch", "url": url}));
        api.wait_done(&api.trigger(&job, None))
    };
    let done = fetch("http://api.example.test/ok");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["output"],
        json!({"status": 200, "body": {"ok": true, "items": [1, 2, 3]}})
    );
    assert_eq!(done["receipt"]["http_requests"], 1, "{done}");
    let seen = origin.seen().len();
    let done = fetch("http://denied.example.test/ok");
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["output"]["refused"].is_string(), "{done}");
    assert_eq!(origin.seen().len(), seen, "nothing reached the network");
}

/// `ctx.http` in Python: GET and POST with headers and a JSON body reach a
/// granted origin as sent; the host's response cap and a first-byte timeout
/// come back as typed errors; an ungranted destination is refused; a cancel
/// ends a run blocked on a response.
#[test]
fn python_http_reaches_granted_destinations_only_within_the_hosts_caps() {
    let origin = Origin::start();
    let (s, _dir) = start(
        &origin,
        "hostile_py",
        HOSTILE_PY,
        &["--http-max-response-bytes", "1048576"],
    );
    let api = s.api(&s.user);
    let fetch = |config: Value| {
        let mut config = config;
        config["attack"] = json!("fetch");
        let job = api.job("hostile_py", config);
        let done = api.wait_done(&api.trigger(&job, None));
        assert_eq!(done["status"], "completed", "{done}");
        done
    };

    // GET: status, headers and body come back.
    let done = fetch(json!({"url": "http://api.example.test/ok"}));
    assert_eq!(
        done["output"],
        json!({"status": 200, "type": "application/json", "body": {"ok": true, "items": [1, 2, 3]}})
    );
    assert_eq!(done["receipt"]["http_requests"], 1, "{done}");

    // POST with a JSON body and a header: the origin sees them as sent.
    let done = fetch(json!({
        "url": "http://api.example.test/echo?x=1",
        "method": "post",
        "payload": {"rows": [1, 2]},
    }));
    assert_eq!(
        done["output"]["body"],
        json!({
            "method": "POST",
            "path": "/echo?x=1",
            "authorization": "Bearer probe",
            "host": "api.example.test",
            "body": "{\"rows\":[1,2]}",
        }),
        "{done}"
    );
    let sent = origin.seen().pop().unwrap();
    assert_eq!(sent.header("content-type"), Some("application/json"));

    // The host's caps reach Python as typed errors.
    let done = fetch(json!({"url": "http://api.example.test/large"}));
    assert_eq!(done["output"]["kind"], "too-large", "{done}");
    assert!(done["receipt"]["http_bytes_in"].as_u64().unwrap() <= (1 << 20) + (512 << 10));
    let started = Instant::now();
    let done = fetch(json!({"url": "http://api.example.test/slow", "timeout_ms": 300}));
    assert_eq!(done["output"]["kind"], "timeout", "{done}");
    assert!(started.elapsed() < Duration::from_secs(8));

    // Declared but not granted: refused before connecting.
    let seen = origin.seen().len();
    let done = fetch(json!({"url": "http://denied.example.test/ok"}));
    assert_eq!(done["output"]["kind"], "denied", "{done}");
    let refused = done["output"]["refused"].as_str().unwrap();
    assert!(refused.contains("denied.example.test"), "{refused}");
    assert_eq!(origin.seen().len(), seen, "nothing reached the network");

    // A run blocked on a response is cancelled within the cancel latency.
    let job = api.job(
        "hostile_py",
        json!({"attack": "fetch", "url": "http://api.example.test/slow"}),
    );
    crate::egress::cancel_while_it_waits(&api, &job, Duration::from_secs(20));
}
