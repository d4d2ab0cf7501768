//! Every type the store persists survives encode → decode unchanged, in
//! every variant: what the store writes, it can read back. Each enum's
//! variants are listed through an exhaustive `match`, so a new variant does
//! not compile until it is added here.

use super::prelude::*;
use super::tests::run;
use super::{LogRecord, Record, Sled, encode};
use crate::model::{
    Grant, GrantSource, Job, JobId, JobRun, Lease, PluginOrigin, PluginRecord, PluginStatus,
    RegistryEvent, RegistryEventKind, RunErrorInfo, RunErrorKind, RunStatus, TenantId, now,
};
use crate::model::{LogLevel, LogSource, OutputData, OutputReference, Receipt, StopReason};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// A store to decode with, and the directory it lives in.
fn store() -> (tempfile::TempDir, Sled) {
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path()).unwrap();
    (dir, store)
}

/// Encodes and decodes `value` as the store does, and compares.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(store: &Sled, value: &T) {
    let bytes = encode(value);
    let back: T = store
        .decode(Record::Run, &[0; 16], &bytes)
        .unwrap_or_else(|e| {
            panic!(
                "{value:?} does not decode from what it encodes to ({}): {e}",
                String::from_utf8_lossy(&bytes)
            )
        });
    assert_eq!(&back, value, "{}", String::from_utf8_lossy(&bytes));
}

fn stop_reasons() -> Vec<StopReason> {
    use StopReason::*;
    let all = vec![
        Timeout,
        Memory,
        Table,
        Fuel,
        Stack,
        HostCalls,
        OutputSize,
        CheckpointSize,
        Cancelled,
    ];
    for r in &all {
        match r {
            Timeout | Memory | Table | Fuel | Stack | HostCalls | OutputSize | CheckpointSize
            | Cancelled => {}
        }
    }
    all
}

fn output_data() -> Vec<OutputData> {
    let all = vec![
        OutputData::Inline(b"{\"a\": 1}\n".to_vec()),
        OutputData::Inline(Vec::new()),
        // Not UTF-8: stored as base64.
        OutputData::Inline(vec![0, 159, 146, 150, 255]),
        OutputData::Location("https://example.com/a.csv".into()),
    ];
    for d in &all {
        match d {
            OutputData::Inline(_) | OutputData::Location(_) => {}
        }
    }
    all
}

fn statuses() -> Vec<RunStatus> {
    for s in RunStatus::ALL {
        match s {
            RunStatus::Pending
            | RunStatus::Running
            | RunStatus::Paused
            | RunStatus::Completed
            | RunStatus::Failed
            | RunStatus::Cancelled => {}
        }
    }
    RunStatus::ALL.to_vec()
}

/// A run with every optional field set.
fn full_run(status: RunStatus) -> JobRun {
    let t = now();
    let mut r = run("acme", JobId::new(), "csv_summary", -3);
    r.config =
        json!({"job_type": "csv_summary", "csv": "a\n1\n", "ratio": 0.5, "nested": [null, true]});
    r.status = status;
    r.attempt = 2;
    r.progress = 42;
    r.progress_message = Some("half way ✓".into());
    r.output = Some(json!({"rows": 1, "x": 1.5}));
    r.output_references = output_data()
        .into_iter()
        .enumerate()
        .map(|(i, data)| OutputReference {
            name: format!("ref-{i}"),
            media_type: "application/octet-stream".into(),
            data,
        })
        .collect();
    r.error = Some(RunErrorInfo {
        kind: RunErrorKind::LimitExceeded,
        message: "stopped".into(),
        limit: Some(StopReason::Memory),
    });
    r.lease = Some(Lease {
        holder: "host-1/0".into(),
        expires_at: t,
    });
    r.receipt = Some(Receipt {
        wall_time_us: 12,
        fuel_consumed: Some(9),
        peak_memory_bytes: 1 << 20,
        host_calls: 3,
        log_bytes: 10,
        log_lines_dropped: 1,
        checkpoints: 2,
        http_requests: 4,
        http_bytes_in: 500,
        http_bytes_out: 20,
        secrets_read: vec!["api_token".into()],
        stopped_by: Some(StopReason::Timeout),
    });
    r.started_at = Some(t);
    r.finished_at = Some(t);
    r.is_deleted = true;
    r.callback_url = Some("https://hooks.example.com/x".into());
    r.callback_attempts = 2;
    r.callback_sent_at = Some(t);
    r.callback_status_code = Some(204);
    r.callback_error = Some("the receiver answered 500".into());
    r.trigger = crate::model::Trigger::Rerun;
    r.rerun_of = Some(crate::model::RunId::new());
    r.next_attempt_at = Some(t);
    r.scheduled_for = Some(t);
    r.retry = crate::model::RetryPolicy {
        jitter: 0.25,
        retry_on: crate::model::RetryOn::of(&[crate::model::Retryable::Fuel]),
        ..crate::model::RetryPolicy::declared(7, 10, 1.5, 100)
    };
    r.attempts = vec![crate::model::Attempt {
        attempt: 1,
        started_at: Some(t),
        finished_at: t,
        status: RunStatus::Failed,
        error: r.error.clone(),
    }];
    r
}

