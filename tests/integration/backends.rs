//! The store's traits behave the same on sled and on PostgreSQL: sequences
//! of jobs and runs (saved, read per tenant, listed a page at a time,
//! queued, taken, checkpointed, written by the attempt holding them, taken
//! over) and of the records beside them (run logs, schedules, idempotency
//! records, plugins and registry events, secrets, webhooks and notices)
//! are played against each backend
//! and must answer alike.

use jobhost::job_type::JobTypeId;
use jobhost::model::{
    Job, JobId, JobRun, Lease, LogLevel, LogSource, PluginOrigin, PluginRecord, PluginStatus,
    RegistryEvent, RegistryEventKind, RunStatus, ScheduleState, TenantId, now,
};
use jobhost::store::postgres::{Database, DatabaseConfig, Postgres};
use jobhost::store::{
    Created, IdempotencyStore, JobFilter, JobStore, LogFilter, LogRecord, LogStore, Order,
    PluginStore, Remembered, RunFilter, RunStore, ScheduleStore, Sled, Store, StoreError,
    decode_cursor, idempotency_slot,
};
use jobhost::vault::Vault;
use std::collections::HashMap;
use std::sync::Arc;

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

/// Plays logs, schedules, idempotency records and the registry against
/// `store`; returns what it saw.
fn play_records(
    store: &(impl JobStore + RunStore + LogStore + ScheduleStore + IdempotencyStore + PluginStore),
) -> Vec<String> {
    let mut seen = Vec::new();
    let stats = job("acme", "text_stats");
    store.put_job(&stats).unwrap();
    let run = JobRun::pending(&stats, stats.config.clone(), "user@example.com");
    store.insert_run(&run).unwrap();

    // A run's log: appended, paged after a cursor, filtered by level.
    seen.push(format!(
        "next seq: {}",
        store.next_log_seq(run.uuid).unwrap()
    ));
    for seq in 0..5u32 {
        let level = if seq % 2 == 0 {
            LogLevel::Info
        } else {
            LogLevel::Error
        };
        let line = LogRecord {
            seq,
            attempt: 1,
            timestamp: now(),
            level,
            source: LogSource::Plugin,
            message: format!("line {seq}"),
        };
        store.append_log(run.uuid, &line).unwrap();
    }
    seen.push(format!(
        "next seq: {}",
        store.next_log_seq(run.uuid).unwrap()
    ));
    let messages =
        |lines: &[LogRecord]| lines.iter().map(|l| l.message.clone()).collect::<Vec<_>>();
    let (page, cursor) = store.logs(run.uuid, &LogFilter::default(), 2, 100).unwrap();
    seen.push(format!("logs: {:?} then after {cursor:?}", messages(&page)));
    let after = LogFilter {
        after_seq: cursor,
        ..LogFilter::default()
    };
    let (rest, end) = store.logs(run.uuid, &after, 10, 100).unwrap();
    seen.push(format!("rest: {:?} end {end:?}", messages(&rest)));
    let errors = LogFilter {
        min_level: Some(LogLevel::Warn),
        ..LogFilter::default()
    };
    let (errors, _) = store.logs(run.uuid, &errors, 10, 3).unwrap();
    seen.push(format!("errors within 3 lines: {:?}", messages(&errors)));

    // Schedules.
    let mut state = ScheduleState {
        tenant: stats.tenant.clone(),
        job_id: stats.uuid,
        paused: false,
        cursor: now(),
        next_run_at: None,
        last_scheduled_at: None,
        last_run: None,
        skipped_ticks: 0,
        last_error: None,
    };
    store.put_schedule_state(&state).unwrap();
    state.skipped_ticks = 3;
    store.put_schedule_state(&state).unwrap();
    seen.push(format!(
        "schedule: {:?}, {} in all",
        store
            .schedule_state(stats.uuid)
            .unwrap()
            .map(|s| s.skipped_ticks),
        store.schedule_states().unwrap().len()
    ));
    store.remove_schedule_state(stats.uuid).unwrap();
    seen.push(format!(
        "removed: {:?}",
        store
            .schedule_state(stats.uuid)
            .unwrap()
            .map(|s| s.skipped_ticks)
    ));

    // Idempotency: found until it expires, and only with what it created.
    let slot = idempotency_slot(&stats.tenant, "token-1", "key-1");
    let first = |created, ttl| Remembered {
        digest: "d".into(),
        created,
        status: 201,
        body: serde_json::json!({"id": 1}),
        expires_at: now() + time::Duration::seconds(ttl),
    };
    store
        .remember(&slot, &first(Created::Run(run.uuid), 60))
        .unwrap();
    seen.push(format!(
        "remembered: {:?}",
        store.remembered(&slot, now()).unwrap().map(|r| r.status)
    ));
    seen.push(format!(
        "an hour on: {:?}",
        store
            .remembered(&slot, now() + time::Duration::hours(1))
            .unwrap()
            .map(|r| r.status)
    ));
    let orphan = idempotency_slot(&stats.tenant, "token-1", "key-2");
    store
        .remember(&orphan, &first(Created::Job(JobId::new()), 60))
        .unwrap();
    seen.push(format!(
        "naming a job never stored: {:?}",
        store.remembered(&orphan, now()).unwrap().map(|r| r.status)
    ));
    let gone = idempotency_slot(&stats.tenant, "token-1", "key-3");
    store
        .remember(&gone, &first(Created::Run(run.uuid), -1))
        .unwrap();
    seen.push(format!(
        "expired dropped: {}",
        store.forget_expired(now()).unwrap()
    ));

    // Plugins and registry events.
    let plugin = |version: &str| PluginRecord {
        job_type: "text_stats".into(),
        version: version.parse().unwrap(),
        origin: PluginOrigin::Published,
        sha256: "ab".repeat(32),
        size_bytes: 1000,
        status: PluginStatus::Active,
        status_reason: None,
        published_by: Some("ops".into()),
        published_at: Some(now()),
        grant: None,
        updated_at: now(),
    };
    for v in ["1.2.0", "1.10.0"] {
        store.put_plugin(&plugin(v)).unwrap();
    }
    let mut yanked = plugin("1.2.0");
    yanked.status = PluginStatus::Yanked;
    store.put_plugin(&yanked).unwrap();
    seen.push(format!(
        "plugins: {:?}",
        store
            .plugins()
            .unwrap()
            .iter()
            .map(|p| format!("{} {:?}", p.version, p.status))
            .collect::<Vec<_>>()
    ));
    store
        .delete_plugin("text_stats", &"1.10.0".parse().unwrap())
        .unwrap();
    seen.push(format!(
        "deleted: {:?}",
        store
            .plugin("text_stats", &"1.10.0".parse().unwrap())
            .unwrap()
            .is_none()
    ));
    let events: Vec<RegistryEvent> = (0..3)
        .map(|i| RegistryEvent {
            uuid: uuid::Uuid::now_v7(),
            kind: RegistryEventKind::Published,
            job_type: Some("text_stats".into()),
            version: None,
            status: None,
            sha256: None,
            source: "api".into(),
            actor: format!("ops-{i}"),
            message: None,
            at: now(),
        })
        .collect();
    for e in &events {
        store.add_registry_event(e).unwrap();
    }
    let after_first = store.registry_events(Some(events[0].uuid), 10).unwrap();
    seen.push(format!(
        "events after the first: {:?}",
        after_first
            .iter()
            .map(|e| e.actor.clone())
            .collect::<Vec<_>>()
    ));
    seen.push(format!(
        "first two: {}",
        store.registry_events(None, 2).unwrap().len()
    ));
    seen
}

