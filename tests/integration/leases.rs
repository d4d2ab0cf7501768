//! Leases on running attempts: renewed while a run runs, taken away once
//! they lapse (the run is retried as its next attempt), and the old
//! attempt's late writes refused.

use crate::server::Server;
use crate::support::HOSTILE;
use jobhost::job_type::JobTypeId;
use jobhost::metrics::Metrics;
use jobhost::model::{Job, JobRun, Lease, RunErrorKind, RunId, RunStatus, TenantId, now};
use jobhost::registry::Catalog;
use jobhost::runtime::{Runtime, RuntimeConfig};
use jobhost::store::{Store, StoreError};
use jobhost::worker::{Settings, Workers};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_running_runs_lease_is_renewed_until_it_ends() {
    // Leases of 300 ms: a run of 2 s is only kept by renewals.
    let s = Server::start_args(&[HOSTILE], &["--lease-ttl-ms", "300"]);
    let api = s.api(&s.user);
    let job = api.job("hostile", json!({"attack": "sleep", "size": 2000}));
    let run = api.trigger(&job, None);
    let first = api.wait_run(&run, Duration::from_secs(30), |r| {
        r["status"] == "running" && r["lease"].is_object()
    });
    let holder = first["lease"]["holder"].as_str().unwrap().to_string();
    let mut expiries = vec![first["lease"]["expires_at"].as_str().unwrap().to_string()];
    let done = loop {
        std::thread::sleep(Duration::from_millis(250));
        let r = api.get(&format!("/job-runs/{run}")).body;
        if r["status"] != "running" {
            break r;
        }
        assert_eq!(r["attempt"], 1, "the attempt was taken away: {r}");
        assert_eq!(r["lease"]["holder"], holder.as_str());
        expiries.push(r["lease"]["expires_at"].as_str().unwrap().to_string());
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 1);
    assert!(done.get("lease").is_none(), "a finished run holds no lease");
    expiries.dedup();
    assert!(
        expiries.len() >= 3,
        "the lease was renewed as the run went on: {expiries:?}"
    );
    assert!(expiries.windows(2).all(|w| w[0] < w[1]), "{expiries:?}");
}

fn orphan(store: &Store, holder: &str, attempt: u32) -> JobRun {
    let t = now();
    let mut job = Job::new(
        TenantId("acme".into()),
        JobTypeId::parse("text_stats").unwrap(),
        semver::Version::new(1, 0, 0),
        json!({"job_type": "text_stats", "text": "left behind by a dead worker"}),
        "user@example.com",
    );
    job.name = "orphan".into();
    let mut run = JobRun::pending(&job, job.config.clone(), "user@example.com");
    run.attempt = attempt;
    store.insert_run(&run).unwrap();
    let mut running = run.clone();
    running.status = RunStatus::Running;
    running.started_at = Some(t);
    running.lease = Some(Lease {
        holder: holder.into(),
        expires_at: t - time::Duration::seconds(1),
    });
    // Taken from the queue as a worker takes it.
    let (taken, _) = store
        .claim_next(&HashMap::new(), usize::MAX, &mut |_| Ok(running.clone()))
        .unwrap()
        .expect("the run was queued");
    assert_eq!(taken.uuid, run.uuid);
    running
}

fn wait_terminal(store: &Store, id: RunId) -> JobRun {
    let start = Instant::now();
    loop {
        let run = store.run_any_tenant(id).unwrap().unwrap();
        if run.status.is_terminal() {
            return run;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{run:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_lapsed_lease_is_taken_away_retried_and_the_old_attempt_fenced_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let metrics = Arc::new(Metrics::default());
    let (catalog, failures) = Catalog::open(
        runtime.clone(),
        store.clone(),
        dir.path(),
        None,
        true,
        metrics.clone(),
        Default::default(),
    )
    .unwrap();
    assert!(failures.is_empty());
    // Two runs a dead worker held while the host went on: one in its first
    // attempt, one already in its last.
    let retried = orphan(&store, "dead/0", 1);
    let last = orphan(&store, "dead/1", 3);
    let settings = Settings {
        workers: 1,
        lease_ttl: Duration::from_millis(150),
        tenant_max_running: 1,
        host: jobhost::identity::HostId::random(),
    };
    let workers = Workers::start(
        &settings,
        store.clone(),
        Arc::new(catalog),
        runtime,
        metrics.clone(),
    );

    let done = wait_terminal(&store, retried.uuid);
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.attempt, 2, "retried as the next attempt");
    assert_eq!(done.lease, None);
    let output: &Value = done.output.as_ref().unwrap();
    assert!(output.is_object(), "{output}");

    let failed = wait_terminal(&store, last.uuid);
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.attempt, 3, "no attempt past the third");
    let error = failed.error.unwrap();
    assert_eq!(error.kind, RunErrorKind::Interrupted);
    assert!(
        error.message.contains("lease lapsed") && error.message.contains("3 attempts"),
        "{}",
        error.message
    );

    // The dead worker wakes up and reports its attempt: refused.
    let mut late = retried.clone();
    late.status = RunStatus::Failed;
    late.lease = None;
    assert!(matches!(
        store.update_held(&late, "dead/0", 1),
        Err(StoreError::Stale { attempt: 1, .. })
    ));
    assert_eq!(
        store.run_any_tenant(retried.uuid).unwrap().unwrap(),
        done,
        "the newer attempt's result stands"
    );
    let text = metrics.render(Some(0), 0, 0);
    assert!(text.contains("jobhost_leases_expired_total 2"), "{text}");
    workers.shutdown(Duration::from_secs(5));
}
