//! `POST /job-runs/batch`: many runs in one request, each validated, all or
//! nothing unless `partial=true`, with per-item idempotency keys.

use crate::app::App;
use serde_json::{Value, json};

fn count(api: &crate::server::Api) -> u64 {
    api.get("/job-runs?limit=100").body["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_batch_queues_every_run_in_one_request() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let a = api.job("text_stats", json!({"text": "a b"}));
    let b = api.job("text_stats", json!({"text": "one"}));
    let r = api.post(
        "/job-runs/batch",
        &json!({"items": [
            {"job_id": a},
            {"job_id": b, "config": {"text": "x y z"}, "priority": 9},
            {"job_id": a, "config": {"top_n": 1}},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["created"].as_u64(), r.body["refused"].as_u64()),
        (Some(3), Some(0))
    );
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(
            (item["index"].as_u64(), item["status"].as_u64()),
            (Some(i as u64), Some(201))
        );
        assert_eq!(item["run"]["trigger"], "api");
    }
    assert_eq!(items[1]["run"]["priority"], 9);
    let words: Vec<Value> = items
        .iter()
        .map(|i| api.wait_done(i["run"]["uuid"].as_str().unwrap())["output"]["words"].clone())
        .collect();
    assert_eq!(words, vec![json!(2), json!(3), json!(2)]);
}

#[test]
fn one_bad_item_refuses_the_batch_unless_partial() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let gone = api.job("text_stats", json!({"text": "a"}));
    assert_eq!(api.delete(&format!("/jobs/{gone}")).status, 200);
    let batch = json!({"items": [
        {"job_id": job},
        {"job_id": job, "config": {"top_n": -1}},
        {"job_id": "01a2055d-2626-70f2-bf11-e827060f2d43"},
        {"job_id": gone},
        {"job_id": job, "priority": 5000},
    ]});
    let r = api.post("/job-runs/batch", &batch);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "batch_refused");
    let refused = r.body["error"]["details"]["items"].as_array().unwrap();
    let got: Vec<(u64, u64, &str)> = refused
        .iter()
        .map(|i| {
            (
                i["index"].as_u64().unwrap(),
                i["status"].as_u64().unwrap(),
                i["error"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 422, "config_invalid"),
            (2, 404, "not_found"),
            (3, 409, "job_deleted"),
            (4, 422, "invalid_field"),
        ]
    );
    assert_eq!(
        refused[0]["error"]["details"]["violations"][0]["pointer"],
        "/top_n"
    );
    assert_eq!(
        refused[3]["error"]["details"]["violations"][0]["pointer"],
        "/priority"
    );
    assert_eq!(count(&api), 0, "nothing was queued");

    let r = api.post("/job-runs/batch?partial=true", &batch);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["created"].as_u64(), r.body["refused"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(r.body["items"][0]["status"], 201);
    assert_eq!(r.body["items"][2]["error"]["type"], "not_found");
    assert_eq!(count(&api), 1);

    let all_bad = json!({"items": [{"job_id": gone}]});
    let r = api.post("/job-runs/batch?partial=true", &all_bad);
    assert_eq!(r.status, 422, "{}", r.body);
}

#[test]
fn batches_are_bounded_and_well_formed() {
    let app = App::start(&["--max-queued-runs", "5", "--workers", "1"]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let r = api.post("/job-runs/batch", &json!({"items": []}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"]["violations"][0]["pointer"],
        "/items"
    );
    let many: Vec<Value> = (0..1001).map(|_| json!({"job_id": job})).collect();
    let r = api.post("/job-runs/batch", &json!({"items": many}));
    assert_eq!(r.status, 422, "{}", r.body);
    let six: Vec<Value> = (0..6).map(|_| json!({"job_id": job})).collect();
    let r = api.post("/job-runs/batch", &json!({"items": six}));
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"]["limit"]["name"],
        "max_queued_runs"
    );
    assert_eq!(count(&api), 0);
    let r = api.post(
        "/job-runs/batch",
        &json!({"items": [{"job_id": job}, {"job_id": "nope"}]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("items[1].job_id"),
        "{}",
        r.body
    );
    let r = api.post(
        "/job-runs/batch",
        &json!({"items": [{"job_id": job, "colour": 1}]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api.post(
        "/job-runs/batch?partial=maybe",
        &json!({"items": [{"job_id": job}]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn items_carry_their_own_idempotency_keys() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let job = api.job("text_stats", json!({"text": "a"}));
    let batch = json!({"items": [
        {"job_id": job, "idempotency_key": "item-a"},
        {"job_id": job, "config": {"text": "b c"}, "idempotency_key": "item-b"},
    ]});
    let first = api.post("/job-runs/batch", &batch);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = api.post("/job-runs/batch", &batch);
    assert_eq!(again.status, 200, "nothing new: {}", again.body);
    assert_eq!(
        (
            again.body["created"].as_u64(),
            again.body["replayed"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(again.body["items"][1]["replayed"], true);
    assert_eq!(again.body["items"][1]["run"], first.body["items"][1]["run"]);
    assert_eq!(count(&api), 2);

    // The same key alone: the run the batch created.
    let single = api.post_with(
        "/job-runs",
        &json!({"job_id": job, "config": {"text": "b c"}}),
        &[("Idempotency-Key", "item-b")],
    );
    assert_eq!(single.status, 201);
    assert_eq!(single.header("idempotent-replayed"), Some("true"));
    assert_eq!(single.body["uuid"], first.body["items"][1]["run"]["uuid"]);

    let r = api.post(
        "/job-runs/batch?partial=true",
        &json!({"items": [
            {"job_id": job, "config": {"text": "other"}, "idempotency_key": "item-a"},
            {"job_id": job, "idempotency_key": "dup"},
            {"job_id": job, "idempotency_key": "dup"},
            {"job_id": job, "idempotency_key": "bad key"},
        ]}),
    );
    assert_eq!(
        r.status, 400,
        "a malformed key is a malformed request: {}",
        r.body
    );
    let r = api.post(
        "/job-runs/batch?partial=true",
        &json!({"items": [
            {"job_id": job, "config": {"text": "other"}, "idempotency_key": "item-a"},
            {"job_id": job, "idempotency_key": "dup"},
            {"job_id": job, "idempotency_key": "dup"},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["items"][0]["error"]["type"],
        "idempotency_key_reused"
    );
    assert_eq!(r.body["items"][1]["status"], 201);
    assert_eq!(
        r.body["items"][2]["error"]["details"]["violations"][0]["pointer"],
        "/idempotency_key"
    );
    assert_eq!(count(&api), 3);
}
