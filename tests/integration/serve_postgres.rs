//! `jobhost serve --database`: the server stores in PostgreSQL (migrated at
//! start) and keeps what it stored across a kill. Several hosts on one
//! database: `several_hosts`.

use crate::server::Server;
use crate::several_hosts::running;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_server_stores_in_postgresql_and_keeps_it_across_a_kill() {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    let mut first = Server::start_args(&[], &["--database", &url]);
    let api = first.api(&first.user);
    let job = api.job("text_stats", json!({"text": "one two two"}));
    let run = api.trigger(&job, None);
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["words"], 3);
    let stored = pg
        .psql(
            "jobhost",
            &format!("SELECT status FROM jobhost_runs WHERE id = '{run}'"),
        )
        .unwrap();
    assert_eq!(stored, "completed", "the run is in the database");
    assert!(
        !first.data().join("db").exists(),
        "no sled database was made in the data directory"
    );

    // Killed and started again, the host finds the job, the run and its log.
    let dir = first.take_dir().unwrap();
    let tokens = (first.user.clone(), first.other_tenant.clone());
    first.kill();
    let again = Server::spawn(dir.path(), &["--database", &url]);
    let api = again.api(&tokens.0);
    let read = api.get(&format!("/job-runs/{run}"));
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["output"]["words"], 3);
    let logs = api.get(&format!("/job-runs/{run}/logs"));
    assert_eq!(logs.status, 200, "{}", logs.body);
    let jobs = api.get("/jobs");
    assert_eq!(jobs.body["items"][0]["uuid"], job.as_str(), "{}", jobs.body);
    let foreign = again.api(&tokens.1).get(&format!("/job-runs/{run}"));
    assert_eq!(foreign.status, 404, "another tenant's run stays hidden");
    let second = api.trigger(&job, Some(json!({"text": "a b c d"})));
    assert_eq!(api.wait_done(&second)["output"]["words"], 4);
}

#[test]
fn a_host_that_loses_the_database_stops_its_runs_before_their_leases_lapse_and_goes_on_when_it_returns()
 {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    let s = Server::start_args(
        &[],
        &[
            "--database",
            &url,
            "--lease-ttl-ms",
            "1500",
            "--workers",
            "1",
        ],
    );
    let api = s.api(&s.user);
    let sieve = api.job(
        "prime_sieve",
        json!({"limit": 400_000_000u64, "segment_size": 65536, "checkpoint_every": 2}),
    );
    let run = api.trigger(&sieve, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
    assert_eq!(running(&s, &s.operator), 1);

    // The database goes away: the run's lease can no longer be renewed, so
    // the host stops it before the lease lapses (another host could take
    // the run then), and answers requests with an error, not a crash.
    let gone = Instant::now();
    pg.stop().unwrap();
    let deadline = gone + Duration::from_secs(5);
    while running(&s, &s.operator) != 0 {
        assert!(
            Instant::now() < deadline,
            "the run kept executing without its lease"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped = gone.elapsed();
    assert!(
        stopped < Duration::from_millis(1500),
        "stopped {stopped:?} after the database went, past its 1.5 s lease"
    );
    // Requests that need the database meanwhile: 503 with Retry-After.
    let r = api.get(&format!("/job-runs/{run}"));
    assert_eq!(
        (
            r.status,
            r.body["error"]["type"].as_str(),
            r.header("retry-after")
        ),
        (503, Some("unavailable"), Some("1")),
        "{}",
        r.body
    );
    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": "x"}}),
    );
    assert_eq!(r.status, 503, "{}", r.body);

    // It comes back: the run is taken over (its lease lapsed) and goes on
    // in attempt 2 from its checkpoint; new runs are taken.
    pg.restart().unwrap();
    let done = api.wait_run(&run, Duration::from_secs(120), |r| {
        r["status"] == "completed" || r["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    let job = api.job("text_stats", json!({"text": "after the outage"}));
    let after = api.trigger(&job, None);
    assert_eq!(api.wait_done(&after)["status"], "completed");
}
