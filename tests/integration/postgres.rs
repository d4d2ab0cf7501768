//! PostgreSQL as the shared store (in progress): `jobhost migrate`, and the
//! queue several hosts share, against throwaway clusters
//! ([`jobhost_test_support::postgres`]). Without
//! PostgreSQL these tests are skipped with a message, except under CI (`CI`
//! set), where they fail.

use jobhost::job_type::JobTypeId;
use jobhost::model::{Job, JobRun, Lease, RunStatus, TenantId, now};
use jobhost::store::postgres::{Database, DatabaseConfig, DatabaseError, MIGRATIONS};
use jobhost_test_support::postgres::Postgres;
use std::collections::HashSet;
use std::process::{Command, Output};

/// A fresh cluster, or `None` (skipped) where PostgreSQL is not installed
/// and CI does not require it.
pub(crate) fn cluster() -> Option<Postgres> {
    match Postgres::start() {
        Ok(pg) => Some(pg),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL tests need {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn migrate(url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jobhost"));
    c.args([
        "migrate",
        "--database",
        url,
        "--database-connect-timeout",
        "2",
    ])
    .env_remove("JOBHOST_DATABASE_URL");
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hosts_migrating_together_apply_each_migration_once() {
    let Some(pg) = cluster() else { return };
    let url = pg.create_database("jobhost").unwrap();
    let latest = MIGRATIONS.len();
    let children: Vec<_> = (0..3)
        .map(|_| {
            migrate(&url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut applied = 0;
    for out in &outs {
        let (stdout, stderr) = text(out);
        assert!(out.status.success(), "{stdout}{stderr}");
        if stdout.contains("applied migration 1:") {
            applied += 1;
            assert!(stdout.contains(&format!("at version {latest}")), "{stdout}");
        } else {
            assert!(
                stdout.contains(&format!("is up to date (version {latest})")),
                "{stdout}"
            );
        }
    }
    assert_eq!(applied, 1, "exactly one host applies the migrations");
    let recorded = pg
        .psql(
            "jobhost",
            "SELECT count(*), max(version) FROM jobhost_schema",
        )
        .unwrap();
    assert_eq!(recorded, format!("{latest}|{latest}"));
    let tables = pg
        .psql(
            "jobhost",
            "SELECT count(*) FROM pg_tables WHERE tablename IN \
             ('jobhost_jobs', 'jobhost_runs', 'jobhost_run_logs')",
        )
        .unwrap();
    assert_eq!(tables, "3");
    // The queue's partial index exists and the status check holds.
    let refused = pg.psql(
        "jobhost",
        "INSERT INTO jobhost_runs (id, tenant, job_id, job_type, status, priority, attempt, record) \
         VALUES (gen_random_uuid(), 't', gen_random_uuid(), 'x', 'lost', 0, 0, '{}')",
    );
    assert!(
        refused.unwrap_err().contains("jobhost_runs_status_check"),
        "an unknown status is refused"
    );
    // Again: nothing to do.
    let (stdout, _) = text(&migrate(&url).output().unwrap());
    assert!(stdout.contains("is up to date"), "{stdout}");
}

#[test]
fn a_newer_or_altered_schema_is_refused_and_left_as_it_is() {
    let Some(pg) = cluster() else { return };
    let url = pg.create_database("jobhost").unwrap();
    assert!(migrate(&url).output().unwrap().status.success());

    pg.psql(
        "jobhost",
        "INSERT INTO jobhost_schema (version, name, sha256) VALUES (999, 'from the future', '')",
    )
    .unwrap();
    let out = migrate(&url).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has schema version 999, newer than this build of jobhost knows"),
        "{stderr}"
    );
    pg.psql("jobhost", "DELETE FROM jobhost_schema WHERE version = 999")
        .unwrap();

    pg.psql(
        "jobhost",
        "UPDATE jobhost_schema SET sha256 = 'edited' WHERE version = 1",
    )
    .unwrap();
    let out = migrate(&url).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "migration 1 ({}) was applied to \"jobhost\" on",
            MIGRATIONS[0].name
        )) && stderr.contains("from different SQL"),
        "{stderr}"
    );
    // Nothing was changed by the refused runs.
    let recorded = pg
        .psql(
            "jobhost",
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM jobhost_schema",
        )
        .unwrap();
    let expected: Vec<String> = MIGRATIONS.iter().map(|m| m.version.to_string()).collect();
    assert_eq!(recorded, expected.join(","));
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let socket = format!("host={} user=u dbname=jobs", dir.path().display());
    let out = migrate(&socket).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the database \"jobs\" on {}/.s.PGSQL.5432",
            dir.path().display()
        )),
        "{stderr}"
    );
    // A closed TCP port, with a password in the URL.
    let out = migrate("postgres://alice:hunter2@127.0.0.1:1/jobs")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach the database \"jobs\" on 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // No database named.
    let out = migrate("postgres://alice@127.0.0.1:1").output().unwrap();
    let (_, stderr) = text(&out);
    assert!(stderr.contains("names no database"), "{stderr}");
}

