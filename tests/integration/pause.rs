//! Pausing and resuming runs (seed 001's `paused`): a pending run held out
//! of the queue, a checkpointing run stopped at its next checkpoint and
//! continued from it (across a restart), a run suspended in memory and
//! continued from where it stood (its deadline stopped meanwhile: see
//! `hostile::time_suspended_does_not_count_against_the_deadline`), the cap
//! on runs suspended in memory, and what a restart does to one.

use crate::app::App;
use crate::server::{Api, Server};
use crate::support::HOSTILE;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn post(api: &Api, path: &str) -> crate::server::Reply {
    api.send("post", path, None)
}

fn ts(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// A long prime sieve that checkpoints often (its job type resumes from
/// checkpoints).
fn sieve(api: &Api) -> String {
    api.job(
        "prime_sieve",
        json!({"limit": 400_000_000u64, "segment_size": 65536, "checkpoint_every": 2}),
    )
}

#[test]
fn a_pending_run_is_held_out_of_the_queue_until_resumed() {
    let app = App::start(&["--workers", "1"]);
    let api = app.api(&app.user);
    let busy = api.trigger(&sieve(&api), None);
    api.wait_run(&busy, Duration::from_secs(30), |r| r["status"] == "running");
    let job = api.job("text_stats", json!({"text": "held back"}));
    let run = api.trigger(&job, None);
    let r = post(&api, &format!("/job-runs/{run}/pause"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["status"], &r.body["paused"]["mode"]),
        (&json!("paused"), &json!("queued"))
    );
    assert_eq!(api.get("/job-runs?active=true").body["count"], 2);
    let r = post(&api, &format!("/job-runs/{busy}/cancel"));
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        api.get(&format!("/job-runs/{run}")).body["status"],
        "paused",
        "not run while paused"
    );
    let r = post(&api, &format!("/job-runs/{run}/resume"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("pending")),
        "{}",
        r.body
    );
    assert_eq!(r.body["paused"], Value::Null);
    let done = api.wait_done(&run);
    assert_eq!(
        (&done["status"], &done["output"]["words"]),
        (&json!("completed"), &json!(2))
    );

    // What cannot be paused or resumed.
    let r = post(&api, &format!("/job-runs/{run}/pause"));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("invalid_job_status_transition")),
        "{}",
        r.body
    );
    let pending = api.trigger(&api.job("text_stats", json!({"text": "x"})), None);
    let r = post(&api, &format!("/job-runs/{run}/resume"));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("run_not_paused")),
        "{}",
        r.body
    );
    api.wait_done(&pending);
    let eve = app.api(&app.other_tenant);
    assert_eq!(post(&eve, &format!("/job-runs/{run}/pause")).status, 404);
}

#[test]
fn a_checkpointing_run_pauses_at_a_checkpoint_and_continues_from_it_after_a_restart() {
    let mut s = Server::start();
    let api = s.api(&s.user);
    let job = sieve(&api);
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |r| {
        r["progress"].as_u64().unwrap_or(0) >= 5
    });
    let r = post(&api, &format!("/job-runs/{run}/pause"));
    assert!(matches!(r.status, 200 | 202), "{}", r.body);
    if r.status == 202 {
        assert_eq!(
            (&r.body["status"], &r.body["pause_requested"]),
            (&json!("running"), &json!(true))
        );
    }
    let paused = api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "paused");
    assert_eq!(paused["paused"]["mode"], "checkpoint");
    assert_eq!(paused["pause_requested"], false);
    let at_pause = paused["progress"].as_u64().unwrap();
    assert!(at_pause > 0 && at_pause < 100, "{paused}");

    // It stays paused across a restart.
    let user = s.user.clone();
    let data = s.take_dir().unwrap();
    s.kill();
    let s = Server::spawn(data.path(), &[]);
    let api = s.api(&user);
    std::thread::sleep(Duration::from_millis(500));
    let still = api.get(&format!("/job-runs/{run}")).body;
    assert_eq!(
        (&still["status"], &still["paused"]["mode"]),
        (&json!("paused"), &json!("checkpoint"))
    );

    let r = post(&api, &format!("/job-runs/{run}/resume"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("pending")),
        "{}",
        r.body
    );
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 1, "a pause is not a new attempt");
    assert!(
        done["output"]["resumed_from"].as_u64().unwrap() > 0,
        "it continued from its checkpoint: {done}"
    );
    // The same result as a run never paused.
    let unpaused = api.wait_done(&api.trigger(&job, None));
    assert_eq!(
        done["output"]["prime_count"],
        unpaused["output"]["prime_count"]
    );
    assert_eq!(unpaused["output"]["resumed_from"], Value::Null);
}

