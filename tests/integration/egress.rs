//! Plugins' outbound HTTP over real HTTP with real components: what is
//! granted succeeds and is audited; everything else (undeclared or
//! unapproved hosts, private and metadata addresses, IPv4-mapped literals,
//! redirects to denied hosts, oversized or endless responses, a slow server
//! past the deadline, a cancel mid-request) is refused or stopped with a
//! clear, named run error while the host keeps serving other runs.

use crate::origin::Origin;
use crate::server::{Api, Server};
use crate::support::EGRESS;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A server whose plugins reach `origin` as `api.example.test:80`, with
/// `http_request` granted that host and a few denied ones.
fn start(origin: &Origin, extra: &[&str]) -> (Server, tempfile::TempDir) {
    let port = origin.port;
    let dir = tempfile::tempdir().unwrap();
    let grants = dir.path().join("grants.json");
    std::fs::write(
        &grants,
        json!({
            "http_request@1.0.0": {
                "http": [
                    "http://api.example.test",
                    "http://evil.example.test",
                    "http://loopy.example.test",
                    format!("http://[::ffff:127.0.0.1]:{port}"),
                ],
                "secrets": ["api_token"]
            },
            "egress@1.0.0": {"http": ["http://api.example.test"], "secrets": ["token"]}
        })
        .to_string(),
    )
    .unwrap();
    let api_at = format!("api.example.test:80=127.0.0.1:{port}");
    let mut args = vec![
        "--grants",
        grants.to_str().unwrap(),
        "--resolve",
        &api_at,
        "--resolve",
        "evil.example.test=169.254.169.254",
        "--resolve",
        "loopy.example.test=127.0.0.2",
        "--http-allow-net",
        "127.0.0.1/32",
    ];
    args.extend_from_slice(extra);
    let server = Server::start_args(&[EGRESS], &args);
    (server, dir)
}

