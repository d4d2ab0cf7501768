//! Retries with backoff: a job's policy over its job type's over the
//! host's, the attempts kept on the run, `next_attempt_at` while it waits,
//! which failures are retried, a cancel during the wait, and one attempt
//! ceiling shared with the retries after a host stops.

use crate::app::App;
use crate::support::HOSTILE;
use serde_json::{Value, json};
use std::time::Duration;

fn ts(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

fn hostile_job(api: &crate::server::Api, config: Value, retry: Value) -> String {
    let r = api.post(
        "/jobs",
        &json!({"job_type": "hostile", "config": config, "retry": retry}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["uuid"].as_str().unwrap().to_string()
}

#[test]
fn failed_attempts_are_retried_with_growing_delays_until_one_succeeds() {
    let app = App::start_with(&[HOSTILE], &[]);
    let api = app.api(&app.user);
    let retry = json!({"max_attempts": 4, "initial_delay_ms": 150, "multiplier": 2.0, "max_delay_ms": 1000, "jitter": 0});
    let job = hostile_job(&api, json!({"attack": "flaky", "size": 2}), retry.clone());
    assert_eq!(
        api.get(&format!("/jobs/{job}")).body["retry"]["max_attempts"],
        4
    );
    let run = api.trigger(&job, None);
    let waiting = api.wait_run(&run, Duration::from_secs(30), |r| {
        r["status"] == "pending" && r["attempt"] == 2
    });
    assert!(waiting["next_attempt_at"].is_string(), "{waiting}");
    assert_eq!(waiting["error"], Value::Null);
    assert_eq!(waiting["attempts"][0]["error"]["type"], "job_failed");
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"ok": true, "attempt": 3}));
    assert_eq!(done["attempt"], 3);
    assert_eq!(done["next_attempt_at"], Value::Null);
    let attempts = done["attempts"].as_array().unwrap();
    let summary: Vec<(u64, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![(1, "failed"), (2, "failed"), (3, "completed")]
    );
    assert!(
        attempts[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attempt 2")
    );
    // Each wait is at least the policy's delay: 150 ms, then 300 ms.
    for (i, least) in [(1, 150), (2, 300)] {
        let gap = ts(&attempts[i]["started_at"]) - ts(&attempts[i - 1]["finished_at"]);
        assert!(
            gap >= time::Duration::milliseconds(least),
            "attempt {i}: {gap}"
        );
    }
    assert_eq!(
        done["retry"],
        json!({
            "max_attempts": 4, "initial_delay_ms": 150, "multiplier": 2.0,
            "max_delay_ms": 1000, "jitter": 0.0, "retry_on": ["job_failed", "plugin_trapped", "timeout"]
        })
    );
}

#[test]
fn the_last_attempt_fails_the_run_and_some_failures_are_not_retried() {
    let app = App::start_with(&[HOSTILE], &[]);
    let api = app.api(&app.user);
    let quick = json!({"max_attempts": 3, "initial_delay_ms": 10, "max_delay_ms": 10});
    let job = hostile_job(&api, json!({"attack": "flaky", "size": 5}), quick.clone());
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(
        (done["status"].as_str(), done["attempt"].as_u64()),
        (Some("failed"), Some(3))
    );
    assert_eq!(done["error"]["type"], "job_failed");
    assert_eq!(done["attempts"].as_array().unwrap().len(), 3);

    // A memory limit would repeat: not retried unless the policy says so.
    let job = hostile_job(&api, json!({"attack": "memory"}), quick.clone());
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(
        (done["error"]["limit"].as_str(), done["attempt"].as_u64()),
        (Some("memory"), Some(1))
    );
    let mut memory_too = quick.clone();
    memory_too["retry_on"] = json!(["memory"]);
    let job = hostile_job(&api, json!({"attack": "memory"}), memory_too);
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(
        (done["error"]["limit"].as_str(), done["attempt"].as_u64()),
        (Some("memory"), Some(3))
    );

    // No policy on the job and none declared by the job type: the host's,
    // which retries no failure.
    let r = api.post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "panic"}}),
    );
    let job = r.body["uuid"].as_str().unwrap().to_string();
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(
        (done["error"]["type"].as_str(), done["attempt"].as_u64()),
        (Some("plugin_trapped"), Some(1))
    );
    assert_eq!(done["retry"]["retry_on"], json!([]));
    assert_eq!(done["retry"]["max_attempts"], 3);
}

