//! Figures at scale: start-up with 50 extra plugins (cold: compiling; warm:
//! precompiled cache), `GET /jobs/schemas` with 100 job types, and the run lists with
//! many runs stored (first page, a deep page, filtered by status and by
//! job), the server's RSS and the data directory's bytes per run.
//! Run with `cargo bench -p jobhost --bench scale` (100,000 runs) or
//! `-- --runs 1000000` for the full size.

mod common;

use common::http::{Conn, runtime};
use common::{serve, token};
use hyper::{Method, StatusCode};
use jobhost::job_type::JobTypeId;
use jobhost::model::{Job, JobId, JobRun, RunId, RunStatus, TenantId, now};
use jobhost::store::Store;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

use jobhost_test_support::wasm::TEXT_STATS;

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        dir_bytes(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Median and p99 of `n` GETs of `path` on one keep-alive connection.
fn timed(base: &str, token: &str, path: &str, n: usize) -> String {
    let mut samples: Vec<Duration> = runtime().block_on(async {
        let mut conn = Conn::open(base, token).await;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let (status, _) = conn.send(Method::GET, path, b"").await;
            assert_eq!(status, StatusCode::OK, "{path}");
            out.push(t.elapsed());
        }
        out
    });
    samples.sort();
    format!(
        "median {:>9.2?}  p99 {:>9.2?}",
        samples[n / 2],
        samples[n * 99 / 100]
    )
}

/// A copy of text_stats whose job type id is `id` (10 bytes, like `text_stats`).
fn variant(bytes: &[u8], id: &str) -> Vec<u8> {
    assert_eq!(id.len(), 10);
    let mut out = bytes.to_vec();
    let needle = b"text_stats";
    let mut i = 0;
    while let Some(pos) = out[i..].windows(needle.len()).position(|w| w == needle) {
        out[i + pos..i + pos + needle.len()].copy_from_slice(id.as_bytes());
        i += pos + needle.len();
    }
    out
}

/// Writes plugins `bench_t_{from}` .. `bench_t_{to - 1}` into `dir/plugins`.
fn write_variants(dir: &Path, from: usize, to: usize) {
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    let bytes = std::fs::read(TEXT_STATS).unwrap();
    for i in from..to {
        let id = format!("bench_t_{i:02}");
        std::fs::write(dir.join(format!("plugins/{id}.wasm")), variant(&bytes, &id)).unwrap();
    }
}

fn startup() {
    let dir = tempfile::tempdir().unwrap();
    write_variants(dir.path(), 0, 50);
    token(dir.path());
    let (cold_server, cold) = serve(dir.path());
    drop(cold_server);
    let mut warm = Vec::new();
    for _ in 0..5 {
        let (s, took) = serve(dir.path());
        warm.push(took);
        drop(s);
    }
    warm.sort();
    println!(
        "start-up with 54 job types (50 plugins + 4 bundled): cold (compile) {cold:.2?}, warm (cache) median {:.2?} of 5",
        warm[2]
    );
    // 96 plugins + 4 bundled: the 100 job types of the schemas goal.
    write_variants(dir.path(), 50, 96);
    let t = token(dir.path());
    let (server, _) = serve(dir.path());
    let n = runtime().block_on(async {
        let mut conn = Conn::open(&server.1, &t).await;
        let all = conn.get_json("/jobs/schemas").await;
        all.as_array().unwrap().len()
    });
    assert_eq!(n, 100);
    println!(
        "GET /jobs/schemas with {n} job types:             {}",
        timed(&server.1, &t, "/jobs/schemas", 1000)
    );
}

fn lists(runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId("default".into());
    let jobs: Vec<JobId> = (0..1000).map(|_| JobId::new()).collect();
    let job_type = JobTypeId::parse("text_stats").unwrap();
    let seeded = Instant::now();
    let mut middle = None;
    {
        let store = Store::open(&dir.path().join("db")).unwrap();
        let t = now();
        for i in 0..runs {
            let status = if i % 10 == 0 {
                RunStatus::Failed
            } else {
                RunStatus::Completed
            };
            let config = json!({"job_type": "text_stats", "text": "hi"});
            let mut job = Job::new(
                tenant.clone(),
                job_type.clone(),
                semver::Version::new(1, 0, 0),
                config.clone(),
                "bench@example.com",
            );
            job.uuid = jobs[i % jobs.len()];
            job.name = "bench".into();
            let mut run = JobRun::pending(&job, config, "bench@example.com");
            (run.created_at, run.updated_at) = (t, t);
            (run.started_at, run.finished_at) = (Some(t), Some(t));
            run.progress = 100;
            run.progress_message = Some("done".into());
            run.output = Some(json!({"words": 1}));
            store.insert_run(&run).unwrap();
            run.status = status;
            store.update_run(RunStatus::Pending, &run).unwrap();
            if i == runs / 2 {
                middle = Some(run.uuid);
            }
        }
        store.flush_blocking().unwrap();
    }
    let seeding = seeded.elapsed();
    let bytes = dir_bytes(&dir.path().join("db"));
    println!(
        "seeded {runs} runs in {seeding:.1?}; data dir {:.1} MiB, {:.0} bytes per run",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / runs as f64
    );
    let t = token(dir.path());
    let (server, _) = serve(dir.path());
    let base = &server.1;
    let middle = hex_cursor(middle.unwrap());
    let job = jobs[7];
    for (name, path) in [
        ("first page", "/job-runs?limit=20".to_string()),
        (
            "deep page (cursor at the middle)",
            format!("/job-runs?limit=20&cursor={middle}"),
        ),
        (
            "filtered by status (failed, 10%)",
            "/job-runs?statuses=failed&limit=20".to_string(),
        ),
        (
            "filtered by job (0.1%)",
            format!("/job-runs?job_id={job}&limit=20"),
        ),
    ] {
        println!("GET /job-runs {name:<34} {}", timed(base, &t, &path, 200));
    }
    println!(
        "server RSS with {runs} runs stored, after the lists: {:.0} MiB",
        rss_mib(server.0.id())
    );
}

fn hex_cursor(id: RunId) -> String {
    jobhost::store::encode_cursor(id.bytes())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "jobhost scale benchmark on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    startup();
    lists(common::arg("--runs", 100_000));
}
