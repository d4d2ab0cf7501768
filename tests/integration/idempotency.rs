//! `Idempotency-Key` on `POST /jobs` and `POST /job-runs`: the first answer
//! replayed for the same request, 422 for another request under the key,
//! 409 while the first is served, keys per tenant and token, expiry, and a
//! client retrying after the server died between commit and answer.

use crate::app::App;
use crate::server::{Api, Server};
use serde_json::{Value, json};

fn key(k: &str) -> [(&'static str, &str); 1] {
    [("Idempotency-Key", k)]
}

fn runs_of(api: &Api, job: &str) -> Vec<Value> {
    let r = api.get(&format!("/job-runs?job_id={job}&limit=100"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

#[test]
fn a_retried_request_gets_the_first_answer_and_creates_nothing() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let job_body = json!({"job_type": "text_stats", "config": {"text": "a b"}});
    let first = api.post_with("/jobs", &job_body, &key("job-1"));
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let job = first.body["uuid"].as_str().unwrap().to_string();
    // The same request spelled another way is the same request.
    let respelled = json!({"config": {"text": "a b"}, "job_type": "text_stats"});
    let again = api.post_with("/jobs", &respelled, &key("job-1"));
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(api.get("/jobs").body["count"], 1);

    let run_body = json!({"job_id": job, "config": {"text": "x"}});
    let first = api.post_with("/job-runs", &run_body, &key("run-1"));
    assert_eq!(first.status, 201, "{}", first.body);
    let run = first.body["uuid"].as_str().unwrap().to_string();
    api.wait_done(&run);
    let again = api.post_with("/job-runs", &run_body, &key("run-1"));
    assert_eq!(
        (again.status, again.header("idempotent-replayed")),
        (201, Some("true"))
    );
    assert_eq!(
        again.body, first.body,
        "the first answer, not the run as it is now"
    );
    assert_eq!(again.body["status"], "pending");
    assert_eq!(runs_of(&api, &job).len(), 1);

    // Another request under a used key is refused; the same key for the
    // other route is another request too.
    let other = api.post_with("/job-runs", &json!({"job_id": job}), &key("run-1"));
    assert_eq!(other.status, 422, "{}", other.body);
    assert_eq!(other.body["error"]["type"], "idempotency_key_reused");
    assert_eq!(other.body["error"]["details"]["idempotency_key"], "run-1");
    let other = api.post_with("/jobs", &job_body, &key("run-1"));
    assert_eq!(other.status, 422, "{}", other.body);

    // Keys belong to a token (and so to a tenant).
    let agent = app.api(&app.agent);
    let mine = agent.post_with("/job-runs", &run_body, &key("run-1"));
    assert_eq!(mine.status, 201, "{}", mine.body);
    assert_eq!(mine.header("idempotent-replayed"), None);
    assert_ne!(mine.body["uuid"], first.body["uuid"]);
    assert_eq!(runs_of(&api, &job).len(), 2);
}

#[test]
fn refused_requests_do_not_use_up_their_key_and_bad_keys_are_named() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let bad = api.post_with(
        "/job-runs",
        &json!({"job_id": job, "config": {"top_n": -1}}),
        &key("k"),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    let good = api.post_with("/job-runs", &json!({"job_id": job}), &key("k"));
    assert_eq!(good.status, 201, "{}", good.body);
    assert_eq!(good.header("idempotent-replayed"), None);

    let long = "k".repeat(256);
    for k in ["", "two words", long.as_str()] {
        let r = api.post_with("/job-runs", &json!({"job_id": job}), &key(k));
        assert_eq!(r.status, 400, "{k:?}: {}", r.body);
        assert_eq!(r.body["error"]["details"]["header"], "Idempotency-Key");
    }
    let twice = api
        .try_send(
            "post",
            "/job-runs",
            Some((
                "application/json",
                json!({"job_id": job}).to_string().into_bytes(),
            )),
            &[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        )
        .unwrap();
    assert_eq!(twice.status, 400, "{}", twice.body);
}

#[test]
fn concurrent_requests_with_one_key_create_one_run() {
    let s = Server::start();
    let api = s.api(&s.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let in_flight = one_key_races(&[s.api(&s.user)], &job);
    assert!(
        in_flight > 0,
        "a request arriving while the first is served gets 409"
    );
}

/// 20 rounds of 12 concurrent requests for a run of `job` under one key
/// (a key per round), spread over `apis`: each round creates exactly one
/// run, every other answer replays it or is 409 (key in use). Returns how
/// many 409s there were.
pub(crate) fn one_key_races(apis: &[Api], job: &str) -> usize {
    let mut in_flight = 0;
    for round in 0..20 {
        let k = format!("race-{round}");
        let barrier = std::sync::Barrier::new(12);
        let replies: Vec<(u16, Option<String>, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..12)
                .map(|i| {
                    let (api, k, barrier) = (&apis[i % apis.len()], &k, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        let r = api.post_with("/job-runs", &json!({"job_id": job}), &key(k));
                        let replayed = r.header("idempotent-replayed").map(String::from);
                        (r.status, replayed, r.body)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let fresh: Vec<_> = replies
            .iter()
            .filter(|r| r.0 == 201 && r.1.is_none())
            .collect();
        assert_eq!(
            fresh.len(),
            1,
            "exactly one request creates the run: {replies:?}"
        );
        for (status, replayed, body) in &replies {
            match status {
                201 => assert_eq!(body["uuid"], fresh[0].2["uuid"]),
                409 => {
                    assert_eq!(body["error"]["type"], "idempotency_key_in_use");
                    in_flight += 1;
                }
                other => panic!("unexpected {other} {replayed:?}: {body}"),
            }
        }
    }
    let runs = runs_of(&apis[0], job);
    assert_eq!(runs.len(), 20, "one run per key");
    in_flight
}

#[test]
fn keys_expire() {
    let app = App::start(&["--idempotency-ttl-secs", "1"]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let first = api.post_with("/job-runs", &json!({"job_id": job}), &key("short"));
    assert_eq!(first.status, 201);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let later = api.post_with(
        "/job-runs",
        &json!({"job_id": job, "priority": 3}),
        &key("short"),
    );
    assert_eq!(
        later.status, 201,
        "an expired key is free again: {}",
        later.body
    );
    assert_eq!(later.header("idempotent-replayed"), None);
}

/// The server dies after the request's writes are on disk and before it
/// answers; the client, left without an answer, retries against the
/// restarted server and gets the first answer: one job, one run.
#[test]
fn a_retry_after_a_crash_between_commit_and_answer_is_answered_from_the_record() {
    let mut s = Server::start();
    let user = s.user.clone();
    let data = s.take_dir().unwrap();
    s.kill();
    let faulty = [("JOBHOST_FAULT", "abort-after-commit")];
    let mut s = Server::spawn_env(data.path(), &[], &faulty);
    let job_body = json!({"job_type": "text_stats", "config": {"text": "a b c"}});
    let sent = s.api(&user).try_send(
        "post",
        "/jobs",
        Some(("application/json", job_body.to_string().into_bytes())),
        &key("crash-job"),
    );
    assert!(
        sent.is_err(),
        "the server died before answering: {:?}",
        sent.map(|r| r.body)
    );
    s.kill();

    let mut s = Server::spawn(data.path(), &[]);
    let api = s.api(&user);
    let retry = api.post_with("/jobs", &job_body, &key("crash-job"));
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(api.get("/jobs").body["count"], 1);
    let job = retry.body["uuid"].as_str().unwrap().to_string();
    s.kill();

    let mut s = Server::spawn_env(data.path(), &[], &faulty);
    let run_body = json!({"job_id": job});
    let sent = s.api(&user).try_send(
        "post",
        "/job-runs",
        Some(("application/json", run_body.to_string().into_bytes())),
        &key("crash-run"),
    );
    assert!(sent.is_err());
    s.kill();

    let s = Server::spawn(data.path(), &[]);
    let api = s.api(&user);
    let retry = api.post_with("/job-runs", &run_body, &key("crash-run"));
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let runs = runs_of(&api, &job);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let done = api.wait_done(retry.body["uuid"].as_str().unwrap());
    assert_eq!(done["output"]["words"], 3);
}