#[test]
fn a_cancel_during_the_wait_ends_the_run() {
    let app = App::start_with(&[HOSTILE], &[]);
    let api = app.api(&app.user);
    let slow = json!({"max_attempts": 5, "initial_delay_ms": 60000, "max_delay_ms": 60000});
    let job = hostile_job(&api, json!({"attack": "flaky", "size": 5}), slow);
    let run = api.trigger(&job, None);
    let waiting = api.wait_run(&run, Duration::from_secs(30), |r| r["attempt"] == 2);
    assert_eq!(waiting["status"], "pending");
    let due = ts(&waiting["next_attempt_at"]) - ts(&waiting["attempts"][0]["finished_at"]);
    assert!(
        due >= time::Duration::seconds(53) && due <= time::Duration::seconds(67),
        "{due}"
    );
    assert_eq!(api.get("/job-runs?active=true").body["count"], 1);
    let r = api.post(&format!("/job-runs/{run}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let done = api.get(&format!("/job-runs/{run}")).body;
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["next_attempt_at"], Value::Null);
    assert_eq!(done["attempts"].as_array().unwrap().len(), 1);
}

#[test]
fn retry_policies_are_validated() {
    let app = App::start_with(&[HOSTILE], &[]);
    let api = app.api(&app.user);
    let create = |retry: Value| {
        api.post(
            "/jobs",
            &json!({"job_type": "hostile", "config": {"attack": "none"}, "retry": retry}),
        )
    };
    for bad in [
        json!({"max_attempts": 0}),
        json!({"max_attempts": 101}),
        json!({"max_attempts": 2, "multiplier": 0.5}),
        json!({"max_attempts": 2, "jitter": 2}),
        json!({"max_attempts": 2, "initial_delay_ms": 5000, "max_delay_ms": 100}),
    ] {
        let r = create(bad.clone());
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(
            r.body["error"]["details"]["violations"][0]["pointer"],
            "/retry"
        );
    }
    for malformed in [
        json!({"max_attempts": 2, "retry_on": ["cancelled"]}),
        json!({}),
        json!({"max_attempts": 2, "colour": 1}),
    ] {
        let r = create(malformed.clone());
        assert_eq!(r.status, 400, "{malformed}: {}", r.body);
    }
    // PATCH sets and removes the job's policy.
    let job = create(json!({"max_attempts": 2})).body["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api.patch(
        &format!("/jobs/{job}"),
        &json!({"retry": {"max_attempts": 7}}),
    );
    assert_eq!(
        (r.status, r.body["retry"]["max_attempts"].as_u64()),
        (200, Some(7))
    );
    let r = api.patch(&format!("/jobs/{job}"), &json!({"retry": null}));
    assert_eq!((r.status, &r.body["retry"]), (200, &Value::Null));
    let r = api.patch(
        &format!("/jobs/{job}"),
        &json!({"retry": {"max_attempts": 0}}),
    );
    assert_eq!(r.status, 422);
}

#[test]
fn a_job_type_declares_its_default_policy() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let schemas = api.get("/jobs/schemas?job_types=http_request").body;
    let http = schemas
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["job_type"] == "http_request")
        .unwrap()
        .clone();
    let declared = json!({
        "max_attempts": 3, "initial_delay_ms": 1000, "multiplier": 2.0, "max_delay_ms": 30000,
        "jitter": 0.1, "retry_on": ["job_failed", "plugin_trapped", "timeout"]
    });
    assert_eq!(http["retry"], declared, "{http}");
    // No destination is granted here: each attempt fails, and the run waits
    // about a second for its second.
    let job = api.job("http_request", json!({"url": "https://api.example.test/"}));
    let run = api.trigger(&job, None);
    let waiting = api.wait_run(&run, Duration::from_secs(30), |r| r["attempt"] == 2);
    assert_eq!(waiting["retry"], declared);
    let due = ts(&waiting["next_attempt_at"]) - ts(&waiting["attempts"][0]["finished_at"]);
    assert!(
        due >= time::Duration::milliseconds(900) && due <= time::Duration::milliseconds(1100),
        "{due}"
    );
    assert!(
        waiting["attempts"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("denied"),
        "{waiting}"
    );
    api.post(&format!("/job-runs/{run}/cancel"), &json!({}));
}
