//! Server-Sent Events over HTTP: one run's stream from its state to its end,
//! with progress as it happens; the tenant stream resumed after a forced
//! disconnect with `Last-Event-ID`, missing nothing; tenant isolation.

use crate::server::{Api, Server};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// One SSE event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// An open event stream.
pub struct Stream {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

impl Stream {
    pub fn open(api: &Api, path: &str, last_id: Option<u64>) -> Stream {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let mut req = client
            .get(format!("{}{path}", api.base))
            .bearer_auth(&api.token);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Stream {
            lines: BufReader::new(r).lines(),
        }
    }

    /// The next event, or `None` when the server ended the stream.
    pub fn next(&mut self) -> Option<Sse> {
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        loop {
            let line = self.lines.next()?.unwrap();
            if line.is_empty() {
                if event.is_empty() && data.is_empty() {
                    continue; // a keep-alive comment ended
                }
                return Some(Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().parse().unwrap());
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }
}

#[test]
fn a_runs_stream_shows_progress_as_it_happens_and_ends_with_the_run() {
    let s = Server::start();
    let api = s.api(&s.user);
    let job = api.job("prime_sieve", json!({"limit": 300_000_000u64}));
    let run = api.trigger(&job, None);
    let mut stream = Stream::open(&api, &format!("/job-runs/{run}/events"), None);
    let first = stream.next().unwrap();
    assert_eq!(first.event, "job_run.snapshot");
    assert_eq!(first.data["run_id"], run);

    let mut progress = Vec::new();
    let mut statuses = Vec::new();
    while let Some(e) = stream.next() {
        assert_eq!(e.data["run_id"], run, "{e:?}");
        match e.event.as_str() {
            "job_run.progress" => progress.push(e.data["data"]["progress"].as_u64().unwrap()),
            "job_run.status_changed" => {
                statuses.push(e.data["data"]["status"].as_str().unwrap().to_string());
            }
            other => panic!("unexpected event {other}"),
        }
    }
    // The stream ended by itself, after the terminal status.
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("completed"),
        "{statuses:?}"
    );
    assert!(progress.len() >= 3, "progress as it happened: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(
        progress.iter().any(|p| (1..100).contains(p)),
        "{progress:?}"
    );
    let stored = api.get(&format!("/job-runs/{run}")).body;
    assert_eq!(stored["progress"], 100);

    // A finished run's stream is its snapshot alone.
    let mut again = Stream::open(&api, &format!("/job-runs/{run}/events"), None);
    let only = again.next().unwrap();
    assert_eq!(only.data["data"]["status"], "completed");
    assert!(again.next().is_none());
    let other = s.api(&s.other_tenant);
    let r = other.get(&format!("/job-runs/{run}/events"));
    assert_eq!(r.status, 404);
}

#[test]
fn the_tenant_stream_resumes_after_a_disconnect_without_missing_events() {
    let s = Server::start();
    let api = s.api(&s.user);
    let mut stream = Stream::open(&api, "/events", None);
    let job = api.job("text_stats", json!({"text": "one two"}));
    let created = stream.next().unwrap();
    assert_eq!(created.event, "job.created");
    assert_eq!(created.data["job_id"], job);

    let mut seen = vec![created.clone()];
    let first = api.trigger(&job, None);
    api.wait_done(&first);
    while seen.len() < 4 {
        seen.push(stream.next().unwrap());
    }
    // Forced disconnect; meanwhile more happens.
    drop(stream);
    let last = seen.last().unwrap().id.unwrap();
    let mut runs = vec![first];
    for _ in 0..3 {
        let r = api.trigger(&job, None);
        api.wait_done(&r);
        runs.push(r);
    }
    let r = api.patch(&format!("/jobs/{job}"), &json!({"name": "renamed"}));
    assert_eq!(r.status, 200);

    let mut resumed = Stream::open(&api, "/events", Some(last));
    loop {
        let e = resumed.next().unwrap();
        let end = e.event == "job.updated";
        seen.push(e);
        if end {
            break;
        }
    }
    let ids: Vec<u64> = seen.iter().map(|e| e.id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "every event once, in order: {ids:?}"
    );
    for run in &runs {
        let statuses: Vec<&str> = seen
            .iter()
            .filter(|e| e.event == "job_run.status_changed" && e.data["run_id"] == *run)
            .map(|e| e.data["data"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["pending", "running", "completed"], "{run}");
    }

    // Filters, and another tenant sees none of it.
    let mut only_updates = Stream::open(
        &api,
        &format!("/events?types=job.updated&after={}", ids[0] - 1),
        None,
    );
    assert_eq!(only_updates.next().unwrap().event, "job.updated");
    let other = s.api(&s.other_tenant);
    let mut theirs = Stream::open(&other, &format!("/events?after={}", ids[0] - 1), None);
    let job2 = other.job("text_stats", json!({"text": "theirs"}));
    let e = theirs.next().unwrap();
    assert_eq!(
        (e.event.as_str(), &e.data["job_id"]),
        ("job.created", &json!(job2))
    );
    assert_eq!(api.get("/events?after=x").status, 400);
}

#[test]
fn open_streams_do_not_hold_up_a_shutdown() {
    let mut s = Server::start();
    let api = s.api(&s.user);
    let mut stream = Stream::open(&api, "/events", None);
    let started = std::time::Instant::now();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(stream.next().is_none(), "the stream ended");
}
