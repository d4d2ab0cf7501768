//! Saved jobs over time, in-process: listing with filters and pages, merge
//! patches with optimistic concurrency, soft deletion guarded by active
//! runs.

use crate::app::App;
use serde_json::json;

#[test]
fn list_jobs_filters_and_pages() {
    let s = App::start(&[]);
    let api = s.api(&s.user);
    let mut ids = Vec::new();
    for i in 0..7 {
        let t = if i % 2 == 0 {
            "text_stats"
        } else {
            "prime_sieve"
        };
        let config = if i % 2 == 0 {
            json!({"text": "x"})
        } else {
            json!({"limit": 10})
        };
        ids.push(api.job(t, config));
    }
    ids.reverse();
    let page = api.get("/jobs?limit=3");
    assert_eq!(page.body["count"], 3);
    let got: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..3]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = api.get(&format!("/jobs?limit=100&cursor={cursor}"));
    assert_eq!(rest.body["count"], 4);
    assert!(rest.body["next_cursor"].is_null());
    assert_eq!(api.get("/jobs?job_types=prime_sieve").body["count"], 3);
    assert_eq!(
        api.get("/jobs?job_types=prime_sieve&job_types=text_stats")
            .body["count"],
        7
    );
    assert_eq!(
        api.get("/jobs?created_by_users=user@example.com").body["count"],
        7
    );
    assert_eq!(
        api.get("/jobs?created_by_users=nobody@example.com").body["count"],
        0
    );
    assert_eq!(
        api.get("/jobs?created_after=2999-01-01T00:00:00Z").body["count"],
        0
    );
    assert_eq!(api.get("/jobs?limit=0").status, 400);
    assert_eq!(api.get("/jobs?limit=101").status, 400);
    assert_eq!(api.get("/jobs?cursor=zzz").status, 400);
    assert_eq!(api.get("/jobs?created_after=yesterday").status, 400);
}

#[test]
fn patch_merges_validates_and_detects_stale_writes() {
    let s = App::start(&[]);
    let api = s.api(&s.user);
    let id = api.job("text_stats", json!({"text": "one", "top_n": 3}));
    let job = api.get(&format!("/jobs/{id}")).body;
    let r = api.patch(
        &format!("/jobs/{id}"),
        &json!({"config": {"top_n": 5}, "expected_updated_at": job["created_at"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["config"],
        json!({"job_type": "text_stats", "text": "one", "top_n": 5})
    );
    assert!(r.body["updated_at"].is_string());
    let r2 = api.patch(
        &format!("/jobs/{id}"),
        &json!({"name": "late", "expected_updated_at": job["created_at"]}),
    );
    assert_eq!(
        (r2.status, r2.body["error"]["type"].as_str()),
        (409, Some("stale_update"))
    );
    let r3 = api.patch(
        &format!("/jobs/{id}"),
        &json!({"name": "fresh", "expected_updated_at": r.body["updated_at"]}),
    );
    assert_eq!(r3.status, 200, "{}", r3.body);
    let bad = api.patch(&format!("/jobs/{id}"), &json!({"config": {"text": null}}));
    assert_eq!(bad.status, 422, "removing a required field is refused");
    assert_eq!(
        api.get(&format!("/jobs/{id}")).body["config"]["text"],
        "one",
        "nothing changed"
    );
}

#[test]
fn delete_is_soft_and_guards_active_runs() {
    let s = App::start(&[]);
    let api = s.api(&s.user);
    let id = api.job("prime_sieve", json!({"limit": 1_000_000_000_000u64}));
    assert_eq!(api.get(&format!("/jobs/{id}/latest-run")).status, 204);
    let run = api.trigger(&id, None);
    api.wait_run(&run, std::time::Duration::from_secs(30), |r| {
        r["status"] == "running"
    });
    let r = api.delete(&format!("/jobs/{id}"));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("job_has_active_runs"))
    );
    let r = api.delete(&format!("/jobs/{id}?cancel_runs=true"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message"], format!("Job {id} soft deleted"));
    assert_eq!(r.body["cancelled_count"], 1);
    assert_eq!(api.wait_done(&run)["status"], "cancelled");
    let job = api.get(&format!("/jobs/{id}")).body;
    assert_eq!(job["is_deleted"], true);
    assert_eq!(
        api.get("/jobs").body["count"],
        0,
        "deleted jobs leave the list"
    );
    assert_eq!(api.get("/jobs?include_deleted=true").body["count"], 1);
    assert_eq!(api.post("/job-runs", &json!({"job_id": id})).status, 409);
    assert_eq!(
        api.get(&format!("/jobs/{id}/latest-run")).body["uuid"],
        run.as_str()
    );
}
