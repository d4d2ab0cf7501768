//! Crash torture: cycles of start, concurrent clients creating jobs and
//! triggering runs, kill -9 at a random moment, restart. After every cycle:
//! every acknowledged job and run exists with its acknowledged content; once
//! recovery has run, every run ends in exactly one terminal status that
//! never changes afterwards, none stays `running`, attempts only grow. A
//! job scheduled every second (catching up every missed tick) runs every
//! tick exactly once through all of it. The same with SIGTERM instead of
//! kill -9.
//!
//! `JOBHOST_TORTURE_CYCLES` sets the cycles (20 by default; the long run in
//! RELIABILITY.md uses 200).

use crate::server::{Api, Server};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn cycles() -> usize {
    std::env::var("JOBHOST_TORTURE_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// What the server acknowledged with a 2xx.
#[derive(Default)]
pub(crate) struct Acked {
    /// Job id → config as acknowledged.
    pub(crate) jobs: HashMap<String, Value>,
    /// Run id → job id.
    pub(crate) runs: HashMap<String, String>,
}

/// A tiny xorshift so that cycles differ without a dependency.
pub(crate) fn rand(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// One client: creates a job, then triggers its runs until told to stop or
/// the server dies. Only 2xx answers count as acknowledged. With `witness`,
/// a third of the jobs are of the witness fixture (short runs telling the
/// host's witness when each attempt starts and ends).
pub(crate) fn client(
    api: Api,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
    mut seed: u64,
    witness: bool,
) {
    let api = Api {
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        ..api
    };
    let kind = rand(&mut seed) % 3;
    let slow = kind == 0;
    let (job_type, config) = if slow {
        (
            "prime_sieve",
            json!({"limit": 60_000_000u64 + rand(&mut seed) % 1000, "checkpoint_every": 2}),
        )
    } else if witness && kind == 1 {
        ("witness", json!({"work_ms": 100 + rand(&mut seed) % 900}))
    } else {
        (
            "text_stats",
            json!({"text": format!("torture {}", rand(&mut seed))}),
        )
    };
    let Ok(r) = api
        .client
        .post(format!("{}/jobs", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"job_type": job_type, "config": config}))
        .send()
    else {
        return;
    };
    if r.status().as_u16() != 201 {
        return;
    }
    let Ok(job) = r.json::<Value>() else { return };
    let id = job["uuid"].as_str().unwrap().to_string();
    acked
        .lock()
        .unwrap()
        .jobs
        .insert(id.clone(), job["config"].clone());
    let most = match job_type {
        "prime_sieve" => 4,
        "witness" => 8,
        _ => 40,
    };
    for _ in 0..most {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(r) = api
            .client
            .post(format!("{}/job-runs", api.base))
            .bearer_auth(&api.token)
            .json(&json!({"job_id": id}))
            .send()
        else {
            return;
        };
        if r.status().as_u16() != 201 {
            return;
        }
        let Ok(run) = r.json::<Value>() else { return };
        acked
            .lock()
            .unwrap()
            .runs
            .insert(run["uuid"].as_str().unwrap().to_string(), id.clone());
    }
}

/// Reads every run of the tenant after recovery; waits until none is
/// pending or running.
pub(crate) fn settle(api: &Api) -> HashMap<String, Value> {
    let started = Instant::now();
    loop {
        let mut all = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("/job-runs?limit=100&cursor={c}"),
                None => "/job-runs?limit=100".to_string(),
            };
            let page = api.get(&q);
            assert_eq!(page.status, 200, "{}", page.body);
            for r in page.body["items"].as_array().unwrap() {
                all.insert(r["uuid"].as_str().unwrap().to_string(), r.clone());
            }
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let open = all
            .values()
            .filter(|r| matches!(r["status"].as_str(), Some("pending" | "running")))
            .count();
        if open == 0 {
            return all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{open} runs never finished after recovery"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the checks after each cycle have seen: each run's terminal status
/// and finish time, and its attempt.
#[derive(Default)]
pub(crate) struct Ledger {
    pub(crate) finals: HashMap<String, (String, Value)>,
    pub(crate) attempts: HashMap<String, u64>,
}

impl Ledger {
    /// Once every run settled: every acknowledged job exists with its
    /// acknowledged config and every acknowledged run exists; every run
    /// ends in one terminal status that never changes, attempts only grow,
    /// and a failure is an interruption.
    pub(crate) fn check(&mut self, cycle: usize, api: &Api, acked: &Acked) {
        let runs = settle(api);
        for (job, config) in &acked.jobs {
            let r = api.get(&format!("/jobs/{job}"));
            assert_eq!(r.status, 200, "cycle {cycle}: acknowledged job {job} lost");
            assert_eq!(
                &r.body["config"], config,
                "cycle {cycle}: job {job} changed"
            );
        }
        for (run, job) in &acked.runs {
            let r = runs
                .get(run)
                .unwrap_or_else(|| panic!("cycle {cycle}: acknowledged run {run} lost"));
            assert_eq!(r["job_id"], *job, "cycle {cycle}");
        }
        for (id, r) in &runs {
            let status = r["status"].as_str().unwrap().to_string();
            assert!(
                matches!(status.as_str(), "completed" | "failed" | "cancelled"),
                "cycle {cycle}: {id} is {status}"
            );
            let attempt = r["attempt"].as_u64().unwrap();
            let before = self.attempts.insert(id.clone(), attempt).unwrap_or(1);
            assert!(
                attempt >= before,
                "cycle {cycle}: {id} attempt went {before} -> {attempt}"
            );
            match self.finals.get(id) {
                Some((s0, f0)) => {
                    assert_eq!(*s0, status, "cycle {cycle}: {id} changed terminal status");
                    assert_eq!(*f0, r["finished_at"], "cycle {cycle}: {id} finished twice");
                }
                None => {
                    self.finals
                        .insert(id.clone(), (status, r["finished_at"].clone()));
                }
            }
            if r["status"] == "failed" {
                let kind = r["error"]["type"].as_str().unwrap_or("");
                assert_eq!(kind, "interrupted", "cycle {cycle}: {id} failed: {r}");
            }
        }
    }

    /// Runs that took more than one attempt, and runs that failed.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let retried = self.attempts.values().filter(|a| **a > 1).count();
        let failed = self.finals.values().filter(|(s, _)| s == "failed").count();
        (retried, failed)
    }
}

/// A job scheduled every second that catches up every missed tick; its id.
pub(crate) fn scheduled_every_second(api: &Api) -> String {
    let r = api.post(
        "/jobs",
        &json!({
            "job_type": "text_stats",
            "config": {"text": "every second"},
            "schedule": {"cron": "* * * * * *", "overlap": "allow", "catch_up": "all", "catch_up_window_secs": 3600},
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["uuid"].as_str().unwrap().to_string()
}

fn torture(graceful: bool) {
    let first = Server::start_args(&[], &["--job-create-rate", "0"]);
    let (user_token, mut dir_holder) = (first.user.clone(), None);
    let scheduled = scheduled_every_second(&first.api(&user_token));
    let mut server = Some(first);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut ledger = Ledger::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(graceful);
    let n = cycles();
    for cycle in 0..n {
        let mut s = server.take().expect("a running server");
        let api = s.api(&user_token);
        // Load, then a kill at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..6)
            .map(|i| {
                let (api, acked, stop) = (s.api(&user_token), acked.clone(), stop.clone());
                let seed = rand(&mut seed) ^ (i as u64 + 1);
                std::thread::spawn(move || client(api, acked, stop, seed, false))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rand(&mut seed) % 480));
        if graceful {
            let status = s.terminate();
            assert!(status.success(), "cycle {cycle}: {status:?}");
        } else {
            s.kill();
        }
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        if dir_holder.is_none() {
            dir_holder = s.take_dir();
        }
        drop(s);
        drop(api);

        // Restart and check everything acknowledged so far.
        let s = Server::spawn(
            dir_holder.as_ref().unwrap().path(),
            &["--job-create-rate", "0"],
        );
        let api = s.api(&user_token);
        ledger.check(cycle, &api, &acked.lock().unwrap());
        server = Some(s);
    }
    let ticks = check_ticks(
        &server.expect("a running server").api(&user_token),
        &scheduled,
    );
    let acked = acked.lock().unwrap();
    let (retried, interrupted) = ledger.counts();
    println!(
        "torture ({}): {n} cycles, {} jobs and {} runs acknowledged, {} runs checked, \
         {retried} resumed after an interruption, {interrupted} failed after {} attempts, lost 0; \
         {ticks} schedule ticks, each run once",
        if graceful { "SIGTERM" } else { "kill -9" },
        acked.jobs.len(),
        acked.runs.len(),
        ledger.finals.len(),
        jobhost::worker::MAX_ATTEMPTS
    );
    assert!(
        acked.runs.len() >= n,
        "the load acknowledged too few runs to mean much"
    );
}

/// The scheduled job's ticks so far: one run each, every second from the
/// first to the last, none twice. Returns how many.
pub(crate) fn check_ticks(api: &Api, job: &str) -> usize {
    let r = api.send("post", &format!("/jobs/{job}/schedule/pause"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ticks: Vec<i64> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api.get(&format!("/job-runs?job_id={job}&limit=100{cursor}"));
        assert_eq!(page.status, 200, "{}", page.body);
        for r in page.body["items"].as_array().unwrap() {
            let at = r["scheduled_for"].as_str().expect("a scheduled run");
            let at =
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .unwrap();
            ticks.push(at.unix_timestamp());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    ticks.sort_unstable();
    let doubled: Vec<_> = ticks.windows(2).filter(|w| w[0] == w[1]).collect();
    assert!(doubled.is_empty(), "ticks run twice: {doubled:?}");
    let gaps: Vec<_> = ticks.windows(2).filter(|w| w[1] - w[0] != 1).collect();
    assert!(gaps.is_empty(), "ticks lost between: {gaps:?}");
    assert!(ticks.len() >= 5, "too few ticks to mean much: {ticks:?}");
    ticks.len()
}

#[test]
fn acknowledged_work_survives_kill_9_cycles() {
    torture(false);
}

#[test]
fn acknowledged_work_survives_sigterm_cycles() {
    torture(true);
}
