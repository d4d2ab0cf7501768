//! Hot reload of the plugins directory: files added, replaced, broken and
//! removed while the server runs; runs in flight keep their plugin.

use crate::plugins::v2;
use crate::server::{Api, Server};
use crate::support::{HOSTILE, VERSIONED};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes a file the way the docs ask: elsewhere, then renamed in.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!("{name}.partial"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events(api: &Api) -> Vec<Value> {
    api.get("/plugins/events?limit=1000").body["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn files_added_replaced_broken_and_removed_are_picked_up() {
    let s = Server::start_args(&[], &["--reload-interval-ms", "100"]);
    let api = s.api(&s.operator);
    let dir = s.data().join("plugins");

    put(&dir, "versioned.wasm", &std::fs::read(VERSIONED).unwrap());
    wait_until("1.1.1 loads", || {
        api.get("/plugins/versioned/1.1.1").status == 200
    });
    let job = api.job("versioned", json!({"size": 7}));

    put(&dir, "versioned.wasm", &v2());
    wait_until("2.2.2 replaces 1.1.1", || {
        api.get("/plugins/versioned/2.2.2").status == 200
            && api.get("/plugins/versioned/1.1.1").status == 404
    });
    let upgraded = api.patch(&format!("/jobs/{job}"), &json!({"job_type_version": "2"}));
    assert_eq!(upgraded.status, 200, "{}", upgraded.body);
    let run = api.trigger(&job, None);
    assert_eq!(api.wait_done(&run)["output"]["version"], "2.2.2");

    // A broken file is reported once and ignored; the rest keeps working.
    put(&dir, "broken.wasm", b"not a component");
    wait_until("the broken file is reported", || {
        events(&api).iter().any(|e| e["kind"] == "load_failed")
    });
    std::thread::sleep(Duration::from_millis(500));
    let failed: Vec<Value> = events(&api)
        .into_iter()
        .filter(|e| e["kind"] == "load_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("broken.wasm")
    );
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly binary")
    );
    assert_eq!(api.get("/plugins/versioned/2.2.2").status, 200);

    std::fs::remove_file(dir.join("versioned.wasm")).unwrap();
    wait_until("2.2.2 is unloaded", || {
        api.get("/plugins/versioned/2.2.2").status == 404
    });
    let r = api.post("/job-runs", &json!({"job_id": job}));
    assert_eq!(r.status, 409, "{}", r.body);

    let kinds: Vec<String> = events(&api)
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["loaded", "replaced", "load_failed", "removed"],
        "{kinds:?}"
    );
}

#[test]
fn a_run_in_flight_keeps_the_plugin_it_started_with() {
    let s = Server::start_args(&[HOSTILE], &["--reload-interval-ms", "100"]);
    let api = s.api(&s.operator);
    let job = api.job("hostile", json!({"attack": "wait_for_cancel"}));
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");

    std::fs::remove_file(s.data().join("plugins/0.wasm")).unwrap();
    wait_until("hostile is unloaded", || {
        api.get("/jobs/schemas?job_types=hostile").body == json!([])
    });
    assert_eq!(
        api.get(&format!("/job-runs/{run}")).body["status"],
        "running"
    );
    assert_eq!(
        api.post(&format!("/job-runs/{run}/cancel"), &json!({}))
            .status,
        200
    );
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "cancelled", "{done}");
}
