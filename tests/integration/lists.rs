//! List and read options from the seeds: `order=asc|desc` on both lists
//! (with cursors in either direction), `active=true` on run lists, and
//! `GET /jobs/{id}?include_runs=N`.

use crate::app::App;
use serde_json::{Value, json};
use std::time::Duration;

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uuid"].as_str().unwrap().to_string())
        .collect()
}

/// Every id of a list, following cursors with pages of 2.
fn walk(api: &crate::server::Api, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = api.get(&url);
        assert_eq!(r.status, 200, "{}", r.body);
        out.extend(ids(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Occupies the only worker with a run that runs until cancelled; returns its id.
fn occupy(api: &crate::server::Api) -> String {
    let long = api.job(
        "prime_sieve",
        json!({"limit": 1_000_000_000_000u64, "segment_size": 65536}),
    );
    let run = api.trigger(&long, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
    run
}

#[test]
fn lists_run_oldest_or_newest_first_across_pages() {
    let app = App::start(&["--workers", "1"]);
    let api = app.api(&app.user);
    let jobs: Vec<String> = (0..5)
        .map(|i| api.job("text_stats", json!({"text": format!("job {i}")})))
        .collect();
    assert_eq!(walk(&api, "/jobs?order=asc"), jobs);
    let mut newest_first = jobs.clone();
    newest_first.reverse();
    assert_eq!(walk(&api, "/jobs?order=desc"), newest_first);
    assert_eq!(walk(&api, "/jobs"), newest_first, "desc is the default");

    let busy = occupy(&api);
    let runs: Vec<String> = (0..5).map(|_| api.trigger(&jobs[0], None)).collect();
    let mut all = vec![busy.clone()];
    all.extend(runs.iter().cloned());
    assert_eq!(walk(&api, "/job-runs?order=asc"), all);
    // Several index prefixes merged: two statuses.
    let path = "/job-runs?order=asc&statuses=pending&statuses=cancelled";
    let r = api.post(&format!("/job-runs/{}/cancel", runs[2]), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(walk(&api, path), runs);
    api.post(&format!("/job-runs/{busy}/cancel"), &json!({}));
    let r = api.get("/job-runs?order=sideways");
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("order"),
        "{}",
        r.body
    );
}

#[test]
fn active_runs_are_pending_running_or_paused() {
    let app = App::start(&["--workers", "1"]);
    let api = app.api(&app.user);
    let busy = occupy(&api);
    let job = api.job("text_stats", json!({"text": "a"}));
    let (kept, cancelled) = (api.trigger(&job, None), api.trigger(&job, None));
    let r = api.post(&format!("/job-runs/{cancelled}/cancel"), &json!({}));
    assert_eq!(r.status, 200);
    let r = api.get("/job-runs?active=true");
    assert_eq!(ids(&r.body), vec![kept.clone(), busy.clone()]);
    let r = api.get("/job-runs?active=false");
    assert_eq!(
        ids(&r.body),
        vec![cancelled.clone(), kept.clone(), busy.clone()]
    );
    let r = api.get("/job-runs?active=true&statuses=pending&statuses=cancelled");
    assert_eq!(
        ids(&r.body),
        vec![kept],
        "active narrows the statuses given"
    );
    let r = api.get("/job-runs?active=true&statuses=cancelled");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api.get("/job-runs?active=yes");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["parameter"], "active");
    api.post(&format!("/job-runs/{busy}/cancel"), &json!({}));
}

#[test]
fn a_job_can_be_read_with_its_newest_runs() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let plain = api.get(&format!("/jobs/{job}"));
    assert_eq!(plain.status, 200);
    assert!(plain.body.get("runs").is_none(), "{}", plain.body);
    let runs: Vec<String> = (0..3).map(|_| api.trigger(&job, None)).collect();
    let r = api.get(&format!("/jobs/{job}?include_runs=2"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["uuid"], job.as_str());
    let got: Vec<&str> = r.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str_uuid())
        .collect();
    assert_eq!(got, vec![runs[2].as_str(), runs[1].as_str()]);
    assert!(
        r.body["runs"][0]["timing"].is_object(),
        "runs are served as runs"
    );
    for bad in [
        "include_runs=101",
        "include_runs=-1",
        "include_runs=x",
        "include=1",
    ] {
        let r = api.get(&format!("/jobs/{job}?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}

trait Uuid {
    fn as_str_uuid(&self) -> &str;
}

impl Uuid for Value {
    fn as_str_uuid(&self) -> &str {
        self["uuid"].as_str().unwrap()
    }
}
