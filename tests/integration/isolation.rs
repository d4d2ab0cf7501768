//! Tenant isolation: every tenant-scoped route called with another tenant's
//! token on this tenant's ids answers 404 and leaks nothing; lists and
//! streams never show another tenant's records.

use crate::server::Server;
use jobhost::api::ROUTES;
use serde_json::json;

const MARKER: &str = "acme-private-text-7d1f";

#[test]
fn another_tenants_token_sees_nothing_of_ours() {
    let s = Server::start();
    let ours = s.api(&s.user);
    let job = ours.job("text_stats", json!({"text": MARKER}));
    let run = ours.trigger(&job, None);
    ours.wait_done(&run);
    let theirs = s.api(&s.other_tenant);

    let mut checked = 0;
    for (method, path) in ROUTES {
        let scoped = path.contains("{job_id}") || path.contains("{job_run_id}");
        if !scoped {
            continue;
        }
        let url = format!(
            "{}{}",
            s.base,
            path.replace("{job_id}", &job).replace("{job_run_id}", &run)
        );
        let req = match *method {
            "get" => theirs.client.get(&url),
            "post" => theirs.client.post(&url).json(&json!({})),
            "patch" => theirs.client.patch(&url).json(&json!({"name": "stolen"})),
            "delete" => theirs.client.delete(&url),
            other => panic!("unexpected method {other}"),
        };
        let r = req.bearer_auth(&theirs.token).send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert_eq!(status, 404, "{method} {path}: {text}");
        assert!(!text.contains(MARKER), "{method} {path} leaked: {text}");
        checked += 1;
    }
    assert!(checked >= 9, "{checked} routes checked");

    // Lists and streams of the other tenant hold none of ours.
    for path in ["/jobs", "/job-runs", "/jobs?include_deleted=true"] {
        let r = theirs.get(path);
        assert_eq!(r.status, 200);
        let text = r.body.to_string();
        assert!(
            !text.contains(&job) && !text.contains(&run) && !text.contains(MARKER),
            "{path}"
        );
    }
    // Nothing of ours changed.
    let mine = ours.get(&format!("/jobs/{job}")).body;
    assert_eq!(mine["is_deleted"], false);
    assert_ne!(mine["name"], "stolen");
    assert_eq!(
        ours.get(&format!("/job-runs/{run}")).body["status"],
        "completed"
    );
}
