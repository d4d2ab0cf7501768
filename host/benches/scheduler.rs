//! The scheduler's cost through REST: a real `jobhost serve` with N jobs
//! (10,000 by default) scheduled every minute. Prints how long the jobs took
//! to create, the delay from each tick to its run's start (p50/p99/max,
//! server clock) and to its end, the server's CPU over the tick, and its CPU
//! while idle between ticks with the schedules loaded beside the same
//! measure before any schedule existed. Run with
//! `cargo bench -p jobhost --bench scheduler` (`-- --jobs N --ticks T`).

mod common;

use common::http::{Conn, runtime};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a timestamp"), &Rfc3339).unwrap()
}

fn percentiles(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<40} n={:<6} p50 {:>9.1}ms  p99 {:>9.1}ms  max {:>9.1}ms",
        ms.len(),
        p(0.5),
        p(0.99),
        ms[ms.len() - 1]
    );
}

/// Every run created by a schedule tick at or after `from`.
async fn scheduled_runs(conn: &mut Conn, from: OffsetDateTime) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    let after = from.format(&Rfc3339).unwrap();
    loop {
        let page = conn
            .get_json(&format!(
                "/job-runs?limit=100&created_after={after}{cursor}"
            ))
            .await;
        out.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| !r["scheduled_for"].is_null())
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (jobs, ticks) = (common::arg("--jobs", 10_000), common::arg("--ticks", 1));
    let dir = tempfile::tempdir().unwrap();
    let token = common::token(dir.path());
    let (server, _) = common::serve_with(dir.path(), &["--job-create-rate", "0"]);
    let (pid, base) = (server.0.id(), server.1.clone());
    println!(
        "jobhost scheduler benchmark on {} cores: {jobs} jobs scheduled every minute",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    runtime().block_on(async move {
        let idle_for = Duration::from_secs(10);
        let before = common::cpu::process(pid);
        tokio::time::sleep(idle_for).await;
        let idle_empty = common::cpu::process(pid) - before;

        let started = Instant::now();
        let clients = 16;
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (base, token) = (base.clone(), token.clone());
                tokio::spawn(async move {
                    let mut conn = Conn::open(&base, &token).await;
                    let body = json!({
                        "job_type": "text_stats",
                        "config": {"text": "tick"},
                        "schedule": {"cron": "0 * * * * *", "overlap": "allow"},
                    })
                    .to_string()
                    .into_bytes();
                    for _ in (c..jobs).step_by(clients) {
                        let (status, _) = conn.send(Method::POST, "/jobs", &body).await;
                        assert_eq!(status, StatusCode::CREATED);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        println!("created {jobs} scheduled jobs in {:.2?}", started.elapsed());

        let mut conn = Conn::open(&base, &token).await;
        for tick in 0..ticks {
            // Wait for the next whole minute, then for every run of it.
            let now = OffsetDateTime::now_utc();
            let next = now.replace_second(0).unwrap().replace_nanosecond(0).unwrap()
                + time::Duration::minutes(1);
            let wait = next - now - time::Duration::seconds(2);
            if wait.is_positive() {
                tokio::time::sleep(Duration::try_from(wait).unwrap()).await;
            }
            let cpu_before = common::cpu::process(pid);
            let deadline = Instant::now() + Duration::from_secs(120);
            let runs = loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let runs = scheduled_runs(&mut conn, next - time::Duration::seconds(1)).await;
                let done = runs.iter().filter(|r| r["status"] == "completed").count();
                if done >= jobs || Instant::now() > deadline {
                    break runs;
                }
            };
            let cpu_tick = common::cpu::process(pid) - cpu_before;
            let start_ms: Vec<f64> = runs
                .iter()
                .filter(|r| !r["started_at"].is_null())
                .map(|r| (ts(&r["started_at"]) - ts(&r["scheduled_for"])).as_seconds_f64() * 1000.0)
                .collect();
            let end_ms: Vec<f64> = runs
                .iter()
                .filter(|r| !r["finished_at"].is_null())
                .map(|r| (ts(&r["finished_at"]) - ts(&r["scheduled_for"])).as_seconds_f64() * 1000.0)
                .collect();
            let created_ms: Vec<f64> = runs
                .iter()
                .map(|r| (ts(&r["created_at"]) - ts(&r["scheduled_for"])).as_seconds_f64() * 1000.0)
                .collect();
            println!("tick {tick} at {next}: {} runs", runs.len());
            percentiles("  tick -> run created", created_ms);
            percentiles("  tick -> run started", start_ms);
            percentiles("  tick -> run completed", end_ms);
            println!(
                "  server CPU from 2 s before the tick to the last run done: {cpu_tick:.2?} ({:.0} us per scheduled run)",
                cpu_tick.as_secs_f64() * 1e6 / runs.len().max(1) as f64
            );
        }

        // Idle between ticks: from 20 s after a tick (its runs done) for
        // 10 s, well before the next.
        let now = OffsetDateTime::now_utc();
        let minute = now.replace_second(0).unwrap().replace_nanosecond(0).unwrap();
        let mut quiet = minute + time::Duration::seconds(20);
        if now > quiet {
            quiet += time::Duration::minutes(1);
        }
        tokio::time::sleep(Duration::try_from(quiet - now).unwrap_or_default()).await;
        let before = common::cpu::process(pid);
        tokio::time::sleep(idle_for).await;
        let idle_loaded = common::cpu::process(pid) - before;
        println!(
            "server CPU while idle for {idle_for:.0?}: {idle_empty:.2?} with no schedule, {idle_loaded:.2?} with {jobs} schedules loaded"
        );
    });
    drop(server);
}