// The shared queue: runs stored, claimed and written through
// `store::postgres::Database`, by several pools standing for several hosts.

/// A migrated database on a fresh cluster, and `hosts` pools on it.
async fn hosts(pg: &Postgres, hosts: usize) -> Vec<Database> {
    let url = pg.create_database("jobhost").unwrap();
    let mut out = Vec::new();
    for _ in 0..hosts {
        let db = Database::connect(&DatabaseConfig::new(url.clone()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        out.push(db);
    }
    out
}

fn pending(tenant: &str, priority: i32) -> JobRun {
    let mut job = Job::new(
        TenantId(tenant.into()),
        JobTypeId::parse("text_stats").unwrap(),
        semver::Version::new(1, 0, 0),
        serde_json::json!({"job_type": "text_stats", "text": "queued"}),
        "user@example.com",
    );
    job.priority = priority;
    JobRun::pending(&job, job.config.clone(), "user@example.com")
}

/// What a worker writes when it takes a run.
fn start(holder: &str) -> impl FnMut(JobRun) -> JobRun + '_ {
    move |mut run| {
        assert_eq!(run.status, RunStatus::Pending);
        run.status = RunStatus::Running;
        run.started_at = Some(now());
        run.lease = Some(Lease {
            holder: holder.to_string(),
            expires_at: now() + time::Duration::seconds(30),
        });
        run
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_sharing_the_queue_take_every_run_exactly_once() {
    let Some(pg) = cluster() else { return };
    let dbs = hosts(&pg, 3).await;
    let mut ids = HashSet::new();
    for i in 0..300 {
        let run = pending(["acme", "globex", "initech"][i % 3], (i % 5) as i32);
        ids.insert(run.uuid);
        dbs[i % 3].insert_run(&run).await.unwrap();
    }
    // 3 hosts with 4 workers each, taking and completing until empty.
    let dbs: Vec<_> = dbs.into_iter().map(std::sync::Arc::new).collect();
    let mut workers = Vec::new();
    for (h, db) in dbs.iter().enumerate() {
        for w in 0..4 {
            let db = db.clone();
            workers.push(tokio::spawn(async move {
                let holder = format!("host-{h}/{w}");
                let mut taken = Vec::new();
                while let Some(mut run) = db.claim_next(usize::MAX, start(&holder)).await.unwrap() {
                    assert_eq!(run.lease.as_ref().unwrap().holder, holder);
                    taken.push(run.uuid);
                    run.status = RunStatus::Completed;
                    run.lease = None;
                    run.finished_at = Some(now());
                    db.update_held(&holder, run.attempt, &run).await.unwrap();
                }
                taken
            }));
        }
    }
    let mut seen = HashSet::new();
    let mut per_host = [0usize; 3];
    for (i, w) in workers.into_iter().enumerate() {
        for id in w.await.unwrap() {
            assert!(seen.insert(id), "run {id} was taken twice");
            per_host[i / 4] += 1;
        }
    }
    assert_eq!(seen, ids, "every run was taken");
    assert!(
        per_host.iter().all(|&n| n > 0),
        "every host took runs: {per_host:?}"
    );
    let db = &dbs[0];
    for tenant in ["acme", "globex", "initech"] {
        let tenant = TenantId(tenant.into());
        assert_eq!(
            db.count_runs(&tenant, RunStatus::Completed).await.unwrap(),
            100
        );
        assert_eq!(db.count_runs(&tenant, RunStatus::Pending).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_tenant_at_its_cap_yields_to_the_others_and_priorities_hold() {
    let Some(pg) = cluster() else { return };
    let dbs = hosts(&pg, 2).await;
    let low = pending("acme", 0);
    let high = pending("acme", 9);
    let third = pending("acme", 0);
    let other = pending("globex", 0);
    // A retry not due yet is not taken.
    let mut later = pending("globex", 99);
    later.next_attempt_at = Some(now() + time::Duration::hours(1));
    for run in [&low, &high, &third, &other, &later] {
        dbs[0].insert_run(run).await.unwrap();
    }
    let cap = 2;
    let mut order = Vec::new();
    for i in 0..5 {
        let holder = format!("host-{}/0", i % 2);
        let taken = dbs[i % 2].claim_next(cap, start(&holder)).await.unwrap();
        order.push(taken.map(|r| r.uuid));
    }
    // Both tenants run nothing: acme first (by name), its highest priority;
    // then globex (fewer running); then acme's oldest of the rest; then
    // acme is at its cap and globex's other run is not due.
    assert_eq!(
        order,
        vec![
            Some(high.uuid),
            Some(other.uuid),
            Some(low.uuid),
            None,
            None
        ]
    );
    let acme = TenantId("acme".into());
    assert_eq!(
        dbs[1].count_runs(&acme, RunStatus::Running).await.unwrap(),
        2
    );
    assert_eq!(
        dbs[1].count_runs(&acme, RunStatus::Pending).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn an_attempt_that_lost_its_run_cannot_write_it() {
    let Some(pg) = cluster() else { return };
    let dbs = hosts(&pg, 2).await;
    let run = pending("acme", 0);
    dbs[0].insert_run(&run).await.unwrap();
    let mut first = dbs[0]
        .claim_next(usize::MAX, start("host-0/0"))
        .await
        .unwrap()
        .unwrap();
    // Its lease lapsed and host 1 took the run over in attempt 2.
    let mut second = first.clone();
    second.attempt = 2;
    second.lease = Some(Lease {
        holder: "host-1/0".into(),
        expires_at: now() + time::Duration::seconds(30),
    });
    dbs[0].update_held("host-0/0", 1, &second).await.unwrap();
    // The first attempt, late, finishes: refused, nothing written.
    first.status = RunStatus::Completed;
    first.lease = None;
    match dbs[0].update_held("host-0/0", 1, &first).await {
        Err(DatabaseError::Stale { attempt: 1, why }) => {
            assert_eq!(why, "it is running in attempt 2 held by host-1/0");
        }
        other => panic!("expected a stale write, got {other:?}"),
    }
    let stored = dbs[1].run_any_tenant(run.uuid).await.unwrap().unwrap();
    assert_eq!(stored, second);
    // The holder of attempt 2 writes it.
    second.status = RunStatus::Completed;
    second.lease = None;
    dbs[1].update_held("host-1/0", 2, &second).await.unwrap();
    let stored = dbs[0].run_any_tenant(run.uuid).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Completed);
    assert_eq!(stored.attempt, 2);
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_by_one_host_and_the_old_holder_fenced_out() {
    let Some(pg) = cluster() else { return };
    let dbs = hosts(&pg, 3).await;
    let run = pending("acme", 0);
    dbs[0].insert_run(&run).await.unwrap();
    let mut stuck = dbs[0]
        .claim_next(usize::MAX, start("host-0/0"))
        .await
        .unwrap()
        .unwrap();
    // Host 0 stops renewing; 30 s on, hosts 1 and 2 look at once.
    let later = now() + time::Duration::seconds(31);
    let retry = |mut run: JobRun| {
        run.status = RunStatus::Pending;
        run.attempt += 1;
        run.lease = None;
        run
    };
    let (a, b) = tokio::join!(
        dbs[1].take_over_lapsed(later, 10, retry),
        dbs[2].take_over_lapsed(later, 10, retry)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 1, "one host takes it over: {a:?} {b:?}");
    // Nothing lapsed at the earlier time.
    assert!(
        dbs[1]
            .take_over_lapsed(now(), 10, retry)
            .await
            .unwrap()
            .is_empty()
    );
    // The old holder's late write is refused.
    stuck.status = RunStatus::Completed;
    let refused = dbs[0].update_held("host-0/0", 1, &stuck).await;
    assert!(
        matches!(refused, Err(DatabaseError::Stale { attempt: 1, .. })),
        "{refused:?}"
    );
    // The run is queued again in attempt 2 and taken by another host.
    let again = dbs[2]
        .claim_next(usize::MAX, start("host-2/0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.uuid, again.attempt), (run.uuid, 2));
}

#[test]
fn one_host_at_a_time_holds_a_duty_and_another_takes_it_when_that_host_goes() {
    use jobhost::store::postgres::Postgres as Store;
    use jobhost::store::{Backend, Duty, RunStore};
    let Some(pg) = cluster() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dbs = runtime.block_on(hosts(&pg, 3));
    let mut stores: Vec<Option<Store>> = dbs
        .into_iter()
        .map(|db| Some(Store::new(db, runtime.handle().clone(), Default::default())))
        .collect();
    let store = |stores: &[Option<Store>], i: usize| -> bool {
        stores[i].as_ref().unwrap().holds(Duty::Schedules)
    };
    assert!(store(&stores, 0), "the first host to ask takes the duty");
    assert!(!store(&stores, 1) && !store(&stores, 2));
    assert!(store(&stores, 0), "and keeps it");
    // Another duty is taken apart: host 1 delivers while host 0 fires ticks.
    assert!(stores[1].as_ref().unwrap().holds(Duty::Deliveries));
    assert!(!stores[0].as_ref().unwrap().holds(Duty::Deliveries));

    // Host 0 goes: within the retry time one other host takes its duty.
    stores[0] = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let holder = loop {
        let holders: Vec<usize> = (1..3).filter(|&i| store(&stores, i)).collect();
        if !holders.is_empty() {
            break holders;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no host took the duty"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(holder.len(), 1, "exactly one host took it: {holder:?}");

    // Every host sees the leases that lapsed, whoever gave them.
    let host = stores[1].as_ref().unwrap();
    let mut lapsed = pending("acme", 0);
    lapsed.status = RunStatus::Running;
    lapsed.lease = Some(Lease {
        holder: "host-0/0".into(),
        expires_at: now() - time::Duration::seconds(1),
    });
    let mut live = pending("acme", 0);
    live.status = RunStatus::Running;
    live.lease = Some(Lease {
        holder: "host-2/0".into(),
        expires_at: now() + time::Duration::seconds(30),
    });
    host.insert_run(&lapsed).unwrap();
    host.insert_run(&live).unwrap();
    assert!(host.shared());
    assert_eq!(
        stores[2]
            .as_ref()
            .unwrap()
            .lapsed_leases(now(), 10)
            .unwrap(),
        vec![lapsed.uuid]
    );
}
