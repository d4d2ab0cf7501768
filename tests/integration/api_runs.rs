//! Job runs over real HTTP: trigger, follow, overrides, lists, priorities,
//! cancellation, limits, and recovery after SIGKILL.

use crate::server::Server;
use serde_json::json;
use std::time::{Duration, Instant};

const LONG: u64 = 1_000_000_000_000;

#[test]
fn a_run_goes_from_pending_to_completed() {
    let s = Server::start();
    let api = s.api(&s.user);
    let job = api.job("text_stats", json!({"text": "one two two"}));
    let r = api.post("/job-runs", &json!({"job_id": job}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["attempt"], 1);
    assert_eq!(r.body["output_references"], json!([]));
    let run = api.wait_done(r.body["uuid"].as_str().unwrap());
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["words"], 3);
    assert_eq!(run["progress"], 100);
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    assert!(run["receipt"]["peak_memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        run["job_name"],
        api.get(&format!("/jobs/{job}")).body["name"]
    );
    let latest = api.get(&format!("/jobs/{job}/latest-run"));
    assert_eq!((latest.status, &latest.body["uuid"]), (200, &run["uuid"]));
}

#[test]
fn overrides_are_merged_then_validated() {
    let s = Server::start();
    let api = s.api(&s.user);
    let job = api.job("text_stats", json!({"text": "a b c", "top_n": 1}));
    let run = api.trigger(&job, Some(json!({"text": "x y"})));
    let done = api.wait_done(&run);
    assert_eq!(
        done["config"],
        json!({"job_type": "text_stats", "text": "x y", "top_n": 1})
    );
    assert_eq!(done["output"]["words"], 2);
    let r = api.post(
        "/job-runs",
        &json!({"job_id": job, "config": {"top_n": -4}}),
    );
    assert_eq!(
        (
            r.status,
            r.body["error"]["details"]["violations"][0]["pointer"].as_str()
        ),
        (422, Some("/top_n"))
    );
    let r = api.post("/job-runs", &json!({"job_id": job, "config": [1]}));
    assert_eq!(r.status, 422);
    let r = api.post(
        "/job-runs",
        &json!({"job_id": "01a2055d-2626-70f2-bf11-e827060f2d43"}),
    );
    assert_eq!(r.status, 404);
    let r = api.post("/job-runs", &json!({}));
    assert_eq!(r.status, 400, "job_id is required");
}

#[test]
fn failures_carry_the_reason() {
    let s = Server::start_with(&[crate::support::HOSTILE]);
    let api = s.api(&s.user);
    let job = api.job("hostile", json!({"attack": "memory"}));
    let run = api.wait_done(&api.trigger(&job, None));
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["type"], "limit_exceeded");
    assert_eq!(run["error"]["limit"], "memory");
    assert_eq!(run["receipt"]["stopped_by"], "memory");
    let run = api.wait_done(&api.trigger(&job, Some(json!({"attack": "panic"}))));
    assert_eq!(run["error"]["type"], "plugin_trapped");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("panicked on purpose"),
        "{run}"
    );
    // The host keeps serving.
    let ok = api.job("text_stats", json!({"text": "fine"}));
    assert_eq!(
        api.wait_done(&api.trigger(&ok, None))["status"],
        "completed"
    );
}

#[test]
fn cancel_pending_and_running_runs() {
    let s = Server::start();
    let api = s.api(&s.user);
    let long = api.job("prime_sieve", json!({"limit": LONG, "segment_size": 65536}));
    // Two workers: two runs occupy them, the third waits.
    let busy: Vec<String> = (0..2).map(|_| api.trigger(&long, None)).collect();
    for b in &busy {
        api.wait_run(b, Duration::from_secs(30), |r| r["status"] == "running");
    }
    let waiting = api.trigger(&long, None);
    assert_eq!(
        api.get(&format!("/job-runs/{waiting}")).body["status"],
        "pending"
    );
    let r = api.post(&format!("/job-runs/{waiting}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"message": format!("Job run {waiting} cancelled"), "cancelled_count": 1})
    );
    assert_eq!(
        api.get(&format!("/job-runs/{waiting}")).body["status"],
        "cancelled"
    );

    let started = Instant::now();
    let r = api.post(&format!("/job-runs/{}/cancel", busy[0]), &json!({}));
    assert_eq!(r.body["cancelled_count"], 1);
    let run = api.get(&format!("/job-runs/{}", busy[0])).body;
    assert_eq!(
        run["status"], "cancelled",
        "the cancel call returns once the plugin stopped: {run}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(run["progress"].as_u64().unwrap() < 100);

    let r = api.post(&format!("/job-runs/{}/cancel", busy[0]), &json!({}));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("invalid_job_status_transition"))
    );
    assert_eq!(r.body["error"]["details"]["current_status"], "cancelled");
    api.post(&format!("/job-runs/{}/cancel", busy[1]), &json!({}));
    let cancelled = api.get("/job-runs?statuses=cancelled").body;
    assert_eq!(cancelled["count"], 3);
}