#[test]
fn a_run_suspended_in_memory_goes_on_from_where_it_stood() {
    let app = App::start_with(
        &[HOSTILE],
        &["--workers", "1", "--max-paused-in-memory", "1"],
    );
    let api = app.api(&app.user);
    let r = api.post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "compute", "size": 1500}}),
    );
    let job = r.body["uuid"].as_str().unwrap().to_string();
    let unpaused = api.wait_done(&api.trigger(&job, None));
    assert_eq!(unpaused["status"], "completed", "{unpaused}");
    let took = ts(&unpaused["finished_at"]) - ts(&unpaused["started_at"]);
    assert!(
        took > time::Duration::milliseconds(400),
        "the computation is long enough to pause: {took}"
    );

    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
    std::thread::sleep(Duration::from_millis(100));
    let r = post(&api, &format!("/job-runs/{run}/pause"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["status"], &r.body["paused"]["mode"]),
        (&json!("paused"), &json!("in_memory"))
    );

    // Its worker's place is taken: other runs go on meanwhile.
    let other = api.trigger(&api.job("text_stats", json!({"text": "meanwhile"})), None);
    assert_eq!(api.wait_done(&other)["status"], "completed");
    // The cap on runs suspended in memory.
    let second = api.trigger(&job, None);
    api.wait_run(&second, Duration::from_secs(30), |r| {
        r["status"] == "running"
    });
    let r = post(&api, &format!("/job-runs/{second}/pause"));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("too_many_paused")),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["details"]["limit"]["max"], 1);
    post(&api, &format!("/job-runs/{second}/cancel"));

    let paused_for = Duration::from_millis(1500);
    std::thread::sleep(paused_for);
    assert_eq!(
        api.get(&format!("/job-runs/{run}")).body["status"],
        "paused"
    );
    let r = post(&api, &format!("/job-runs/{run}/resume"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("running")),
        "{}",
        r.body
    );
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["output"], unpaused["output"],
        "the same result as a run never paused"
    );
    assert_eq!(done["attempt"], 1);
    let ran = ts(&done["finished_at"]) - ts(&done["started_at"]);
    assert!(
        ran >= time::Duration::try_from(paused_for).unwrap(),
        "{ran}"
    );
}

#[test]
fn a_run_suspended_in_memory_is_cancelled_at_once() {
    let app = App::start_with(&[HOSTILE], &[]);
    let api = app.api(&app.user);
    let r = api.post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "compute", "size": 100000}}),
    );
    let job = r.body["uuid"].as_str().unwrap().to_string();
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
    let r = post(&api, &format!("/job-runs/{run}/pause"));
    assert_eq!(r.status, 200, "{}", r.body);
    let started = Instant::now();
    let r = post(&api, &format!("/job-runs/{run}/cancel"));
    assert_eq!(r.status, 200, "{}", r.body);
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(done["paused"], Value::Null);
}

#[test]
fn a_restart_while_suspended_in_memory_applies_the_interrupted_policy() {
    let mut s = Server::start_with(&[HOSTILE]);
    let api = s.api(&s.user);
    let r = api.post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "compute", "size": 100000}}),
    );
    let job = r.body["uuid"].as_str().unwrap().to_string();
    let run = api.trigger(&job, None);
    api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
    let r = post(&api, &format!("/job-runs/{run}/pause"));
    assert_eq!(
        (r.status, &r.body["paused"]["mode"]),
        (200, &json!("in_memory")),
        "{}",
        r.body
    );
    let user = s.user.clone();
    let data = s.take_dir().unwrap();
    s.kill();
    let s = Server::spawn(data.path(), &[]);
    let api = s.api(&user);
    // hostile restarts interrupted runs: attempt 2 from scratch, and the
    // interrupted attempt says why.
    let now = api.wait_run(&run, Duration::from_secs(30), |r| r["attempt"] == 2);
    assert_eq!(now["paused"], Value::Null);
    let why = now["attempts"][0]["error"]["message"].as_str().unwrap();
    assert!(why.contains("paused in memory"), "{why}");
    post(&api, &format!("/job-runs/{run}/cancel"));
}
