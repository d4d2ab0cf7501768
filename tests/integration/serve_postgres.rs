//! `jobhost serve --database`: the server stores in PostgreSQL (migrated at
//! start), keeps what it stored across a kill, and holds the database for
//! itself: a second host on it is refused until hosts coordinate what they
//! share beyond the store.

use crate::server::Server;
use serde_json::json;
use std::process::Command;

#[test]
fn a_server_stores_in_postgresql_keeps_it_across_a_kill_and_refuses_a_second_host() {
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

    // A second host on the same database is refused, naming the database.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(other.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("another jobhost host is serving the database \"jobhost\""),
        "{stderr}"
    );

    // Killed, the host lets go of the database; started again, it finds
    // the job, the run and its log.
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
