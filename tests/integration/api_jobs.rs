//! The REST API: schemas, jobs, validation, errors, auth. In-process
//! (`Router::oneshot` on a server built as `serve` builds it) where only
//! the API is under test; over real HTTP where a plugins directory is.

use crate::app::App;
use crate::server::Server;
use serde_json::json;

#[test]
fn schemas_list_every_bundled_type_and_filter() {
    let s = App::start(&[]);
    let api = s.api(&s.user);
    let r = api.get("/jobs/schemas");
    assert_eq!(r.status, 200);
    let types: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["job_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "csv_summary",
            "fetch_and_summarize",
            "html_to_markdown",
            "http_request",
            "json_select",
            "llm_complete",
            "prime_sieve",
            "table_clean",
            "text_stats"
        ]
    );
    for t in r.body.as_array().unwrap() {
        for field in [
            "display_name",
            "description",
            "user_facing_description",
            "json_schema",
            "version",
        ] {
            assert!(!t[field].is_null(), "{field} in {t}");
        }
        assert_eq!(
            t["json_schema"]["properties"]["job_type"]["const"],
            t["job_type"]
        );
    }
    let r = api.get("/jobs/schemas?creatable_by_agent=true&job_types=text_stats");
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api.get("/jobs/schemas?creatable_by_agent=maybe");
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("creatable_by_agent")
    );
    let r = api.get("/jobs/schemas?colour=red");
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (400, Some("bad_request"))
    );
}

#[test]
fn following_a_served_schema_example_never_gets_a_422() {
    let s = App::start(&[]);
    let api = s.api(&s.agent);
    let schemas = api.get("/jobs/schemas?creatable_by_agent=true").body;
    for t in schemas.as_array().unwrap() {
        let example = t["json_schema"]["examples"][0].clone();
        let r = api.post(
            "/jobs",
            &json!({"job_type": t["job_type"], "config": example}),
        );
        assert_eq!(r.status, 201, "{}: {}", t["job_type"], r.body);
    }
}

#[test]
fn create_validates_and_pins_the_version() {
    let s = App::start(&[]);
    let api = s.api(&s.user);
    let r = api.post("/jobs", &json!({"job_type": "text_stats", "config": {"text": "hi"}, "source_session_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let job = &r.body;
    assert_eq!(
        job["config"]["job_type"], "text_stats",
        "job_type is added to the config"
    );
    assert_eq!(job["job_type_version"], "1.0.0");
    assert_eq!(job["created_by"], "user@example.com");
    assert_eq!(
        (job["is_deleted"].as_bool(), job["updated_at"].is_null()),
        (Some(false), true)
    );
    assert!(job["name"].as_str().unwrap().starts_with("Text statistics"));

    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"top_n": "many", "extra": 1}}),
    );
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (422, Some("config_invalid"))
    );
    let pointers: Vec<&str> = r.body["error"]["details"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    // The missing and the unknown property are named in their pointers.
    for expected in ["/top_n", "/text", "/extra"] {
        assert!(pointers.contains(&expected), "{expected} in {pointers:?}");
    }

    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"job_type": "csv_summary", "text": "x"}}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body["error"]["details"]["violations"][0]["pointer"],
        "/job_type"
    );

    let r = api.post("/jobs", &json!({"job_type": "nope"}));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (422, Some("unknown_job_type"))
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text_stats")
    );

    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "job_type_version": "^2", "config": {"text": "x"}}),
    );
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (422, Some("unknown_job_type_version"))
    );
    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "job_type_version": "^1", "config": {"text": "x"}}),
    );
    assert_eq!(r.status, 201);
}