#[test]
fn job_runs_round_trip_in_every_status_with_every_field() {
    let (_dir, s) = store();
    for status in statuses() {
        round_trip(&s, &full_run(status));
        let mut bare = run("acme", JobId::new(), "x", 0);
        bare.status = status;
        round_trip(&s, &bare);
    }
    for limit in stop_reasons() {
        let mut r = full_run(RunStatus::Failed);
        r.error.as_mut().unwrap().limit = Some(limit);
        r.receipt.as_mut().unwrap().stopped_by = Some(limit);
        round_trip(&s, &r);
    }
    for data in output_data() {
        round_trip(
            &s,
            &OutputReference {
                name: "one".into(),
                media_type: "text/plain".into(),
                data,
            },
        );
    }
}

#[test]
fn jobs_round_trip() {
    let (_dir, s) = store();
    let job = Job {
        uuid: JobId::new(),
        tenant: TenantId("acme".into()),
        name: "n".into(),
        description: Some("d".into()),
        job_type: crate::job_type::JobTypeId::parse("text_stats").unwrap(),
        job_type_version: semver::Version::parse("1.2.3-rc.1+build").unwrap(),
        config: json!({"job_type": "text_stats", "text": "x", "top_n": 3}),
        priority: 1000,
        is_deleted: true,
        created_by: "a@example.com".into(),
        created_at: now(),
        updated_at: Some(now()),
        source_session_id: Some(uuid::Uuid::now_v7()),
        source_project_id: Some(uuid::Uuid::now_v7()),
        callback_url: Some("https://example.com/hook".into()),
        retry: Some(crate::model::RetryPolicy::declared(2, 0, 1.0, 0)),
        schedule: Some(crate::model::Schedule {
            cron: "0 9 * * MON-FRI".into(),
            timezone: "Europe/Berlin".into(),
            overlap: crate::model::Overlap::Queue,
            catch_up: crate::model::CatchUp::All,
            catch_up_window_secs: 3600,
        }),
    };
    round_trip(&s, &job);
    round_trip(
        &s,
        &Job {
            description: None,
            updated_at: None,
            source_session_id: None,
            source_project_id: None,
            callback_url: None,
            retry: None,
            schedule: None,
            ..job
        },
    );
}

#[test]
fn log_records_round_trip_at_every_level_and_source() {
    let (_dir, s) = store();
    use LogLevel::*;
    use LogSource::*;
    let levels = [Trace, Debug, Info, Warn, Error];
    let sources = [Plugin, Stdout, Stderr, Host];
    for (level, source) in levels
        .iter()
        .flat_map(|l| sources.iter().map(move |s| (l, s)))
    {
        match (level, source) {
            (Trace | Debug | Info | Warn | Error, Plugin | Stdout | Stderr | Host) => {}
        }
        round_trip(
            &s,
            &LogRecord {
                seq: u32::MAX,
                attempt: 3,
                timestamp: now(),
                level: *level,
                source: *source,
                message: "line \u{1F600} \"quoted\"\n".into(),
            },
        );
    }
}