#[test]
fn higher_priority_runs_start_first() {
    let s = Server::start();
    let api = s.api(&s.user);
    let long = api.job("prime_sieve", json!({"limit": LONG, "segment_size": 65536}));
    let busy: Vec<String> = (0..2).map(|_| api.trigger(&long, None)).collect();
    for b in &busy {
        api.wait_run(b, Duration::from_secs(30), |r| r["status"] == "running");
    }
    let quick = api.job("text_stats", json!({"text": "q"}));
    let low = api
        .post("/job-runs", &json!({"job_id": quick, "priority": -5}))
        .body["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let high = api
        .post("/job-runs", &json!({"job_id": quick, "priority": 50}))
        .body["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        api.post("/job-runs", &json!({"job_id": quick, "priority": 5000}))
            .status,
        422
    );
    api.post(&format!("/job-runs/{}/cancel", busy[0]), &json!({}));
    let (low, high) = (api.wait_done(&low), api.wait_done(&high));
    assert!(
        high["started_at"].as_str() < low["started_at"].as_str(),
        "high {high} low {low}"
    );
    api.post(&format!("/job-runs/{}/cancel", busy[1]), &json!({}));
}

#[test]
fn list_runs_filters_and_pages() {
    let s = Server::start();
    let api = s.api(&s.user);
    let a = api.job("text_stats", json!({"text": "a"}));
    let b = api.job("json_select", json!({"document": [1, 2]}));
    let mut runs = Vec::new();
    for i in 0..6 {
        runs.push(api.trigger(if i < 4 { &a } else { &b }, None));
    }
    for r in &runs {
        api.wait_done(r);
    }
    assert_eq!(api.get(&format!("/job-runs?job_id={a}")).body["count"], 4);
    assert_eq!(api.get("/job-runs?job_types=json_select").body["count"], 2);
    assert_eq!(
        api.get("/job-runs?statuses=completed&statuses=failed").body["count"],
        6
    );
    assert_eq!(api.get("/job-runs?statuses=pending").body["count"], 0);
    assert_eq!(api.get("/job-runs?statuses=done").status, 400);
    let p1 = api.get("/job-runs?limit=4").body;
    let p2 = api
        .get(&format!(
            "/job-runs?limit=4&cursor={}",
            p1["next_cursor"].as_str().unwrap()
        ))
        .body;
    let mut seen: Vec<String> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|r| r["uuid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 6);
    seen.reverse();
    assert_eq!(seen, runs, "newest first, no gaps, no repeats");
    let first = api.get(&format!("/job-runs/{}", runs[0])).body;
    let after = api
        .get(&format!(
            "/job-runs?created_after={}",
            first["created_at"].as_str().unwrap()
        ))
        .body;
    assert_eq!(after["count"], 5);
}

#[test]
fn acknowledged_writes_survive_sigkill_and_interrupted_runs_resume() {
    let mut s = Server::start();
    let dir = s.take_dir().unwrap();
    let (token, api) = (s.user.clone(), s.api(&s.user));
    let job = api.job(
        "prime_sieve",
        json!({"limit": 2_000_000_000u64, "segment_size": 1_048_576, "checkpoint_every": 1}),
    );
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(60), |r| {
        r["progress"].as_u64().unwrap_or(0) >= 5
    });
    let acked = api.job(
        "text_stats",
        json!({"text": "acknowledged just before the crash"}),
    );
    s.kill();

    let s = Server::spawn(dir.path(), &[]);
    let api = s.api(&token);
    let r = api.get(&format!("/jobs/{acked}"));
    assert_eq!(r.status, 200, "an acknowledged job survives kill -9");
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 2);
    assert!(
        done["output"]["resumed_from"].as_u64().unwrap() > 0,
        "resumed from its checkpoint: {done}"
    );
    assert_eq!(done["output"]["prime_count"], 98_222_287);
    drop(dir);
}

#[test]
fn sigterm_lets_running_runs_finish() {
    let mut s = Server::start();
    let dir = s.take_dir().unwrap();
    let api = s.api(&s.user);
    let job = api.job(
        "prime_sieve",
        json!({"limit": 200_000_000u64, "segment_size": 1_048_576}),
    );
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
    assert!(s.terminate().success(), "a clean exit");
    let s2 = Server::spawn(dir.path(), &[]);
    let done = s2.api(&s.user).get(&format!("/job-runs/{run}")).body;
    assert_eq!(
        done["status"], "completed",
        "finished within the grace period: {done}"
    );
    assert_eq!(done["attempt"], 1);
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let mut s = Server::start();
    let dir = s.take_dir().unwrap();
    let token = s.user.clone();
    drop(s);
    let s = Server::spawn(dir.path(), &["--max-queued-runs", "1"]);
    let api = s.api(&token);
    let long = api.job("prime_sieve", json!({"limit": LONG, "segment_size": 65536}));
    // Two workers busy, one run waiting: the queue is full. Each busy run is
    // triggered only after the previous one left the queue (cap 1).
    let mut running = Vec::new();
    for _ in 0..2 {
        let r = api.trigger(&long, None);
        api.wait_run(&r, Duration::from_secs(30), |b| b["status"] == "running");
        running.push(r);
    }
    let waiting = api.trigger(&long, None);
    let r = api
        .client
        .post(format!("{}/job-runs", api.base))
        .bearer_auth(&token)
        .json(&json!({"job_id": long}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limited");
    // Cancelling the waiting run frees its place.
    let r = api.post(&format!("/job-runs/{waiting}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let runs = api.get("/job-runs?limit=100").body;
    let statuses: Vec<&str> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cancelled", "running", "running"], "{runs}");
    let again = api.trigger(&long, None);
    for id in running.iter().chain([&again]) {
        api.post(&format!("/job-runs/{id}/cancel"), &json!({}));
    }
}
