//! The store's traits behave the same on sled and on PostgreSQL: sequences
//! of jobs and runs (saved, read per tenant, listed a page at a time,
//! queued, taken, checkpointed, written by the attempt holding them, taken
//! over) and of the records beside them (run logs, schedules, idempotency
//! records, plugins and registry events, secrets, webhooks and notices)
//! are played against each backend
//! and must answer alike.

use jobhost::job_type::JobTypeId;
use jobhost::model::{Job, JobRun, Lease, RunStatus, TenantId, now};
use jobhost::store::postgres::{Database, DatabaseConfig, Postgres};
use jobhost::store::{
    JobFilter, JobStore, Order, RunFilter, RunStore, Sled, StoreError, decode_cursor,
};
use jobhost::vault::Vault;
use std::collections::HashMap;
use std::sync::Arc;

mod records;
use records::{play_deliveries, play_records};

fn job(tenant: &str, job_type: &str) -> Job {
    let mut job = Job::new(
        TenantId(tenant.into()),
        JobTypeId::parse(job_type).unwrap(),
        semver::Version::new(1, 0, 0),
        serde_json::json!({"job_type": job_type, "text": "same on both"}),
        "user@example.com",
    );
    job.name = format!("{tenant} {job_type}");
    job
}

/// What a worker holding `holder` writes when it takes a run.
fn running(mut run: JobRun, holder: &str) -> JobRun {
    run.status = RunStatus::Running;
    run.started_at = Some(now());
    run.lease = Some(Lease {
        holder: holder.into(),
        expires_at: now() + time::Duration::seconds(30),
    });
    run
}

/// Plays the sequence against `store`; returns what it saw, step by step.
fn play(store: &(impl JobStore + RunStore)) -> Vec<String> {
    let mut seen = Vec::new();
    let (acme, globex) = (TenantId("acme".into()), TenantId("globex".into()));
    let stats = job("acme", "text_stats");
    let other = job("acme", "hello_world");
    let theirs = job("globex", "text_stats");
    for j in [&stats, &other, &theirs] {
        store.put_job(j).unwrap();
    }
    let mut deleted = other.clone();
    deleted.is_deleted = true;
    store.put_job(&deleted).unwrap();

    // Jobs: per tenant, paged, filtered.
    assert_eq!(
        store.job(&acme, stats.uuid).unwrap().unwrap().name,
        stats.name
    );
    assert!(
        store.job(&globex, stats.uuid).unwrap().is_none(),
        "another tenant's job"
    );
    let all = JobFilter {
        include_deleted: true,
        order: Order::Asc,
        ..JobFilter::default()
    };
    let first = store.list_jobs(&acme, &all, None, 1).unwrap();
    assert_eq!(first.items.len(), 1);
    let cursor = decode_cursor(first.next_cursor.as_deref().unwrap());
    let second = store.list_jobs(&acme, &all, cursor, 1).unwrap();
    seen.push(format!(
        "jobs paged: {} then {}",
        first.items[0].name, second.items[0].name
    ));
    let live = store
        .list_jobs(&acme, &JobFilter::default(), None, 10)
        .unwrap();
    seen.push(format!("live jobs: {}", live.items.len()));
    let typed = JobFilter {
        job_types: vec!["text_stats".into()],
        include_deleted: true,
        ..JobFilter::default()
    };
    seen.push(format!(
        "text_stats jobs: {}",
        store
            .list_jobs(&acme, &typed, None, 10)
            .unwrap()
            .items
            .len()
    ));

    // Runs: queued, read per tenant, listed.
    let mut low = JobRun::pending(&stats, stats.config.clone(), "user@example.com");
    low.priority = -5;
    let high = {
        let mut r = JobRun::pending(&stats, stats.config.clone(), "user@example.com");
        r.priority = 5;
        r
    };
    let foreign = JobRun::pending(&theirs, theirs.config.clone(), "user@example.com");
    for r in [&low, &high, &foreign] {
        store.insert_run(r).unwrap();
    }
    assert!(
        store.run(&globex, low.uuid).unwrap().is_none(),
        "another tenant's run"
    );
    assert!(store.run_exists(low.uuid).unwrap());
    seen.push(format!("queued: {}", store.queue_len().unwrap()));
    let of_job = RunFilter {
        job_id: Some(stats.uuid),
        ..RunFilter::default()
    };
    let listed = store.list_runs(&acme, &of_job, None, 10).unwrap();
    seen.push(format!(
        "runs of the job, newest first: {:?}",
        listed.items.iter().map(|r| r.priority).collect::<Vec<_>>()
    ));
    seen.push(format!(
        "latest: {}",
        store
            .latest_run(&acme, stats.uuid)
            .unwrap()
            .unwrap()
            .priority
    ));

    // Taken: acme at its cap of one yields to globex; priorities hold.
    let mut taken = Vec::new();
    let mut busy: HashMap<TenantId, usize> = HashMap::new();
    while let Some((run, _)) = store
        .claim_next(&busy, 1, &mut |r| Ok(running(r, "host-a/0")))
        .unwrap()
    {
        *busy.entry(run.tenant.clone()).or_default() += 1;
        taken.push(format!("{} {}", run.tenant.0, run.priority));
    }
    seen.push(format!("taken: {taken:?}"));
    seen.push(format!("queued after: {}", store.queue_len().unwrap()));
    let held = store.run(&acme, high.uuid).unwrap().unwrap();
    assert_eq!(held.status, RunStatus::Running);

    // Checkpoints and writes belong to the attempt holding the run.
    store.save_checkpoint(high.uuid, 1, b"page 3").unwrap();
    seen.push(format!(
        "checkpoint: {:?}",
        store
            .checkpoint(high.uuid)
            .unwrap()
            .map(|c| String::from_utf8(c).unwrap())
    ));
    seen.push(outcome(store.save_checkpoint(high.uuid, 2, b"later")));
    let mut progressed = held.clone();
    progressed.progress = 40;
    seen.push(outcome(store.update_held(&progressed, "host-b/0", 1)));
    seen.push(outcome(store.update_held(&progressed, "host-a/0", 1)));
    seen.push(outcome(store.update_run(RunStatus::Pending, &progressed)));
    let mut stale_lease = held.clone();
    stale_lease.status = RunStatus::Pending;
    seen.push(outcome(store.take_over(&stale_lease, 1, None)));

    // Taken over as the lease lapsed, then the old holder ends too late.
    let mut retried = progressed.clone();
    retried.status = RunStatus::Pending;
    retried.attempt = 2;
    retried.lease = None;
    seen.push(outcome(store.take_over(&retried, 1, held.lease.as_ref())));
    let mut late = progressed.clone();
    late.status = RunStatus::Completed;
    seen.push(outcome(store.end_attempt(None, &late, "host-a/0", 1)));
    let open: Vec<String> = store
        .open_runs()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r.tenant.0, r.priority, r.status.as_str()))
        .collect();
    seen.push(format!("open: {open:?}"));
    seen.push(format!(
        "active of the job: {}",
        store.active_runs_of_job(&acme, stats.uuid).unwrap().len()
    ));
    seen
}