/// One run of a new job, with one attempt (`http_request` declares
/// retries; each refused request here is to be seen once).
fn run(api: &Api, job_type: &str, config: Value) -> Value {
    let r = api.post(
        "/jobs",
        &serde_json::json!({"job_type": job_type, "config": config, "retry": {"max_attempts": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let run = api.trigger(r.body["uuid"].as_str().unwrap(), None);
    api.wait_done(&run)
}

fn logs(api: &Api, run: &Value) -> String {
    let r = api.get(&format!("/job-runs/{}/logs", run["uuid"].as_str().unwrap()));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.to_string()
}

#[test]
fn a_granted_request_succeeds_and_is_audited_in_log_receipt_and_metrics() {
    let origin = Origin::start();
    let (server, _dir) = start(&origin, &[]);
    let admin = server.api(&server.admin);
    let put = admin.put("/secrets/api_token", &json!({"value": "tok-abc-123"}));
    assert_eq!(put.status, 201, "{}", put.body);
    let done = run(
        &admin,
        "http_request",
        json!({
            "method": "POST",
            "url": "http://api.example.test/echo?secret-query=1",
            "json": {"n": 1},
            "auth": {},
            "select": "/method"
        }),
    );
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["output"];
    assert_eq!(result["status"], 200, "{done}");
    assert_eq!(result["selected"], "POST", "{done}");
    assert_eq!(result["body"]["host"], "api.example.test", "{done}");
    assert_eq!(result["body"]["body"], r#"{"n":1}"#, "{done}");
    // The origin saw the token; the stored result shows only its name.
    assert_eq!(
        origin.seen()[0].header("authorization"),
        Some("Bearer tok-abc-123")
    );
    assert_eq!(
        result["body"]["authorization"], "Bearer [secret:api_token]",
        "{done}"
    );
    let receipt = &done["receipt"];
    assert_eq!(receipt["http_requests"], 1, "{done}");
    assert!(receipt["http_bytes_in"].as_u64().unwrap() > 50, "{done}");
    assert_eq!(receipt["http_bytes_out"], 7, "{done}");
    assert_eq!(receipt["secrets_read"], json!(["api_token"]), "{done}");

    let log = logs(&admin, &done);
    assert!(log.contains("http POST api.example.test:80 200"), "{log}");
    assert!(
        !log.contains("secret-query"),
        "query strings stay out: {log}"
    );

    let metrics = reqwest::blocking::Client::new()
        .get(format!(
            "{}/metrics",
            admin.base.trim_end_matches("/api/v1")
        ))
        .bearer_auth(&server.operator)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            r#"jobhost_plugin_http_requests_total{job_type="http_request",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
}

#[test]
fn undeclared_ungranted_and_private_destinations_are_refused_by_name() {
    let origin = Origin::start();
    let (server, _dir) = start(&origin, &[]);
    let api = server.api(&server.user);
    let port = origin.port;
    let cases = [
        // Declared by the fixture but never granted.
        (
            "egress",
            json!({"url": "http://unapproved.example.test/ok"}),
            "unapproved.example.test",
            "not a destination granted",
        ),
        // Not declared at all.
        (
            "egress",
            json!({"url": "http://other.example.test/ok"}),
            "other.example.test",
            "not a destination granted",
        ),
        // Granted, but the name resolves to the cloud metadata address.
        (
            "http_request",
            json!({"url": "http://evil.example.test/latest/meta-data"}),
            "evil.example.test",
            "metadata",
        ),
        // Granted, but the name resolves to loopback outside the opened network.
        (
            "http_request",
            json!({"url": "http://loopy.example.test/ok"}),
            "loopy.example.test",
            "loopback",
        ),
        // An IPv4-mapped IPv6 literal of the opened loopback address.
        (
            "http_request",
            json!({"url": format!("http://[::ffff:127.0.0.1]:{port}/ok")}),
            "::ffff:127.0.0.1",
            "loopback",
        ),
        // A redirect from a granted host to a host that is not granted.
        (
            "http_request",
            json!({"url": "http://api.example.test/redirect?to=http://169.254.169.254/latest", "max_redirects": 3}),
            "169.254.169.254",
            "not a destination granted",
        ),
    ];
    for (job_type, config, host, why) in cases {
        let done = run(&api, job_type, config.clone());
        assert_eq!(done["status"], "failed", "{config}: {done}");
        let message = done["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(host) && message.contains("denied by the host"),
            "{config}: {message}"
        );
        let log = logs(&api, &done);
        assert!(
            log.contains(why) && log.contains("denied"),
            "{config}: {log}"
        );
    }
    // Only the granted redirect's first hop reached the origin.
    let paths: Vec<String> = origin.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/redirect?to=http://169.254.169.254/latest"],
        "{paths:?}"
    );

    // Host-header games: a plugin cannot set `Host` (or proxy headers); the
    // connection goes where the URL says, checked, whatever the headers say.
    for header in ["Host", "proxy-authorization"] {
        let done = run(
            &api,
            "http_request",
            json!({"url": "http://api.example.test/echo", "headers": {header: "169.254.169.254"}}),
        );
        assert_eq!(done["status"], "failed", "{header}: {done}");
    }
    assert_eq!(origin.seen().len(), 1, "neither request left the host");
}

#[test]
fn oversized_endless_and_slow_responses_are_stopped_and_other_runs_go_on() {
    let origin = Origin::start();
    let (server, _dir) = start(&origin, &["--http-max-response-bytes", "1048576"]);
    let api = server.api(&server.user);
    for path in ["/large", "/endless"] {
        let started = Instant::now();
        let done = run(
            &api,
            "http_request",
            json!({"url": format!("http://api.example.test{path}")}),
        );
        assert_eq!(done["status"], "failed", "{path}: {done}");
        let message = done["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("larger than the host allows"),
            "{path}: {message}"
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{path}");
        // Bounded by the cap plus at most one of hyper's read buffers.
        assert!(done["receipt"]["http_bytes_in"].as_u64().unwrap() <= (1 << 20) + (512 << 10));
    }

    // A server that never answers: the run's 10 s deadline stops it, and a
    // healthy run of another type completes meanwhile.
    let slow = api.job("egress", json!({"url": "http://api.example.test/slow"}));
    let slow = api.trigger(&slow, None);
    api.wait_run(&slow, Duration::from_secs(10), |b| b["status"] == "running");
    let quick = run(&api, "text_stats", json!({"text": "still serving"}));
    assert_eq!(quick["status"], "completed", "{quick}");
    let done = api.wait_done(&slow);
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["limit"], "timeout", "{done}");

    // A cancel ends a run waiting on a response within the cancel latency.
    let job = api.job("egress", json!({"url": "http://api.example.test/slow"}));
    cancel_while_it_waits(&api, &job, Duration::from_secs(10));
}

/// Triggers `job` (one that waits on a slow response), cancels it 300 ms
/// after it shows `running` (within `start`), and requires it `cancelled`
/// within 2 s of the cancel.
pub fn cancel_while_it_waits(api: &Api, job: &str, start: Duration) {
    let r = api.trigger(job, None);
    api.wait_run(&r, start, |b| b["status"] == "running");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let cancel = api.post(&format!("/job-runs/{r}/cancel"), &json!({}));
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let done = api.wait_done(&r);
    assert_eq!(done["status"], "cancelled", "{done}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "cancelled after {took:?}");
}

#[test]
fn a_version_with_unapproved_capabilities_takes_no_jobs_until_an_operator_approves() {
    let origin = Origin::start();
    // No grants file: the egress fixture from the plugins directory is pending.
    let server = Server::start_with(&[EGRESS]);
    let user = server.api(&server.user);
    let schemas = user.get("/jobs/schemas?job_types=egress");
    let egress = &schemas.body[0];
    assert_eq!(egress["approval"]["state"], "pending", "{egress}");
    assert_eq!(
        egress["approval"]["awaiting"]["http"],
        json!(["http://api.example.test", "http://unapproved.example.test"])
    );
    assert_eq!(egress["capabilities"]["secrets"][0]["name"], "token");
    assert_eq!(egress["side_effects"]["destructive"], false);

    let r = user.post("/jobs", &json!({"job_type": "egress", "config": {}}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "approval_pending", "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("http://unapproved.example.test") && message.contains("secret `token`"),
        "{message}"
    );

    // Bundled job types come approved for what they declare.
    let bundled = user.get("/jobs/schemas?job_types=http_request");
    assert_eq!(bundled.body[0]["approval"]["state"], "approved");
    assert_eq!(bundled.body[0]["approval"]["source"], "bundled");

    let path = "/plugins/egress/1.0.0";
    let grant = json!({"grants": {"http": ["http://api.example.test"], "secrets": ["token"]}});
    assert_eq!(user.patch(path, &grant).status, 403);
    let ops = server.api(&server.operator);
    let bad = ops.patch(
        path,
        &json!({"grants": {"http": ["http://not-declared.example.test"]}}),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.to_string().contains("not-declared.example.test"),
        "{}",
        bad.body
    );
    let bad = ops.patch(path, &json!({"grants": {"http": ["ftp://x"]}}));
    assert!(bad.status == 400 || bad.status == 422, "{}", bad.body);
    let ok = ops.patch(path, &grant);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["approval"]["state"], "approved", "{}", ok.body);
    assert_eq!(ok.body["approval"]["approved_by"], "ops@example.com");
    assert_eq!(
        ok.body["approval"]["awaiting"]["http"],
        json!(["http://unapproved.example.test"])
    );
    let bad = ops.patch(path, &json!({"grants": {"http": null}}));
    assert_eq!(bad.status, 400, "{}", bad.body);
    // A list left out of a grant is kept; a list given replaces.
    let r = ops.patch(path, &json!({"grants": {"secrets": []}}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["approval"]["granted"]["http"],
        json!(["http://api.example.test"])
    );
    assert_eq!(r.body["approval"]["awaiting"]["secrets"], json!(["token"]));
    let r = user.post("/jobs", &json!({"job_type": "egress", "config": {}}));
    assert_eq!(r.status, 201, "{}", r.body);
    let events = ops.get("/plugins/events");
    assert!(
        events.body.to_string().contains("approved"),
        "{}",
        events.body
    );
    drop(origin);
}
