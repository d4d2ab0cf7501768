//! Store tests on a temporary database.

use super::prelude::*;
use super::*;
use crate::job_type::JobTypeId;
use crate::model::{Job, JobId, JobRun, now};
use serde_json::json;

/// A pending run of `job_type` 1.0.0 with an empty config.
pub(crate) fn run(tenant: &str, job: JobId, job_type: &str, priority: i32) -> JobRun {
    let mut parent = Job::new(
        TenantId(tenant.into()),
        JobTypeId::parse(job_type).unwrap(),
        semver::Version::new(1, 0, 0),
        json!({}),
        "a@example.com",
    );
    parent.uuid = job;
    parent.name = "j".into();
    parent.priority = priority;
    JobRun::pending(&parent, json!({}), "a@example.com")
}

/// Opens a database again after a handle to it was dropped: sled's
/// background flusher lets go of the directory's lock shortly after, so a
/// reopen at once may find it still held.
pub(super) fn until_unlocked<T, E: std::fmt::Debug>(open: impl Fn() -> Result<T, E>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match open() {
            Ok(t) => return t,
            Err(e) if std::time::Instant::now() >= deadline => panic!("reopening: {e:?}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

pub(super) fn open() -> (tempfile::TempDir, Sled) {
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn runs_are_tenant_scoped_paged_and_filtered() {
    let (_d, s) = open();
    let t = TenantId("t1".into());
    let (job_a, job_b) = (JobId::new(), JobId::new());
    let mut ids = Vec::new();
    for i in 0..25 {
        let r = run(
            "t1",
            if i % 2 == 0 { job_a } else { job_b },
            if i % 3 == 0 { "x" } else { "y" },
            0,
        );
        s.insert_run(&r).unwrap();
        ids.push(r.uuid);
    }
    s.insert_run(&run("t2", job_a, "x", 0)).unwrap();
    ids.reverse();

    let p1 = s.list_runs(&t, &RunFilter::default(), None, 10).unwrap();
    assert_eq!(
        p1.items.iter().map(|r| r.uuid).collect::<Vec<_>>(),
        ids[..10]
    );
    let c = decode_cursor(p1.next_cursor.as_deref().unwrap()).unwrap();
    let p2 = s.list_runs(&t, &RunFilter::default(), Some(c), 20).unwrap();
    assert_eq!(p2.items.len(), 15);
    assert!(p2.next_cursor.is_none());

    let by_job = RunFilter {
        job_id: Some(job_a),
        ..Default::default()
    };
    assert_eq!(s.list_runs(&t, &by_job, None, 100).unwrap().items.len(), 13);
    // A job's open runs come through the open-run index, its ended ones
    // through the job's: the same runs either way.
    let mut ended = s.run_any_tenant(ids[0]).unwrap().unwrap();
    ended.status = RunStatus::Cancelled;
    s.update_run(RunStatus::Pending, &ended).unwrap();
    let of_a = |statuses: Vec<RunStatus>| {
        let filter = RunFilter {
            job_id: Some(job_a),
            statuses,
            ..Default::default()
        };
        s.list_runs(&t, &filter, None, 100).unwrap().items
    };
    let open = of_a(vec![RunStatus::Pending, RunStatus::Running]);
    assert_eq!(open.len(), 12);
    assert!(
        open.iter()
            .all(|r| r.job_id == job_a && r.status == RunStatus::Pending)
    );
    assert_eq!(of_a(vec![RunStatus::Cancelled]).len(), 1);
    assert_eq!(
        of_a(vec![RunStatus::Pending, RunStatus::Cancelled]).len(),
        13
    );
    let by_type = RunFilter {
        job_types: vec!["x".into()],
        ..Default::default()
    };
    assert_eq!(s.list_runs(&t, &by_type, None, 100).unwrap().items.len(), 9);
    let other = s
        .list_runs(&TenantId("t2".into()), &RunFilter::default(), None, 100)
        .unwrap();
    assert_eq!(other.items.len(), 1);
    assert!(
        s.run(&TenantId("t2".into()), ids[0]).unwrap().is_none(),
        "another tenant's run is invisible"
    );
    // The newest run (i = 24) belongs to job_a.
    assert_eq!(s.latest_run(&t, job_a).unwrap().unwrap().uuid, ids[0]);
}

#[test]
fn status_changes_move_the_indexes_and_the_queue() {
    let (_d, s) = open();
    let t = TenantId("t".into());
    let job = JobId::new();
    let low = run("t", job, "x", 0);
    let high = run("t", job, "x", 5);
    s.insert_run(&low).unwrap();
    s.insert_run(&high).unwrap();
    assert_eq!(s.queue_len().unwrap(), 2);
    assert_eq!(
        s.pop_queue().unwrap(),
        Some(high.uuid),
        "higher priority first"
    );

    let mut running = high.clone();
    running.status = RunStatus::Running;
    s.update_run(RunStatus::Pending, &running).unwrap();
    assert!(matches!(
        s.update_run(RunStatus::Pending, &running),
        Err(StoreError::Conflict)
    ));
    let pending = RunFilter {
        statuses: vec![RunStatus::Pending],
        ..Default::default()
    };
    let items = s.list_runs(&t, &pending, None, 10).unwrap().items;
    assert_eq!(
        items.iter().map(|r| r.uuid).collect::<Vec<_>>(),
        vec![low.uuid]
    );
    assert_eq!(
        s.runs_in_status(RunStatus::Running)
            .unwrap()
            .iter()
            .map(|r| r.uuid)
            .collect::<Vec<_>>(),
        vec![high.uuid]
    );

    let mut cancelled = low.clone();
    cancelled.status = RunStatus::Cancelled;
    s.update_run(RunStatus::Pending, &cancelled).unwrap();
    assert_eq!(
        s.pop_queue().unwrap(),
        None,
        "a cancelled run leaves the queue"
    );
    let both = RunFilter {
        statuses: vec![RunStatus::Running, RunStatus::Cancelled],
        ..Default::default()
    };
    assert_eq!(s.list_runs(&t, &both, None, 10).unwrap().items.len(), 2);
}

#[test]
fn time_filters_are_exclusive_bounds() {
    let (_d, s) = open();
    let t = TenantId("t".into());
    let job = JobId::new();
    let first = run("t", job, "x", 0);
    s.insert_run(&first).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = run("t", job, "x", 0);
    s.insert_run(&second).unwrap();
    let after = RunFilter {
        created_after: Some(first.created_at),
        ..Default::default()
    };
    let items = s.list_runs(&t, &after, None, 10).unwrap().items;
    assert_eq!(
        items.iter().map(|r| r.uuid).collect::<Vec<_>>(),
        vec![second.uuid]
    );
    let before = RunFilter {
        created_before: Some(second.created_at),
        ..Default::default()
    };
    let items = s.list_runs(&t, &before, None, 10).unwrap().items;
    assert_eq!(
        items.iter().map(|r| r.uuid).collect::<Vec<_>>(),
        vec![first.uuid]
    );
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let r = run("t", JobId::new(), "x", 0);
    {
        let s = Sled::open(dir.path()).unwrap();
        s.insert_run(&r).unwrap();
        let mut running = r.clone();
        running.status = RunStatus::Running;
        s.update_run(RunStatus::Pending, &running).unwrap();
        s.save_checkpoint(r.uuid, running.attempt, b"state")
            .unwrap();
        s.update_run(RunStatus::Running, &r).unwrap();
        s.flush_blocking().unwrap();
    }
    let s = until_unlocked(|| Sled::open(dir.path()));
    assert_eq!(
        s.run(&TenantId("t".into()), r.uuid).unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        s.checkpoint(r.uuid).unwrap().as_deref(),
        Some(&b"state"[..])
    );
    assert_eq!(s.pop_queue().unwrap(), Some(r.uuid));
}

/// What a crash between the single-key writes of a change can leave: index
/// entries without a record, or pointing at a record in another status.
#[test]
fn entries_an_interrupted_change_left_are_skipped_and_cleaned() {
    let (_d, s) = open();
    let t = TenantId("t".into());
    let job = JobId::new();
    let mut done = run("t", job, "x", 0);
    s.insert_run(&done).unwrap();
    assert_eq!(s.pop_queue().unwrap(), Some(done.uuid));
    done.status = RunStatus::Running;
    s.update_run(RunStatus::Pending, &done).unwrap();
    done.status = RunStatus::Completed;
    s.update_run(RunStatus::Running, &done).unwrap();
    // The new status entries of a change that never wrote its record, and
    // the entries of a run whose record was never written.
    let ghost = run("t", job, "x", 0);
    for k in keys::run_index_keys(&t, job, "x", RunStatus::Running, done.uuid)
        .into_iter()
        .chain(keys::run_index_keys(
            &t,
            job,
            "x",
            RunStatus::Pending,
            ghost.uuid,
        ))
    {
        s.run_index.insert(k, &[]).unwrap();
    }

    for statuses in [vec![RunStatus::Running], vec![RunStatus::Pending]] {
        let filter = RunFilter {
            statuses,
            ..Default::default()
        };
        assert!(s.list_runs(&t, &filter, None, 10).unwrap().items.is_empty());
    }
    let all = s.list_runs(&t, &RunFilter::default(), None, 10).unwrap();
    assert_eq!(
        all.items.iter().map(|r| r.uuid).collect::<Vec<_>>(),
        vec![done.uuid]
    );
    assert!(s.runs_in_status(RunStatus::Running).unwrap().is_empty());
    assert!(s.runs_in_status(RunStatus::Pending).unwrap().is_empty());
    let left: Vec<_> = [
        keys::global_status(RunStatus::Running),
        keys::OPEN_RUNS.to_vec(),
    ]
    .into_iter()
    .flat_map(|prefix| s.run_index.scan_prefix(prefix).keys())
    .collect();
    assert!(left.is_empty(), "stale entries were removed: {left:?}");
    assert_eq!(
        s.list_runs(&t, &RunFilter::default(), None, 10)
            .unwrap()
            .items,
        vec![done.clone()]
    );
}

#[test]
fn logs_page_filter_continue_across_attempts_and_expire() {
    use crate::model::{LogLevel, LogSource};
    let (_d, s) = open();
    let run = RunId::new();
    let line = |seq, level| LogRecord {
        seq,
        attempt: 1,
        timestamp: now(),
        level,
        source: LogSource::Plugin,
        message: format!("line {seq}"),
    };
    assert_eq!(s.next_log_seq(run).unwrap(), 0);
    for (seq, level) in [
        (0, LogLevel::Info),
        (1, LogLevel::Error),
        (2, LogLevel::Debug),
    ] {
        s.append_log(run, &line(seq, level)).unwrap();
    }
    assert_eq!(s.next_log_seq(run).unwrap(), 3, "a retry appends after");
    let all = |f: &LogFilter, limit| s.logs(run, f, limit, 100).unwrap();
    let (page, next) = all(&LogFilter::default(), 2);
    assert_eq!((page.len(), next), (2, Some(1)));
    let (rest, next) = all(
        &LogFilter {
            after_seq: Some(1),
            ..Default::default()
        },
        2,
    );
    assert_eq!((rest[0].seq, rest.len(), next), (2, 1, None));
    let (errors, _) = all(
        &LogFilter {
            min_level: Some(LogLevel::Warn),
            ..Default::default()
        },
        10,
    );
    assert_eq!(errors.iter().map(|l| l.seq).collect::<Vec<_>>(), [1]);

    // Logs of runs created before the cutoff go; younger ones stay.
    let mut old = [0u8; 16];
    old[..6].copy_from_slice(&1_000u64.to_be_bytes()[2..]);
    old[6] = 0x70;
    let old = RunId::from_slice(&old).unwrap();
    s.append_log(old, &line(0, LogLevel::Info)).unwrap();
    let cutoff = (now().unix_timestamp_nanos() / 1_000_000) as u64 - 3_600_000;
    assert_eq!(s.drop_logs_before(cutoff).unwrap(), 1);
    assert_eq!(s.next_log_seq(old).unwrap(), 0);
    assert_eq!(s.next_log_seq(run).unwrap(), 3);
}

#[test]
fn writes_of_an_attempt_that_lost_its_lease_are_refused() {
    use crate::model::{Lease, now};
    let (_d, s) = open();
    let pending = run("t", JobId::new(), "x", 0);
    s.insert_run(&pending).unwrap();
    let held = |attempt: u32, holder: &str| {
        let mut r = pending.clone();
        r.status = RunStatus::Running;
        r.attempt = attempt;
        r.lease = Some(Lease {
            holder: holder.into(),
            expires_at: now(),
        });
        r
    };
    // Attempt 1 starts under worker a/0 and reports progress.
    let mut first = held(1, "a/0");
    s.update_run(RunStatus::Pending, &first).unwrap();
    first.progress = 10;
    s.update_held(&first, "a/0", 1).unwrap();
    assert!(matches!(
        s.update_held(&first, "b/0", 1),
        Err(StoreError::Stale { .. })
    ));
    // Its lease lapses: attempt 2 is queued, then taken by worker a/1.
    let mut second = pending.clone();
    second.attempt = 2;
    s.update_run(RunStatus::Running, &second).unwrap();
    s.update_run(RunStatus::Pending, &held(2, "a/1")).unwrap();
    // The first worker wakes up: its result, progress and checkpoint are refused.
    first.status = RunStatus::Completed;
    first.lease = None;
    assert!(matches!(
        s.update_held(&first, "a/0", 1),
        Err(StoreError::Stale { attempt: 1, .. })
    ));
    assert!(matches!(
        s.update_run(RunStatus::Running, &first),
        Err(StoreError::Stale { attempt: 1, .. })
    ));
    assert!(matches!(
        s.save_checkpoint(pending.uuid, 1, b"old"),
        Err(StoreError::Stale { .. })
    ));
    s.save_checkpoint(pending.uuid, 2, b"new").unwrap();
    let stored = s.run_any_tenant(pending.uuid).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Running);
    assert_eq!(stored.attempt, 2);
    assert_eq!(stored.lease.unwrap().holder, "a/1");
    assert_eq!(
        s.checkpoint(pending.uuid).unwrap().as_deref(),
        Some(&b"new"[..])
    );
}

/// A database whose run index has the first layout (an entry per open
/// status, per tenant and for all tenants) opens with open runs under the
/// entries of the second, found by status lists and recovery as before.
#[test]
fn a_first_layout_run_index_is_upgraded_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId("t".into());
    let job = JobId::new();
    let (pending, mut running, mut done) = (
        run("t", job, "x", 0),
        run("t", job, "x", 0),
        run("t", job, "x", 0),
    );
    running.status = RunStatus::Running;
    done.status = RunStatus::Completed;
    {
        let s = Sled::open(dir.path()).unwrap();
        s.db.remove(b"run_index_layout").unwrap();
        for r in [&pending, &running, &done] {
            let id = r.uuid.bytes();
            let mut old = vec![
                keys::with_id(keys::tenant_runs(&t), id),
                keys::with_id(keys::status_runs(&t, r.status), id),
            ];
            if !r.status.is_terminal() {
                old.push(keys::with_id(keys::global_status(r.status), id));
            }
            for k in old {
                s.run_index.insert(k, &[]).unwrap();
            }
            s.runs.insert(id, encode(r)).unwrap();
        }
        s.flush_blocking().unwrap();
    }
    let s = until_unlocked(|| Sled::open(dir.path()));
    let ids = |statuses: Vec<RunStatus>| {
        let filter = RunFilter {
            statuses,
            ..Default::default()
        };
        s.list_runs(&t, &filter, None, 10)
            .unwrap()
            .items
            .into_iter()
            .map(|r| r.uuid)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(vec![RunStatus::Pending]), vec![pending.uuid]);
    assert_eq!(ids(vec![RunStatus::Running]), vec![running.uuid]);
    assert_eq!(ids(vec![RunStatus::Completed]), vec![done.uuid]);
    assert_eq!(ids(vec![RunStatus::Pending, RunStatus::Running]).len(), 2);
    let found = |st| {
        s.runs_in_status(st)
            .unwrap()
            .into_iter()
            .map(|r| r.uuid)
            .collect::<Vec<_>>()
    };
    assert_eq!(found(RunStatus::Pending), vec![pending.uuid]);
    assert_eq!(found(RunStatus::Running), vec![running.uuid]);
    for st in [RunStatus::Pending, RunStatus::Running, RunStatus::Paused] {
        assert_eq!(
            s.run_index.scan_prefix(keys::status_runs(&t, st)).count(),
            0,
            "old per-tenant {st:?} entries are gone"
        );
    }
    assert_eq!(
        s.run_index.scan_prefix([keys::RUNS_GLOBAL_STATUS]).count(),
        0,
        "no all-tenants entries are left"
    );
    assert_eq!(s.run_index.scan_prefix(keys::open_runs(&t)).count(), 2);
    assert_eq!(
        s.db.get(b"run_index_layout").unwrap().as_deref(),
        Some(&[2u8][..])
    );
}