#[test]
fn plugin_records_and_registry_events_round_trip_in_every_variant() {
    let (_dir, s) = store();
    use PluginStatus::{Active, Deprecated, Yanked};
    use RegistryEventKind::{Approved, LoadFailed, Loaded, Removed, Replaced, StatusChanged};
    let origins = [
        PluginOrigin::Bundled,
        PluginOrigin::Directory,
        PluginOrigin::Published,
    ];
    for origin in origins {
        for status in [Active, Deprecated, Yanked] {
            match (origin, status) {
                (
                    PluginOrigin::Bundled | PluginOrigin::Directory | PluginOrigin::Published,
                    Active | Deprecated | Yanked,
                ) => {}
            }
            let record = PluginRecord {
                job_type: "text_stats".into(),
                version: semver::Version::new(1, 0, 0),
                origin,
                sha256: "ab".repeat(32),
                size_bytes: 1234,
                status,
                status_reason: Some("why".into()),
                published_by: Some("ops@example.com".into()),
                published_at: Some(now()),
                grant: Some(Grant {
                    http: vec!["https://api.example.com".parse().unwrap()],
                    secrets: vec!["api_token".into()],
                    source: GrantSource::Api,
                    sha256: Some("ab".repeat(32)),
                    approved_by: "ops@example.com".into(),
                    approved_at: now(),
                }),
                updated_at: now(),
            };
            round_trip(&s, &record);
            for source in [GrantSource::Bundled, GrantSource::File, GrantSource::Api] {
                match source {
                    GrantSource::Bundled | GrantSource::File | GrantSource::Api => {}
                }
                let mut with = record.clone();
                with.grant.as_mut().unwrap().source = source;
                with.grant.as_mut().unwrap().sha256 = None;
                round_trip(&s, &with);
            }
            round_trip(
                &s,
                &PluginRecord {
                    status_reason: None,
                    published_by: None,
                    published_at: None,
                    grant: None,
                    ..record
                },
            );
        }
    }
    for kind in [
        RegistryEventKind::Published,
        Loaded,
        Replaced,
        Removed,
        StatusChanged,
        Approved,
        LoadFailed,
    ] {
        match kind {
            RegistryEventKind::Published
            | Loaded
            | Replaced
            | Removed
            | StatusChanged
            | Approved
            | LoadFailed => {}
        }
        let event = RegistryEvent {
            uuid: uuid::Uuid::now_v7(),
            kind,
            job_type: Some("text_stats".into()),
            version: Some(semver::Version::new(2, 0, 0)),
            status: Some(Yanked),
            sha256: Some("cd".repeat(32)),
            source: "published:abc".into(),
            actor: "ops@example.com".into(),
            message: Some("m".into()),
            at: now(),
        };
        round_trip(&s, &event);
        round_trip(
            &s,
            &RegistryEvent {
                job_type: None,
                version: None,
                status: None,
                sha256: None,
                message: None,
                ..event
            },
        );
    }
}

/// The same through the store's own writes and reads: a completed run with
/// every kind of output reference reads back as written.
#[test]
fn a_completed_run_with_output_references_reads_back_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path()).unwrap();
    let mut r = run("acme", JobId::new(), "csv_summary", 0);
    store.insert_run(&r).unwrap();
    let tenant = r.tenant.clone();
    let mut done = full_run(RunStatus::Completed);
    done.uuid = r.uuid;
    done.job_id = r.job_id;
    done.tenant = tenant.clone();
    done.lease = None;
    done.is_deleted = false;
    r = done;
    store.update_run(RunStatus::Pending, &r).unwrap();
    assert_eq!(store.run(&tenant, r.uuid).unwrap().as_ref(), Some(&r));
    let listed = store
        .list_runs(&tenant, &super::RunFilter::default(), None, 10)
        .unwrap();
    assert_eq!(listed.items, vec![r.clone()]);
    assert_eq!(store.latest_run(&tenant, r.job_id).unwrap(), Some(r));
}
