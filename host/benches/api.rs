//! End-to-end figures through REST: a real `jobhost serve` on 127.0.0.1 with
//! durable acknowledgement, a trivial `text_stats` job. Prints the latency
//! from POST /job-runs to `completed` (one client), then runs posted by 8
//! concurrent keep-alive clients that follow each to the end: runs/s and HDR
//! percentiles of accept (POST → 201, client clock), dispatch (created →
//! started) and completion (created → finished, server clock); and the
//! latency of GET /jobs/schemas and of a first page of GET /job-runs.
//! Run with `cargo bench -p jobhost --bench api` (`-- --runs N --clients C`).

mod common;

use hdrhistogram::Histogram;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn start(data: &std::path::Path) -> (common::Server, String, String) {
    let token = common::token(data);
    let (server, _) = common::serve(data);
    let base = server.1.clone();
    (server, base, token)
}

/// Posts a run and polls it to the end; returns the time from POST to seeing `completed`.
fn one_run(client: &Client, base: &str, token: &str, job: &str) -> Duration {
    let started = Instant::now();
    let run: Value = client
        .post(format!("{base}/job-runs"))
        .bearer_auth(token)
        .json(&json!({"job_id": job}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let url = format!(
        "{base}/job-runs/{}",
        run["uuid"].as_str().expect("201 with a uuid")
    );
    loop {
        let r: Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        match r["status"].as_str() {
            Some("completed") => return started.elapsed(),
            Some("pending" | "running") => std::thread::sleep(Duration::from_micros(200)),
            other => panic!("run ended {other:?}: {r}"),
        }
    }
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<46} n={:<5} median {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}",
        samples.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        samples[samples.len() - 1]
    );
}

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("timestamp"), &Rfc3339).unwrap()
}

fn micros(d: time::Duration) -> u64 {
    d.whole_microseconds().max(1) as u64
}

fn print_hist(name: &str, h: &Histogram<u64>) {
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "{name:<46} n={:<6} p50 {:>8.2}ms  p90 {:>8.2}ms  p99 {:>8.2}ms  max {:>8.2}ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}

/// Posts and follows runs; returns (accept, dispatch, completion) histograms in µs.
fn client(base: String, token: String, job: String, runs: usize) -> [Histogram<u64>; 3] {
    let client = Client::new();
    let mut h = [(); 3].map(|_| Histogram::<u64>::new(3).unwrap());
    for _ in 0..runs {
        let t = Instant::now();
        let r = client
            .post(format!("{base}/job-runs"))
            .bearer_auth(&token)
            .json(&json!({"job_id": job}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let run: Value = r.json().unwrap();
        h[0].record(t.elapsed().as_micros().max(1) as u64).unwrap();
        let url = format!("{base}/job-runs/{}", run["uuid"].as_str().unwrap());
        let done = loop {
            std::thread::sleep(Duration::from_millis(1));
            let r: Value = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .unwrap()
                .json()
                .unwrap();
            match r["status"].as_str() {
                Some("completed") => break r,
                Some("pending" | "running") => {}
                other => panic!("run ended {other:?}: {r}"),
            }
        };
        let created = ts(&done["created_at"]);
        h[1].record(micros(ts(&done["started_at"]) - created))
            .unwrap();
        h[2].record(micros(ts(&done["finished_at"]) - created))
            .unwrap();
    }
    h
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (runs, clients) = (common::arg("--runs", 2000), common::arg("--clients", 8));
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, token) = start(dir.path());
    let client_one = Client::new();
    let job: Value = client_one
        .post(format!("{base}/jobs"))
        .bearer_auth(&token)
        .json(&json!({"job_type": "text_stats", "config": {"text": "hi"}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let job = job["uuid"].as_str().unwrap().to_string();
    println!(
        "jobhost REST benchmark on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    for _ in 0..50 {
        one_run(&client_one, &base, &token, &job);
    }
    let samples: Vec<Duration> = (0..300)
        .map(|_| one_run(&client_one, &base, &token, &job))
        .collect();
    summary("POST /job-runs -> completed, 1 client", samples);

    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (base, token, job) = (base.clone(), token.clone(), job.clone());
            std::thread::spawn(move || client(base, token, job, runs / clients))
        })
        .collect();
    let mut total = [(); 3].map(|_| Histogram::<u64>::new(3).unwrap());
    for h in handles {
        for (t, part) in total.iter_mut().zip(h.join().unwrap()) {
            t.add(part).unwrap();
        }
    }
    let elapsed = started.elapsed();
    let n = total[0].len();
    println!(
        "{n} runs by {clients} clients in {elapsed:.2?}: {:.0} runs/s",
        n as f64 / elapsed.as_secs_f64()
    );
    print_hist("  accept (POST -> 201)", &total[0]);
    print_hist("  dispatch (created -> started)", &total[1]);
    print_hist("  completion (created -> finished)", &total[2]);

    // The same load without following: clients only post, then the
    // benchmark waits for the queue to drain. Separates the server's
    // capacity from the cost of the clients' polling.
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (base, token, job) = (base.clone(), token.clone(), job.clone());
            std::thread::spawn(move || {
                let client = Client::new();
                for _ in 0..runs / clients {
                    let r = client
                        .post(format!("{base}/job-runs"))
                        .bearer_auth(&token)
                        .json(&json!({"job_id": job}))
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 201);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let posted = started.elapsed();
    loop {
        let open: Value = client_one
            .get(format!(
                "{base}/job-runs?statuses=pending&statuses=running&limit=1"
            ))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if open["count"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let drained = started.elapsed();
    println!(
        "{runs} runs posted by {clients} clients without following: accepted in {posted:.2?} ({:.0} POST/s), all completed after {drained:.2?} ({:.0} runs/s)",
        runs as f64 / posted.as_secs_f64(),
        runs as f64 / drained.as_secs_f64()
    );

    let timed = |path: &str| -> Vec<Duration> {
        (0..500)
            .map(|_| {
                let t = Instant::now();
                let r = client_one
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                r.bytes().unwrap();
                t.elapsed()
            })
            .collect()
    };
    summary("GET /jobs/schemas (4 job types)", timed("/jobs/schemas"));
    summary(
        &format!("GET /job-runs first page ({} runs stored)", n + 350),
        timed("/job-runs?limit=20"),
    );
    summary(
        "GET /job-runs?statuses=completed",
        timed("/job-runs?statuses=completed&limit=20"),
    );
}