fn outcome(result: Result<(), StoreError>) -> String {
    match result {
        Ok(()) => "written".into(),
        Err(StoreError::Stale { attempt, .. }) => format!("stale attempt {attempt}"),
        Err(StoreError::Conflict) => "conflict".into(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_store_behaves_the_same_on_sled_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let sled_store = Sled::open(dir.path()).unwrap();
    let sled = play(&sled_store);
    let expected = [
        "jobs paged: acme text_stats then acme hello_world",
        "live jobs: 1",
        "text_stats jobs: 1",
        "queued: 3",
        "runs of the job, newest first: [5, -5]",
        "latest: 5",
        "taken: [\"acme 5\", \"globex 0\"]",
        "queued after: 1",
        "checkpoint: Some(\"page 3\")",
        "stale attempt 2",
        "stale attempt 1",
        "written",
        "conflict",
        "conflict",
        "written",
        "stale attempt 1",
        "open: [\"acme -5 pending\", \"acme 5 pending\", \"globex 0 running\"]",
        "active of the job: 2",
    ];
    assert_eq!(sled, expected, "sled");
    let records = [
        "next seq: 0",
        "next seq: 5",
        "logs: [\"line 0\", \"line 1\"] then after Some(1)",
        "rest: [\"line 2\", \"line 3\", \"line 4\"] end None",
        "errors within 3 lines: [\"line 1\"]",
        "schedule: Some(3), 1 in all",
        "removed: None",
        "remembered: Some(201)",
        "an hour on: None",
        "naming a job never stored: None",
        "expired dropped: 1",
        "plugins: [\"1.10.0 Active\", \"1.2.0 Yanked\"]",
        "deleted: true",
        "events after the first: [\"ops-1\", \"ops-2\"]",
        "first two: 2",
    ];
    let sled_store = Sled::open(&dir.path().join("records")).unwrap();
    assert_eq!(play_records(&sled_store), records, "sled");
    let deliveries = [
        "secret new: true, then false",
        "value: Some(\"s3cret-2\")",
        "listed: [\"api_key\"]",
        "another tenant's: false",
        "deleted: true then false",
        "signing secret kept: true",
        "first notice: Some(\"job_run.paused\") of the run: true",
        "then: [(99, \"job_run.resumed\")]",
        "webhooks: [(true, 0)]",
        "retried at [1010, 1020, 1040, 1080], then set aside",
        "aside: [Number(5)], queued: 0",
        "done: 0",
    ];
    let vault = Arc::new(Vault::open_or_create(&dir.path().join("secrets.key")).unwrap());
    let mut sled_store = Sled::open(&dir.path().join("deliveries")).unwrap();
    sled_store.set_vault(vault.clone());
    assert_eq!(play_deliveries(&sled_store.into()), deliveries, "sled");

    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A database of its own per sequence, as sled has a directory.
    let open = |name: &str| {
        let url = pg.create_database(name).unwrap();
        let db = runtime
            .block_on(async {
                let db = Database::connect(&DatabaseConfig::new(url)).await?;
                db.migrate().await?;
                Ok::<_, jobhost::store::postgres::DatabaseError>(db)
            })
            .unwrap();
        let mut postgres = Postgres::new(db, runtime.handle().clone(), Default::default());
        postgres.set_vault(vault.clone());
        postgres
    };
    assert_eq!(play(&open("runs")), expected, "PostgreSQL");
    assert_eq!(play_records(&open("records")), records, "PostgreSQL");
    assert_eq!(
        play_deliveries(&open("deliveries").into()),
        deliveries,
        "PostgreSQL"
    );
}
