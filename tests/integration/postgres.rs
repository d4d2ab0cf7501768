//! PostgreSQL as the shared store (in progress): `jobhost migrate` against a
//! throwaway cluster ([`jobhost_test_support::postgres`]). Without
//! PostgreSQL these tests are skipped with a message, except under CI (`CI`
//! set), where they fail.

use jobhost::store::postgres::MIGRATIONS;
use jobhost_test_support::postgres::Postgres;
use std::process::{Command, Output};

/// A fresh cluster, or `None` (skipped) where PostgreSQL is not installed
/// and CI does not require it.
fn cluster() -> Option<Postgres> {
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
            "SELECT string_agg(version::text, ',') FROM jobhost_schema",
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