#[test]
fn malformed_requests_get_400_in_the_error_shape() {
    let s = App::start(&[]);
    let api = s.api(&s.user);
    let send = |body: &str, ct: &str| {
        let r = api.send("post", "/jobs", Some((ct, body.as_bytes().to_vec())));
        (r.status, r.body)
    };
    let (status, body) = send("{\"job_type\": ", "application/json");
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "bad_request");
    let (status, body) = send(r#"{"job_type": 7}"#, "application/json");
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("job_type"),
        "{body}"
    );
    let (status, _) = send(
        r#"{"job_type": "text_stats", "colour": 1}"#,
        "application/json",
    );
    assert_eq!(status, 400);
    let (status, _) = send(r#"{"job_type": "text_stats"}"#, "text/plain");
    assert_eq!(status, 400);
    // Bytes after the object make the body malformed, whatever they are.
    for tail in [" xyz", " {}", "]", " 1"] {
        let (status, body) = send(
            &format!(r#"{{"job_type": "text_stats", "config": {{"text": "a"}}}}{tail}"#),
            "application/json",
        );
        assert_eq!(status, 400, "{tail:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("after the JSON object"),
            "{body}"
        );
    }
    let (status, _) = send(
        "{\"job_type\": \"text_stats\", \"config\": {\"text\": \"a\"}} \n\t ",
        "application/json",
    );
    assert_eq!(status, 201, "trailing whitespace is fine");
    // Serde would read a struct from an array by position: refused.
    let (status, body) = send(r#"["text_stats", null]"#, "application/json");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON object"),
        "{body}"
    );
    // JSON Schema's `integer` admits `5.0`; a fraction or a 64-bit value is refused.
    let config = r#""config": {"text": "a"}"#;
    let (status, body) = send(
        &format!(r#"{{"job_type": "text_stats", {config}, "priority": 5.0}}"#),
        "application/json",
    );
    assert_eq!(
        (status, &body["priority"]),
        (201, &serde_json::json!(5)),
        "{body}"
    );
    for bad in ["5.5", "4294967296", "\"high\""] {
        let (status, body) = send(
            &format!(r#"{{"job_type": "text_stats", {config}, "priority": {bad}}}"#),
            "application/json",
        );
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(
            body["error"]["details"]["path"], "priority",
            "{bad}: {body}"
        );
    }
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let (status, _) = send(
        &format!(r#"{{"job_type": "text_stats", "config": {deep}}}"#),
        "application/json",
    );
    assert_eq!(status, 400, "deep nesting is refused, not a crash");
    let big = format!(
        r#"{{"job_type": "text_stats", "config": {{"text": "{}"}}}}"#,
        "x".repeat(5 << 20)
    );
    let r = api.send(
        "post",
        "/jobs",
        Some(("application/json", big.into_bytes())),
    );
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert_eq!(
        r.body["error"]["details"]["limit_bytes"],
        4 << 20,
        "{}",
        r.body
    );
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "the unread rest of the body ends the connection"
    );
    let r = api.get("/jobs/not-a-uuid");
    assert_eq!(r.status, 400);
    let r = api.get("/nowhere");
    assert_eq!(r.status, 404);
    let r = api.delete("/jobs/schemas");
    assert_eq!(r.status, 405);
}

#[test]
fn auth_roles_and_tenants() {
    let s = App::start(&[]);
    let anon = s.api("");
    let r = anon.get("/jobs");
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(s.api("jh_not_a_token").get("/jobs/schemas").status, 401);

    let user = s.api(&s.user);
    let job = user.job("text_stats", json!({"text": "mine"}));
    let run = user.trigger(&job, None);
    let eve = s.api(&s.other_tenant);
    for path in [
        format!("/jobs/{job}"),
        format!("/jobs/{job}/latest-run"),
        format!("/job-runs/{run}"),
    ] {
        let r = eve.get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.to_string().contains("mine"), "nothing leaks");
    }
    assert_eq!(
        eve.patch(&format!("/jobs/{job}"), &json!({"name": "x"}))
            .status,
        404
    );
    assert_eq!(eve.delete(&format!("/jobs/{job}")).status, 404);
    assert_eq!(
        eve.post(&format!("/job-runs/{run}/cancel"), &json!({}))
            .status,
        404
    );
    assert_eq!(eve.post("/job-runs", &json!({"job_id": job})).status, 404);
    assert_eq!(eve.get("/jobs").body["count"], 0);
    assert_eq!(eve.get("/job-runs").body["count"], 0);

    let agent = s.api(&s.agent);
    assert_eq!(
        agent
            .post(
                "/jobs",
                &json!({"job_type": "text_stats", "config": {"text": "ok"}})
            )
            .status,
        201
    );
}

#[test]
fn agents_cannot_create_types_closed_to_agents() {
    let s = Server::start_with(&[crate::support::HOSTILE]);
    let r = s.api(&s.agent).post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "none"}}),
    );
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (403, Some("forbidden"))
    );
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`hostile` is not creatable_by_agent"),
        "the agent is told why: {message}"
    );
    let r = s.api(&s.user).post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "none"}}),
    );
    assert_eq!(r.status, 201, "users may: {}", r.body);
}
