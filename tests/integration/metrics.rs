//! `GET /metrics` scraped over HTTP after real runs, a run's timing, and a
//! job's aggregated metrics.

use crate::server::Server;
use crate::support::HOSTILE;
use serde_json::json;

/// The value of the sample `name{labels}` (labels as printed), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_runs_limits_compiles_and_requests() {
    let s = Server::start_with(&[HOSTILE]);
    let user = s.api(&s.user);
    let job = user.job("text_stats", json!({"text": "a b c"}));
    for _ in 0..2 {
        let run = user.trigger(&job, None);
        user.wait_done(&run);
    }
    let bomb = user.job("hostile", json!({"attack": "memory"}));
    let run = user.trigger(&bomb, None);
    assert_eq!(user.wait_done(&run)["error"]["limit"], "memory");

    // `GET /metrics` (outside `/api/v1`) with `token`.
    let metrics_as = |token: &str| {
        user.client
            .get(format!("{}/metrics", s.base))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    assert_eq!(metrics_as(&s.user).status(), 403);
    // Metrics cover every tenant: a tenant's admin is refused too.
    assert_eq!(metrics_as(&s.admin).status(), 403);
    let anonymous = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap();
    assert_eq!(anonymous.status(), 401);
    let r = metrics_as(&s.operator);
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics")
    );
    let mut text = r.text().unwrap();
    // A run's metrics are recorded just after its terminal write, which a
    // client may see first: give the last run's counters a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !text.contains(r#"job_type="hostile",status="failed""#)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        text = metrics_as(&s.operator).text().unwrap();
    }
    let get = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(
        get(r#"jobhost_runs_finished_total{job_type="text_stats",status="completed"}"#),
        2.0
    );
    assert_eq!(
        get(r#"jobhost_runs_finished_total{job_type="hostile",status="failed"}"#),
        1.0
    );
    assert_eq!(get(r#"jobhost_limit_hits_total{limit="memory"}"#), 1.0);
    assert_eq!(get("jobhost_dispatch_latency_seconds_count"), 3.0);
    assert_eq!(
        get(r#"jobhost_run_duration_seconds_count{job_type="text_stats"}"#),
        2.0
    );
    assert_eq!(get("jobhost_queue_depth"), 0.0);
    assert_eq!(get("jobhost_job_type_versions"), 10.0);
    let compiles = sample(
        &text,
        r#"jobhost_plugin_compile_seconds_count{source="compiler"}"#,
    )
    .unwrap_or(0.0)
        + sample(
            &text,
            r#"jobhost_plugin_compile_seconds_count{source="cache"}"#,
        )
        .unwrap_or(0.0);
    assert_eq!(compiles, 10.0, "{text}");
    assert_eq!(
        get(
            r#"jobhost_http_request_duration_seconds_count{method="POST",route="/api/v1/job-runs",status="201"}"#
        ),
        3.0
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

#[test]
fn public_metrics_need_no_token() {
    let s = Server::start_args(&[], &["--metrics-public"]);
    let r = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_run_shows_its_timing_and_a_job_its_aggregate() {
    let s = Server::start_with(&[HOSTILE]);
    let api = s.api(&s.user);
    let job = api.job("hostile", json!({"attack": "none"}));
    for attack in ["none", "none", "none", "trap"] {
        let run = api.trigger(&job, Some(json!({"attack": attack})));
        api.wait_done(&run);
    }
    let runs = api.get(&format!("/job-runs?job_id={job}")).body;
    for r in runs["items"].as_array().unwrap() {
        let t = &r["timing"];
        let (q, run, total) = (
            t["queued_ms"].as_f64().unwrap(),
            t["run_ms"].as_f64().unwrap(),
            t["total_ms"].as_f64().unwrap(),
        );
        assert!(q >= 0.0 && run >= 0.0, "{t}");
        assert!((total - (q + run)).abs() < 0.01, "{t}");
        assert!(
            r["receipt"]["wall_time_ms"].is_number() || r["receipt"].is_object(),
            "{r}"
        );
    }
    let one = runs["items"][0]["uuid"].as_str().unwrap();
    assert!(api.get(&format!("/job-runs/{one}")).body["timing"]["total_ms"].is_number());

    let m = api.get(&format!("/jobs/{job}/metrics"));
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(m.body["runs"], 4);
    assert_eq!(m.body["counts"]["completed"], 3);
    assert_eq!(m.body["counts"]["failed"], 1);
    assert_eq!(m.body["counts"]["pending"], 0);
    assert_eq!(m.body["failure_rate"], 0.25);
    assert_eq!(m.body["run_ms"]["count"], 4);
    let p = &m.body["run_ms"];
    assert!(p["p50"].as_f64() <= p["p95"].as_f64() && p["p95"].as_f64() <= p["p99"].as_f64());
    assert!(p["p99"].as_f64() <= p["max"].as_f64());
    assert_eq!(
        s.api(&s.other_tenant)
            .get(&format!("/jobs/{job}/metrics"))
            .status,
        404
    );
}
