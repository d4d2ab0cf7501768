//! `jobhost serve --database`: the server stores in PostgreSQL (migrated at
//! start) and keeps what it stored across a kill. Several hosts on one
//! database: `several_hosts`.

use crate::server::Server;
use serde_json::json;

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
