//! The agent and browser front ends against REST, on a real `jobhost serve`:
//! an MCP `tools/call` of a trivial job type (create, run, wait for the
//! result) against the REST calls doing the same (POST /jobs, POST
//! /job-runs, follow the run's event stream to its end), and `tools/list`
//! against `GET /jobs/schemas`, alternating in one client process (the
//! official Python MCP client and httpx); then cold loads of the web UI in
//! headless Chromium, timed inside the page.
//!
//! `cargo bench -p jobhost --bench front_ends [-- --rounds 200 --loads 20]`

mod common;

#[path = "../../tests/integration/python.rs"]
mod python;

use serde_json::Value;
use std::path::Path;

/// Chromium and its driver where Debian puts them.
const BROWSER_ENV: [(&str, &str); 2] = [
    ("JOBHOST_CHROMIUM", "/usr/bin/chromium"),
    ("JOBHOST_CHROMEDRIVER", "/usr/bin/chromedriver"),
];

fn median(samples: &Value) -> f64 {
    let mut v: Vec<f64> = samples
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds = common::arg("--rounds", 200);
    let loads = common::arg("--loads", 20);
    let Some(python) = python::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = common::token(dir.path());
    let (server, _) = common::serve_with(dir.path(), &["--job-create-rate", "0"]);
    let api = server.1.clone();
    let base = api.trim_end_matches("/api/v1").to_string();

    let m = python::scenario(
        &python,
        "tests/mcp/bench.py",
        &[&api, &token, &rounds.to_string()],
        &[],
    );
    println!(
        "MCP against REST, {rounds} rounds each, alternating, one client (protocol {}):",
        m["protocol_version"].as_str().unwrap_or("?")
    );
    let row = |what: &str, rest: &str, mcp: &str| {
        let (r, c) = (&m[rest], &m[mcp]);
        let (rm, cm) = (
            r["median_ms"].as_f64().unwrap(),
            c["median_ms"].as_f64().unwrap(),
        );
        println!(
            "  {what:<34} REST median {rm:>7.2} ms (p90 {:>7.2})   MCP median {cm:>7.2} ms (p90 {:>7.2})   MCP/REST {:.2}",
            r["p90_ms"].as_f64().unwrap(),
            c["p90_ms"].as_f64().unwrap(),
            cm / rm
        );
    };
    row("list job types / tools", "rest_schemas", "mcp_list_tools");
    row(
        "create + run text_stats to the end",
        "rest_create_run_follow",
        "mcp_call_tool",
    );

    if !(Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists()) {
        println!("web UI: skipped (no /usr/bin/chromium or /usr/bin/chromedriver)");
        return;
    }
    let shots = tempfile::tempdir().unwrap();
    let ui = python::scenario(
        &python,
        "tests/ui/browser.py",
        &[
            "first_load",
            &base,
            &token,
            shots.path().to_str().unwrap(),
            &loads.to_string(),
        ],
        &BROWSER_ENV,
    );
    println!(
        "web UI, {loads} cold loads (cache disabled), timed in the page: {} bytes of UI files; \
         DOMContentLoaded median {:.1} ms, load median {:.1} ms; sign-in to catalog drawn median {:.1} ms",
        ui["bytes"][0],
        median(&ui["dom_content_loaded_ms"]),
        median(&ui["load_ms"]),
        median(&ui["sign_in_to_catalog_ms"]),
    );
    drop(server);
}
