//! The sequences of records beside jobs and runs: run logs, schedules,
//! idempotency records, plugins and registry events; secrets, webhooks and
//! notices (through the store the server uses).

use super::{job, running};
use jobhost::model::{
    JobId, JobRun, LogLevel, LogSource, PluginOrigin, PluginRecord, PluginStatus, RegistryEvent,
    RegistryEventKind, RunStatus, ScheduleState, TenantId, now,
};
use jobhost::store::{
    Created, IdempotencyStore, JobStore, LogFilter, LogRecord, LogStore, PluginStore, Remembered,
    RunStore, ScheduleStore, Store, idempotency_slot,
};
use std::collections::HashMap;

/// Plays logs, schedules, idempotency records and the registry against
/// `store`; returns what it saw.
pub(super) fn play_records(
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
pub(super) fn play_deliveries(store: &Store) -> Vec<String> {
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
