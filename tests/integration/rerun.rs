//! `POST /job-runs/{id}/rerun`: a new run of a finished run's job, from its
//! config with validated overrides, on its version, recording `rerun_of`,
//! honouring `expected_updated_at`.

use crate::app::App;
use serde_json::json;

#[test]
fn a_finished_run_is_rerun_with_its_config_and_version() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "one two two", "top_n": 1}));
    let first = api.wait_done(&api.trigger(&job, Some(json!({"text": "a b"}))));
    assert_eq!(first["trigger"], "api");
    assert_eq!(first["rerun_of"], json!(null));
    let id = first["uuid"].as_str().unwrap();

    let r = api.send("post", &format!("/job-runs/{id}/rerun"), None);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["trigger"], "rerun");
    assert_eq!(r.body["rerun_of"], id);
    assert_eq!(r.body["job_id"], job.as_str());
    assert_eq!(r.body["job_type_version"], first["job_type_version"]);
    assert_eq!(
        r.body["config"], first["config"],
        "the first run's config, overrides included"
    );
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/job-runs/{}", r.body["uuid"].as_str().unwrap()).as_str())
    );
    let again = api.wait_done(r.body["uuid"].as_str().unwrap());
    assert_eq!(again["output"], first["output"]);

    let r = api.post(
        &format!("/job-runs/{id}/rerun"),
        &json!({"config": {"text": "x y z"}, "priority": 7}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["config"]["text"], "x y z");
    assert_eq!(r.body["config"]["top_n"], 1);
    assert_eq!(r.body["priority"], 7);
    assert_eq!(
        api.wait_done(r.body["uuid"].as_str().unwrap())["output"]["words"],
        3
    );
}

#[test]
fn reruns_are_validated() {
    let app = App::start(&["--workers", "1"]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let done = api.wait_done(&api.trigger(&job, None));
    let id = done["uuid"].as_str().unwrap();
    let rerun = |body: serde_json::Value| api.post(&format!("/job-runs/{id}/rerun"), &body);

    let r = rerun(json!({"config": {"top_n": -4}}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"]["violations"][0]["pointer"],
        "/top_n"
    );
    let r = rerun(json!({"config": [1]}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = rerun(json!({"job_type_version": "^99"}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "unknown_job_type_version");
    let r = rerun(json!({"job_type_version": "*"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = rerun(json!({"priority": 5000}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = rerun(json!({"colour": "blue"}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api.post_bytes(
        &format!("/job-runs/{id}/rerun"),
        "application/json",
        b"[]".to_vec(),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Optimistic concurrency on the job.
    let current = api.get(&format!("/jobs/{job}")).body["created_at"].clone();
    let r = rerun(json!({"expected_updated_at": "2020-01-01T00:00:00Z"}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "stale_update");
    let r = rerun(json!({"expected_updated_at": current}));
    assert_eq!(r.status, 201, "{}", r.body);

    // Only finished runs, only the caller's tenant's.
    let long = api.job(
        "prime_sieve",
        json!({"limit": 1_000_000_000_000u64, "segment_size": 65536}),
    );
    let running = api.trigger(&long, None);
    let r = api.send("post", &format!("/job-runs/{running}/rerun"), None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "run_not_finished");
    assert_eq!(r.body["error"]["details"]["job_run_id"], running.as_str());
    api.post(&format!("/job-runs/{running}/cancel"), &json!({}));
    let eve = app.api(&app.other_tenant);
    let r = eve.send("post", &format!("/job-runs/{id}/rerun"), None);
    assert_eq!(r.status, 404, "{}", r.body);

    // Not once the job is deleted.
    assert_eq!(
        api.delete(&format!("/jobs/{job}?cancel_runs=true")).status,
        200
    );
    let r = rerun(json!({}));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("job_deleted"))
    );
}
