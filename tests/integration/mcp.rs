//! `/mcp` driven by the official Python MCP client (`tests/mcp/client.py`)
//! against the real server: the tools a token sees, a job type tool run to
//! completion and past the wait, schema violations the model can act on,
//! agents, tenants, tokens and hosts refused, and tool list changes
//! announced on both protocol generations.

use crate::python;
use crate::server::Server;
use serde_json::{Value, json};
use std::path::Path;

/// Runs a scenario of `tests/mcp/client.py` and returns what it printed.
fn scenario(python: &Path, s: &Server, name: &str, token: &str, extra: &[&str]) -> Value {
    let url = format!("{}/mcp", s.base);
    let mut args = vec![name, url.as_str(), token];
    args.extend_from_slice(extra);
    python::scenario(python, "tests/mcp/client.py", &args, &[])
}

fn names(tools: &Value) -> Vec<&str> {
    tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().or_else(|| t["name"].as_str()).unwrap())
        .collect()
}

#[test]
fn a_job_type_tool_validates_runs_and_answers_with_the_output() {
    let Some(py) = python::python() else { return };
    let s = Server::start();
    let out = scenario(&py, &s, "tour", &s.user, &[]);
    assert_eq!(out["protocol_version"], "2026-07-28");

    // Fixed tools, then one tool per job type this user may create.
    let tools = out["tools"].as_array().unwrap();
    let listed = names(&out["tools"]);
    for t in [
        "list_job_types",
        "get_run",
        "get_run_logs",
        "cancel_run",
        "list_runs",
        "prime_sieve",
        "text_stats",
        "http_request",
    ] {
        assert!(listed.contains(&t), "{t} missing from {listed:?}");
    }
    let tool = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap();
    let sieve = tool("prime_sieve");
    assert_eq!(sieve["title"], "Prime sieve");
    let schema = &sieve["input_schema"];
    assert_eq!(schema["properties"]["limit"]["type"], "integer", "{schema}");
    assert_eq!(schema["properties"]["_job_type_version"]["type"], "string");
    // The job type's side-effect hints, and its outbound grants.
    let http = &tool("http_request")["annotations"];
    assert_eq!(http["destructive"], true, "{http}");
    assert_eq!(http["open_world"], true, "{http}");
    assert_eq!(tool("get_run")["annotations"]["read_only"], true);
    assert_eq!(tool("text_stats")["annotations"]["open_world"], false);
    assert_eq!(tool("text_stats")["annotations"]["read_only"], true);

    // Called to completion: the output, structured and as text.
    let done = &out["completed"];
    assert_eq!(done["is_error"], false, "{done}");
    let body = &done["structured"];
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"]["prime_count"], 17984, "{body}");
    let text: Value = serde_json::from_str(done["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text["prime_count"], 17984);
    // The same job and run over REST, created by this token's user.
    let api = s.api(&s.user);
    let run_id = body["job_run_id"].as_str().unwrap();
    let run = api.get(&format!("/job-runs/{run_id}")).body;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["created_by"], "user@example.com");
    assert_eq!(run["job_id"], body["job_id"]);

    // A schema violation: a tool error naming each field by JSON Pointer.
    let invalid = &out["invalid"];
    assert_eq!(invalid["is_error"], true, "{invalid}");
    let err = &invalid["structured"];
    assert_eq!(err["status"], 422);
    assert_eq!(err["error"]["type"], "config_invalid");
    let pointers: Vec<&str> = err["error"]["details"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/limit", "/segment_size"], "{err}");

    // The fixed tools read what REST reads.
    assert_eq!(out["get_run"]["structured"]["uuid"], run_id);
    assert_eq!(out["get_run"]["structured"]["status"], "completed");
    assert_eq!(out["get_run_logs"]["is_error"], false);
    let runs = &out["list_runs"]["structured"]["items"];
    assert!(
        runs.as_array().unwrap().iter().any(|r| r["uuid"] == run_id),
        "{runs}"
    );
    let types = &out["list_job_types"]["structured"]["items"];
    let not_for_agents: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["job_type"].as_str().unwrap())
        .collect();
    assert_eq!(not_for_agents, ["http_request"]);
    let bad = &out["bad_arguments"]["structured"];
    assert_eq!(bad["status"], 400, "{bad}");
    assert_eq!(bad["error"]["details"]["path"], "job_run_id");
    assert!(
        out["unknown_tool"]
            .as_str()
            .unwrap()
            .contains("unknown tool `no_such_tool`"),
        "{}",
        out["unknown_tool"]
    );
}

#[test]
fn a_run_past_the_wait_answers_with_its_id_and_progress_and_cancels() {
    let Some(py) = python::python() else { return };
    let s = Server::start_args(&[], &["--mcp-wait-secs", "3"]);
    let out = scenario(&py, &s, "long_run", &s.user, &[]);
    let call = &out["call"];
    assert_eq!(call["is_error"], false, "{call}");
    assert_eq!(call["structured"]["status"], "running", "{call}");
    assert!(
        call["structured"]["message"]
            .as_str()
            .unwrap()
            .contains("get_run"),
        "{call}"
    );
    // Progress notifications while the call waited, rising.
    let progress: Vec<f64> = out["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(progress.iter().any(|p| *p >= 1.0), "{progress:?}");
    assert!(out["progress"][1]["message"].is_string(), "{out}");
    assert_eq!(out["cancel"]["structured"]["cancelled"], true, "{out}");
    assert_eq!(out["after"]["structured"]["status"], "cancelled");
}

#[test]
fn agents_get_only_agent_job_types_through_mcp_and_rest_alike() {
    let Some(py) = python::python() else { return };
    let s = Server::start();
    let out = scenario(&py, &s, "agent", &s.agent, &[]);
    let listed = names(&out["tools"]);
    assert!(!listed.contains(&"http_request"), "{listed:?}");
    assert!(listed.contains(&"text_stats"), "{listed:?}");
    assert_eq!(out["allowed"]["structured"]["status"], "completed", "{out}");

    // One rule, one service: the same refusal over MCP and over REST.
    let mcp = &out["forbidden"];
    assert_eq!(mcp["is_error"], true, "{mcp}");
    let rest = s.api(&s.agent).post(
        "/jobs",
        &json!({"job_type": "http_request", "config": {"url": "https://example.com/"}}),
    );
    assert_eq!(rest.status, 403, "{}", rest.body);
    assert_eq!(mcp["structured"]["status"], 403);
    assert_eq!(mcp["structured"]["error"], rest.body["error"]);
    assert!(
        rest.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("creatable_by_agent")
    );
}

#[test]
fn another_tenants_run_is_not_found() {
    let Some(py) = python::python() else { return };
    let s = Server::start();
    let api = s.api(&s.user);
    let job = api.job("prime_sieve", json!({"limit": 1_000_000_000_000u64}));
    let run = api.trigger(&job, None);
    let out = scenario(&py, &s, "read_run", &s.other_tenant, &[&run]);
    for tool in ["get_run", "cancel_run"] {
        let r = &out[tool];
        assert_eq!(r["is_error"], true, "{tool}: {r}");
        assert_eq!(r["structured"]["status"], 404, "{tool}: {r}");
        assert_eq!(r["structured"]["error"]["type"], "not_found");
    }
    // Untouched by the other tenant's cancel.
    let status = api.get(&format!("/job-runs/{run}")).body["status"].clone();
    assert!(status == "pending" || status == "running", "{status}");
    assert_eq!(
        api.post(&format!("/job-runs/{run}/cancel"), &json!({}))
            .status,
        200
    );
}

#[test]
fn no_token_is_401_and_a_foreign_host_is_403_unless_allowed() {
    let Some(py) = python::python() else { return };
    let s = Server::start_args(
        &[],
        &["--mcp-allowed-hosts", "localhost,jobs.example.com:9"],
    );
    let statuses = |out: &Value| -> Vec<u64> {
        out["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    };
    let anonymous = scenario(&py, &s, "refused", "", &["localhost"]);
    assert_eq!(anonymous["connected"], false, "{anonymous}");
    assert_eq!(statuses(&anonymous)[0], 401, "{anonymous}");
    let body: Value =
        serde_json::from_str(anonymous["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["type"], "unauthorized");

    let foreign = scenario(&py, &s, "refused", &s.user, &["evil.example"]);
    assert_eq!(foreign["connected"], false, "{foreign}");
    assert_eq!(statuses(&foreign)[0], 403, "{foreign}");
    let body: Value =
        serde_json::from_str(foreign["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--mcp-allowed-hosts"),
        "{body}"
    );
    // 127.0.0.1 is no longer in the list; a listed name with its port is.
    let loopback_ip = scenario(&py, &s, "refused", &s.user, &[]);
    assert_eq!(statuses(&loopback_ip)[0], 403, "{loopback_ip}");
    let wrong_port = scenario(&py, &s, "refused", &s.user, &["jobs.example.com:10"]);
    assert_eq!(statuses(&wrong_port)[0], 403, "{wrong_port}");
    let listed = scenario(&py, &s, "refused", &s.user, &["jobs.example.com:9"]);
    assert_eq!(listed["connected"], true, "{listed}");

    // A browser page of another origin is refused even with a token.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/mcp", s.base))
        .header("Host", "localhost")
        .header("Origin", "https://evil.example")
        .bearer_auth(&s.user)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn publishing_and_yanking_announce_a_changed_tool_list() {
    let Some(py) = python::python() else { return };
    let s = Server::start();
    let url = |jt: &str| format!("{}/api/v1/plugins/{jt}/1.0.0", s.base);
    for (scenario_name, job_type, protocol) in [
        ("list_changed", "text_stats", "2026-07-28"),
        ("list_changed@legacy", "csv_summary", "2025-11-25"),
    ] {
        let out = scenario(
            &py,
            &s,
            scenario_name,
            &s.user,
            &[&url(job_type), &s.operator],
        );
        assert_eq!(out["protocol_version"], protocol, "{out}");
        assert_eq!(out["yank_status"], 200, "{out}");
        assert_eq!(out["events"].as_array().unwrap().len(), 1, "{out}");
        assert!(names(&out["before"]).contains(&job_type), "{out}");
        assert!(!names(&out["after"]).contains(&job_type), "{out}");
    }
}

#[test]
fn sessions_are_capped_and_a_new_one_past_the_cap_is_429() {
    let s = Server::start_args(&[], &["--mcp-max-sessions", "2"]);
    let client = reqwest::blocking::Client::new();
    let initialize = |n: u32| {
        client
            .post(format!("{}/mcp", s.base))
            .bearer_auth(&s.user)
            .header("Accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": n, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "cap-test", "version": "1"}}
            }))
            .send()
            .unwrap()
    };
    let mut sessions = Vec::new();
    for n in 0..2 {
        let r = initialize(n);
        assert_eq!(r.status(), 200);
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        sessions.push(id);
    }
    let refused = initialize(3);
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().unwrap();
    assert_eq!(
        body["error"]["details"]["limit"]["max_sessions"], 2,
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--mcp-max-sessions")
    );
    // Ending a session frees its slot.
    let ended = client
        .delete(format!("{}/mcp", s.base))
        .bearer_auth(&s.user)
        .header("mcp-session-id", &sessions[0])
        .send()
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = initialize(4);
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", r.status());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