/// Plays secrets, webhooks and notices against `store` (through the
/// facade the server uses); returns what it saw.
fn play_deliveries(store: &Store) -> Vec<String> {
    let mut seen = Vec::new();
    let acme = TenantId("acme".into());
    // Secrets: sealed, listed without values, capped per tenant elsewhere.
    let (_, new) = store.put_secret(&acme, "api_key", "s3cret", "ops").unwrap();
    let (_, again) = store
        .put_secret(&acme, "api_key", "s3cret-2", "ops")
        .unwrap();
    seen.push(format!("secret new: {new}, then {again}"));
    seen.push(format!(
        "value: {:?}",
        store
            .secret_value(&acme, "api_key")
            .unwrap()
            .map(|v| v.expose().to_string())
    ));
    seen.push(format!(
        "listed: {:?}",
        store
            .secrets(&acme)
            .unwrap()
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    ));
    seen.push(format!(
        "another tenant's: {:?}",
        store
            .secret_value(&TenantId("globex".into()), "api_key")
            .unwrap()
            .is_some()
    ));
    seen.push(format!(
        "deleted: {} then {}",
        store.delete_secret(&acme, "api_key").unwrap(),
        store.delete_secret(&acme, "api_key").unwrap()
    ));
    let signing = store.webhook_secret(&acme).unwrap();
    seen.push(format!(
        "signing secret kept: {}",
        store.webhook_secret(&acme).unwrap() == signing && signing.len() == 64
    ));

    // A run with a callback: paused and resumed (notices), then ended (its
    // webhook), each queued with the move that owes it.
    let mut stats = job("acme", "text_stats");
    stats.callback_url = Some("https://hooks.example.com/done".into());
    store.put_job(&stats).unwrap();
    let mut run = JobRun::pending(&stats, stats.config.clone(), "user@example.com");
    run.callback_url = stats.callback_url.clone();
    store.insert_run(&run).unwrap();
    let (held, _) = store
        .claim_next(&HashMap::new(), usize::MAX, &mut |r| {
            Ok(running(r, "host-a/0"))
        })
        .unwrap()
        .unwrap();
    let mut paused = held.clone();
    paused.status = RunStatus::Paused;
    store.update_held(&paused, "host-a/0", 1).unwrap();
    let mut resumed = paused.clone();
    resumed.status = RunStatus::Running;
    store.update_held(&resumed, "host-a/0", 1).unwrap();
    let notices = store.queued_notices().unwrap();
    let (id, seq, _) = notices[0];
    seen.push(format!(
        "first notice: {:?} of the run: {}",
        store.notice(id, seq).unwrap().map(|n| n.event.header()),
        id == run.uuid
    ));
    store.done_notice(id, seq).unwrap();
    let (id, seq, _) = store.queued_notices().unwrap()[0];
    let mut later = store.notice(id, seq).unwrap().unwrap();
    later.due_ms = 99;
    later.attempts = 1;
    store.requeue_notice(id, seq, &later).unwrap();
    seen.push(format!(
        "then: {:?}",
        store
            .queued_notices()
            .unwrap()
            .iter()
            .map(|n| (n.2, store.notice(n.0, n.1).unwrap().unwrap().event.header()))
            .collect::<Vec<_>>()
    ));
    store.done_notice(id, seq).unwrap();
    let mut done = resumed.clone();
    done.status = RunStatus::Completed;
    store.end_attempt(None, &done, "host-a/0", 1).unwrap();
    seen.push(format!(
        "webhooks: {:?}",
        store
            .queued_webhooks()
            .unwrap()
            .iter()
            .map(|(r, due)| (*r == run.uuid, *due))
            .collect::<Vec<_>>()
    ));
    let mut dues = Vec::new();
    while let Some(due) = store
        .webhook_failed(run.uuid, 1000, 10, "the store failed")
        .unwrap()
    {
        dues.push(due);
    }
    seen.push(format!("retried at {dues:?}, then set aside"));
    seen.push(format!(
        "aside: {:?}, queued: {}",
        store
            .webhooks_set_aside()
            .unwrap()
            .iter()
            .map(|(_, why)| why["tries"].clone())
            .collect::<Vec<_>>(),
        store.queued_webhooks().unwrap().len()
    ));
    store.queue_webhook(run.uuid, 5).unwrap();
    store.done_webhook(run.uuid).unwrap();
    seen.push(format!("done: {}", store.queued_webhooks().unwrap().len()));
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
