//! Components built against `jobhost:plugin@0.1.0` keep loading and running
//! on a host that links 0.2.0 beside it: the two binaries kept in
//! `tests/fixtures/contract-0.1.0/` were built by the 0.1.0 SDK.

use crate::server::Server;
use serde_json::json;
use std::time::Duration;

const V1_TEXT_STATS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/contract-0.1.0/text_stats.wasm"
);
const V1_PRIME_SIEVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/contract-0.1.0/prime_sieve.wasm"
);

#[test]
fn components_built_against_0_1_0_load_run_report_progress_and_cancel() {
    let server = Server::start_args(&[V1_TEXT_STATS, V1_PRIME_SIEVE], &["--no-bundled"]);
    let api = server.api(&server.user);

    let schemas = api.get("/jobs/schemas");
    assert_eq!(schemas.status, 200);
    let types = schemas.body.as_array().unwrap();
    assert_eq!(types.len(), 2, "{}", schemas.body);
    for t in types {
        assert_eq!(t["contract"], "0.1.0", "{t}");
        assert_eq!(t["approval"]["state"], "not_required", "{t}");
        assert_eq!(t["capabilities"]["http"]["kind"], "none", "{t}");
        assert_eq!(t["retry"], json!(null), "{t}");
    }

    let job = api.job("text_stats", json!({"text": "one two two", "top_n": 1}));
    let run = api.trigger(&job, None);
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["words"], 3, "{done}");
    assert_eq!(done["output"]["top_words"][0]["word"], "two", "{done}");
    assert_eq!(done["receipt"]["http_requests"], 0, "{done}");
    let logs = api.get(&format!("/job-runs/{run}/logs"));
    assert!(logs.body.to_string().contains("analysing"), "{}", logs.body);

    // Progress and a cancellation through the 0.1.0 host imports.
    let job = api.job("prime_sieve", json!({"limit": 2_000_000_000u64}));
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |b| {
        b["status"] == "running" && b["progress"].as_u64().unwrap_or(0) > 0
    });
    let cancel = api.post(&format!("/job-runs/{run}/cancel"), &json!({}));
    assert!(
        cancel.status == 200 || cancel.status == 202,
        "{}",
        cancel.body
    );
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "cancelled", "{done}");
}
