//! End-to-end figures through REST: a real `jobhost serve` on 127.0.0.1 with
//! durable acknowledgement, a trivial `text_stats` job. Prints the latency
//! from POST /job-runs to `completed` (one client) and the throughput of
//! 1,000 runs posted by 8 concurrent clients that follow each to the end.
//! Run with `cargo bench -p jobhost --bench api`.

use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &std::path::Path) -> (Server, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(data)
        .args(["token", "create", "--user", "bench@example.com"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("jobhost listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), format!("{base}/api/v1"), token)
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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, token) = start(dir.path());
    let client = Client::new();
    let job: Value = client
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
        one_run(&client, &base, &token, &job);
    }
    let samples: Vec<Duration> = (0..300)
        .map(|_| one_run(&client, &base, &token, &job))
        .collect();
    summary("POST /job-runs -> completed, 1 client", samples);

    let (clients, runs) = (8, 1000);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (base, token, job) = (base.clone(), token.clone(), job.clone());
            std::thread::spawn(move || {
                let client = Client::new();
                (0..runs / clients)
                    .map(|_| one_run(&client, &base, &token, &job))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let samples: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let n = samples.len();
    summary(&format!("POST -> completed, {clients} clients"), samples);
    println!(
        "  {n} runs in {elapsed:.2?}: {:.0} runs/s",
        n as f64 / elapsed.as_secs_f64()
    );
}
