//! Open event streams cost nothing to writes they do not concern: with
//! 2,000 streams open by one tenant, another tenant's `POST /job-runs`
//! keeps its latency; and open streams are capped per token and per tenant.

use crate::server::Server;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Opens `GET path` as an event stream and reads the answer's head: the
/// status code, and the connection (kept open) when it is 200.
fn open(s: &Server, token: &str, path: &str) -> (u16, Option<TcpStream>, String) {
    let mut c = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status: u16 = head[9..12].parse().unwrap();
    if status == 200 {
        return (status, Some(c), head);
    }
    // The error body, in the error shape.
    let mut body = vec![0u8; 4096];
    let n = c.read(&mut body).unwrap_or(0);
    (
        status,
        None,
        String::from_utf8_lossy(&body[..n]).into_owned(),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median latency of `n` triggers of `job` by `api`.
fn trigger_latency(api: &crate::server::Api, job: &str, n: usize) -> Duration {
    let times = (0..n)
        .map(|_| {
            let started = Instant::now();
            let r = api.post("/job-runs", &json!({"job_id": job}));
            assert_eq!(r.status, 201, "{}", r.body);
            started.elapsed()
        })
        .collect();
    median(times)
}

#[test]
fn thousands_of_idle_streams_do_not_slow_another_tenants_writes() {
    let s = Server::start_args(
        &[],
        &[
            "--max-streams-per-token",
            "2000",
            "--max-streams-per-tenant",
            "2000",
        ],
    );
    let other = s.api(&s.other_tenant);
    let job = other.job("text_stats", json!({"text": "a b c"}));
    trigger_latency(&other, &job, 20); // warm up
    let alone = trigger_latency(&other, &job, 150);

    let streams: Vec<TcpStream> = (0..2000)
        .map(|i| match open(&s, &s.user, "/api/v1/events") {
            (200, Some(c), _) => c,
            (status, _, body) => panic!("stream {i}: {status} {body}"),
        })
        .collect();
    // The tenant's cap is reached: the next one is refused, naming it.
    let (status, _, body) = open(&s, &s.admin, "/api/v1/events");
    assert_eq!(status, 429, "{body}");
    let body: Value = serde_json::from_str(body.split("\r\n\r\n").last().unwrap_or(&body))
        .unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(
        body["error"]["details"]["limit"]["name"], "event_streams_per_tenant",
        "{body}"
    );
    let beside = trigger_latency(&other, &job, 150);
    drop(streams);
    assert!(
        beside <= alone * 2,
        "median POST /job-runs {beside:?} with 2,000 streams of another tenant open, {alone:?} with none"
    );
    eprintln!("median POST /job-runs: {alone:?} alone, {beside:?} beside 2,000 idle streams");
}

#[test]
fn streams_are_capped_per_token_and_their_filters_checked() {
    let s = Server::start_args(&[], &["--max-streams-per-token", "2"]);
    let kept: Vec<TcpStream> = (0..2)
        .map(|_| open(&s, &s.user, "/api/v1/events").1.unwrap())
        .collect();
    let (status, _, body) = open(&s, &s.user, "/api/v1/events");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("event_streams_per_token"), "{body}");
    // Another token of the same tenant is not held back.
    assert_eq!(open(&s, &s.admin, "/api/v1/events").0, 200);
    drop(kept);

    let api = s.api(&s.admin);
    for (query, names) in [
        ("types=job_run.finished", "types"),
        ("types=job.created&types=nope", "types"),
        ("job_id=42", "job_id"),
        ("run_id=not-a-uuid", "run_id"),
        ("job_types=Text%20Stats", "job_types"),
    ] {
        let r = api.get(&format!("/events?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{names}`")),
            "{query}: {}",
            r.body
        );
    }
    let (status, _, _) = open(
        &s,
        &s.admin,
        "/api/v1/events?types=job.created&types=job_run.status_changed&job_types=text_stats",
    );
    assert_eq!(status, 200);
}
