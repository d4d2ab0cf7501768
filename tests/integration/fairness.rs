//! Workers are shared fairly between tenants: a tenant that fills the queue
//! with long runs does not hold another tenant's run behind all of them, and
//! `--tenant-max-running` keeps workers free for the others.

use crate::server::{Api, Server};
use crate::support::HOSTILE;
use serde_json::{Value, json};
use std::time::Duration;

/// Creates a job of runs that sleep `ms` in a blocking host call (each
/// holds a worker, no core) and triggers it `runs` times.
fn queue_sleepers(api: &Api, ms: u64, runs: usize) -> String {
    let job = api.job("hostile", json!({"attack": "sleep", "size": ms}));
    for _ in 0..runs {
        api.trigger(&job, None);
    }
    job
}

/// How many of `job`'s runs are in each status.
fn count(api: &Api, job: &str, status: &str) -> u64 {
    let r = api.get(&format!("/job-runs?job_id={job}&statuses={status}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["count"].as_u64().unwrap()
}

/// Waits until `n` of `job`'s runs are running.
fn wait_running(api: &Api, job: &str, n: u64) {
    let start = std::time::Instant::now();
    while count(api, job, "running") < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "runs never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn healthy_run(api: &Api) -> Value {
    let job = api.job("text_stats", json!({"text": "another tenant's run"}));
    let run = api.trigger(&job, None);
    api.wait_done(&run)
}

#[test]
fn a_tenant_filling_the_queue_does_not_hold_back_another() {
    // Two workers, no cap beyond them: acme's first two runs take both.
    let s = Server::start_with(&[HOSTILE]);
    let acme = s.api(&s.admin);
    let job = queue_sleepers(&acme, 1500, 8);
    wait_running(&acme, &job, 2);

    // globex's run is queued behind acme's other six. In queue order it
    // would start only after all of them; taken fairly, it is the first run
    // taken when a worker frees up, because globex runs none and acme one.
    let done = healthy_run(&s.api(&s.other_tenant));
    assert_eq!(done["status"], "completed", "{done}");
    let started = 8 - count(&acme, &job, "pending");
    assert!(
        started <= 4,
        "{started} of acme's 8 runs started before globex's one run finished"
    );
}

#[test]
fn a_tenant_at_its_cap_leaves_the_other_workers_to_the_others() {
    let s = Server::start_args(&[HOSTILE], &["--tenant-max-running", "1"]);
    let acme = s.api(&s.admin);
    let job = queue_sleepers(&acme, 3000, 3);
    wait_running(&acme, &job, 1);

    // The second worker stays free of acme's runs although they wait, so
    // globex's run does not wait for acme's first to end.
    let done = healthy_run(&s.api(&s.other_tenant));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        count(&acme, &job, "running"),
        1,
        "acme is held to one worker"
    );
    assert_eq!(count(&acme, &job, "pending"), 2);
    assert_eq!(
        count(&acme, &job, "completed"),
        0,
        "globex did not wait for acme"
    );
}

#[test]
fn the_tenant_cap_must_be_a_positive_number() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .args(["serve", "--tenant-max-running", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tenant-max-running"), "{stderr}");
}
