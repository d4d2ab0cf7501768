//! Uploads the host refuses with a reason: broken components, and a compile
//! bomb stopped at the compile cap while the API keeps answering.

use crate::plugins::{publish, run_output};
use crate::server::Server;
use crate::support::{BAD_SCHEMA, VERSIONED};
use serde_json::json;

#[test]
fn broken_uploads_are_refused_with_a_reason() {
    let s = Server::start_args(&[], &["--max-plugin-bytes", "3000000"]);
    let operator = s.api(&s.operator);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not wasm", b"#!/bin/sh\necho hello\n".to_vec(), "not_wasm"),
        (
            "a core module",
            wat::parse_str("(module (func (export \"run\")))").unwrap(),
            "core_module",
        ),
        (
            "another world",
            wat::parse_str(r#"(component (import "wasi:keyvalue/store@0.2.0-draft" (instance (export "open" (func)))))"#).unwrap(),
            "wrong_world",
        ),
        ("no exports", wat::parse_str("(component)").unwrap(), "missing_exports"),
        ("an invalid schema", std::fs::read(BAD_SCHEMA).unwrap(), "invalid_metadata"),
        (
            // One function of ~2.4 MB: over the per-function cap (2 MiB) that
            // bounds compilation.
            "a compile bomb",
            wat::parse_str(format!(
                "(component (core module (func {})))",
                "i32.const 1 drop ".repeat(800_000)
            ))
            .unwrap(),
            "code_too_large",
        ),
    ];
    for (what, bytes, reason) in cases {
        let r = publish(&operator, bytes);
        assert_eq!(r.status, 422, "{what}: {}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_plugin", "{what}");
        assert_eq!(
            r.body["error"]["details"]["reason"], reason,
            "{what}: {}",
            r.body
        );
    }
    let r = publish(&operator, vec![0u8; 3_500_000]);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["limit_bytes"], 3_000_000);
    let r = publish(&operator, Vec::new());
    assert_eq!(r.status, 400, "{}", r.body);
    let r = operator.post_bytes("/plugins", "text/plain", std::fs::read(VERSIONED).unwrap());
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/wasm")
    );

    // Nothing was registered, and the server still runs jobs.
    let list = operator.get("/plugins").body;
    // The bundled Python and JavaScript types are over this server's 3 MB
    // size cap, so 7 (the Rust ones) are loaded.
    assert_eq!(list["count"], 7, "{list}");
    assert_eq!(operator.get("/plugins/events").body["count"], 0);
    let job = operator.job("text_stats", json!({"text": "still here"}));
    assert_eq!(run_output(&operator, &job)["words"], 2);
}

#[test]
fn a_slow_compile_is_stopped_at_the_time_cap_without_holding_up_the_api() {
    // Sixteen functions of nested blocks, each just under the function
    // cap, take well over 5 s of CPU to compile on this machine kind; a
    // sound component takes ~0.1 s. A 5 s cap of the worker's CPU time stops
    // the bomb (however busy the machine, within the 10x wall-clock
    // backstop) and lets sound components through.
    let s = Server::start_args(&[], &["--compile-timeout-ms", "5000"]);
    let operator = s.api(&s.operator);
    let bomb = crate::components::compile_bomb();
    assert!(bomb.len() < 20 << 20, "under the size caps: {}", bomb.len());
    let reader = s.api(&s.user);
    let (answered, refused) = std::thread::scope(|scope| {
        let upload = scope.spawn(|| {
            let started = std::time::Instant::now();
            (publish(&operator, bomb), started.elapsed())
        });
        // The API keeps answering while the worker compiles.
        let mut answered = Vec::new();
        while !upload.is_finished() {
            let started = std::time::Instant::now();
            assert_eq!(reader.get("/jobs/schemas").status, 200);
            answered.push(started.elapsed());
        }
        (answered, upload.join().unwrap())
    });
    let (r, took) = refused;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"]["reason"], "compile_timeout",
        "{}",
        r.body
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5000 ms"),
        "{}",
        r.body
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CPU time"),
        "{}",
        r.body
    );
    // Stopped by the CPU cap, well before the wall-clock backstop (50 s).
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    assert!(!answered.is_empty());
    let slowest = answered.iter().max().unwrap();
    assert!(
        *slowest < std::time::Duration::from_secs(2),
        "a read waited {slowest:?} during the compile"
    );
    // Nothing was registered, and a sound upload compiles in the worker.
    assert_eq!(
        operator.get("/plugins").body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["origin"] == "published")
            .count(),
        0
    );
    let r = publish(&operator, std::fs::read(VERSIONED).unwrap());
    assert_eq!(r.status, 201, "{}", r.body);
}
