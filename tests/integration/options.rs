//! Every bundled job type with every one of its options, over REST: each
//! schema example, and each optional field set to a value other than its
//! default, goes create → run → `GET` run → list → logs → metrics, and
//! whatever the plugin produced (output, output references, logs) reads
//! back. Also the first-day reproduction of a run whose output references
//! made a tenant's data unreadable, and the body cap agreeing with the
//! schemas' documented limits.

use crate::origin::{OPENAI_KEY, Origin};
use crate::server::{Api, Server};
use serde_json::{Map, Value, json};

/// A server whose bundled job types that call HTTP APIs reach `origin`
/// (as `api.example.test`) with their secrets set, so that every bundled
/// type runs for real; extra `serve` arguments after.
fn server(origin: &Origin, dir: &std::path::Path, extra: &[&str]) -> Server {
    let grants = dir.join("grants.json");
    let llm = json!({"http": ["http://api.example.test"], "secrets": ["openai_api_key"]});
    let http = json!({"http": ["http://api.example.test"], "secrets": ["api_token"]});
    std::fs::write(
        &grants,
        json!({"http_request@1.0.0": http, "llm_complete@1.0.0": llm, "fetch_and_summarize@1.0.0": llm})
            .to_string(),
    )
    .unwrap();
    let api_at = format!("api.example.test:80=127.0.0.1:{}", origin.port);
    let mut args = vec![
        "--grants",
        grants.to_str().unwrap(),
        "--resolve",
        &api_at,
        "--http-allow-net",
        "127.0.0.1/32",
    ];
    args.extend_from_slice(extra);
    let s = Server::start_args(&[], &args);
    let admin = s.api(&s.admin);
    for (name, value) in [("api_token", "tok-1"), ("openai_api_key", OPENAI_KEY)] {
        let r = admin.put(&format!("/secrets/{name}"), &json!({"value": value}));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    s
}

/// Points the URLs of a job type that calls HTTP APIs at the local origin.
fn localise(job_type: &str, config: &mut Value) {
    match job_type {
        "http_request" => config["url"] = json!("http://api.example.test/ok"),
        "fetch_and_summarize" => config["url"] = json!("http://api.example.test/page"),
        _ => {}
    }
    if config.get("base_url").is_some()
        || job_type == "llm_complete"
        || job_type == "fetch_and_summarize"
    {
        config["base_url"] = json!("http://api.example.test/v1");
    }
}

/// A value of `property` other than its default:
/// one of its examples, else one derived from its type.
fn non_default(property: &Value) -> Option<Value> {
    let default = property.get("default").cloned().unwrap_or(Value::Null);
    let examples = property["examples"].as_array().cloned().unwrap_or_default();
    if let Some(e) = examples.into_iter().find(|e| *e != default) {
        return Some(e);
    }
    let types: Vec<&str> = match &property["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"boolean") {
        return Some(json!(!default.as_bool().unwrap_or(false)));
    }
    if types.contains(&"integer") {
        let max = property["maximum"].as_i64().unwrap_or(i64::MAX);
        let min = property["minimum"].as_i64().unwrap_or(0);
        let from = default.as_i64().unwrap_or(min);
        return Some(json!(if from < max { from + 1 } else { from - 1 }));
    }
    None
}

/// Every config a job type's schema documents: its examples, then its first
/// example with each optional property set to a non-default value.
fn configs(schema: &Value) -> Vec<(String, Value)> {
    let job_type = &schema["properties"]["job_type"]["const"];
    let examples = schema["examples"]
        .as_array()
        .expect("the schema has examples");
    let mut out: Vec<(String, Value)> = examples
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("example {i}"), e.clone()))
        .collect();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in schema["properties"].as_object().unwrap() {
        if name == "job_type" || required.contains(&name.as_str()) {
            continue;
        }
        let value = non_default(property).unwrap_or_else(|| {
            panic!("{job_type}: optional property `{name}` has no example other than its default")
        });
        let mut config = examples[0].clone();
        config[name] = value;
        out.push((format!("{name} set"), config));
    }
    out
}

/// Runs `config` as a new job of `job_type` and reads back everything the
/// run produced; returns the finished run.
fn run_and_read_back(api: &Api, job_type: &str, label: &str, config: &Value) -> Value {
    let mut config = config.clone();
    localise(job_type, &mut config);
    let config = &config;
    let what = format!("{job_type} with {label} ({config})");
    let r = api.post("/jobs", &json!({"job_type": job_type, "config": config}));
    assert_eq!(r.status, 201, "{what}: {}", r.body);
    let job = r.body["uuid"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/jobs/{job}").as_str())
    );
    let r = api.post("/job-runs", &json!({"job_id": job}));
    assert_eq!(r.status, 201, "{what}: {}", r.body);
    let run = r.body["uuid"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/job-runs/{run}").as_str())
    );
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{what}: {done}");
    for t in ["queued_ms", "run_ms", "total_ms"] {
        let ms = done["timing"][t].as_f64().unwrap();
        assert_eq!((ms * 1000.0).round() / 1000.0, ms, "{t} is to the µs");
    }

    let got = api.get(&format!("/job-runs/{run}"));
    assert_eq!(got.status, 200, "{what}: {}", got.body);
    assert_eq!(got.body["output"], done["output"]);
    assert_eq!(got.body["output_references"], done["output_references"]);
    let listed = api.get(&format!("/job-runs?job_id={job}"));
    assert_eq!(listed.status, 200, "{what}: {}", listed.body);
    assert_eq!(listed.body["items"][0]["uuid"], run.as_str());
    assert_eq!(
        listed.body["items"][0]["output_references"],
        done["output_references"]
    );
    let all = api.get("/job-runs?limit=100");
    assert_eq!(all.status, 200, "{what}: the tenant's list: {}", all.body);
    let latest = api.get(&format!("/jobs/{job}/latest-run"));
    assert_eq!(
        (latest.status, &latest.body["uuid"]),
        (200, &json!(run)),
        "{what}"
    );
    let logs = api.get(&format!("/job-runs/{run}/logs"));
    assert_eq!(logs.status, 200, "{what}: {}", logs.body);
    let metrics = api.get(&format!("/jobs/{job}/metrics"));
    assert_eq!(metrics.status, 200, "{what}: {}", metrics.body);
    assert_eq!(metrics.body["counts"]["completed"], 1, "{what}");
    got.body
}

#[test]
fn every_bundled_job_type_runs_with_every_option_and_reads_back() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let s = server(&origin, dir.path(), &["--job-create-rate", "0"]);
    let api = s.api(&s.user);
    let schemas = api.get("/jobs/schemas");
    assert_eq!(schemas.status, 200);
    let mut ran = Map::new();
    for t in schemas.body.as_array().unwrap() {
        let job_type = t["job_type"].as_str().unwrap();
        let configs = configs(&t["json_schema"]);
        for (label, config) in &configs {
            run_and_read_back(&api, job_type, label, config);
        }
        ran.insert(job_type.into(), json!(configs.len()));
    }
    // Every bundled type was covered, each with its examples and options.
    for (job_type, at_least) in [
        ("text_stats", 6),
        ("json_select", 7),
        ("csv_summary", 5),
        ("prime_sieve", 3),
        ("http_request", 10),
        ("llm_complete", 7),
        ("fetch_and_summarize", 5),
        ("table_clean", 10),
        ("html_to_markdown", 3),
    ] {
        assert!(
            ran.get(job_type).and_then(Value::as_u64) >= Some(at_least),
            "{job_type}: {ran:?}"
        );
    }
}

#[test]
fn a_run_with_output_references_reads_back_everywhere() {
    let s = Server::start();
    let api = s.api(&s.user);
    let config = json!({"csv": "a\n1\n", "include_rows": 1});
    let run = run_and_read_back(&api, "csv_summary", "include_rows", &config);
    let reference = &run["output_references"][0];
    assert_eq!(reference["name"], "rows.json");
    assert_eq!(reference["media_type"], "application/json");
    let rows: Value = serde_json::from_str(reference["inline"].as_str().unwrap()).unwrap();
    assert_eq!(rows, json!([{"a": 1}]));
    let job = run["job_id"].as_str().unwrap();
    let r = api.delete(&format!("/jobs/{job}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get("/job-runs").status, 200);
}

/// Ordinary text of exactly `chars` characters, in lines of 60.
fn text_of(chars: usize) -> String {
    let line = "the quick brown fox jumps over the lazy dog and runs far away\n";
    line.repeat(chars / line.len() + 1)[..chars].to_string()
}

#[test]
fn the_body_cap_holds_the_largest_documented_inputs() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let s = server(&origin, dir.path(), &["--job-create-rate", "0"]);
    let api = s.api(&s.user);
    let schemas = api.get("/jobs/schemas").body;
    let mut checked = 0;
    for t in schemas.as_array().unwrap() {
        let (job_type, schema) = (t["job_type"].as_str().unwrap(), &t["json_schema"]);
        for (name, property) in schema["properties"].as_object().unwrap() {
            // Free text only: a field with a pattern (a URL) is not prose.
            let Some(max) = property["maxLength"]
                .as_u64()
                .filter(|m| *m > 1024 && property.get("pattern").is_none())
            else {
                continue;
            };
            let mut config = schema["examples"][0].clone();
            localise(job_type, &mut config);
            config[name] = json!(text_of(max as usize));
            let job = api.job(job_type, config.clone());
            let done = api.wait_done(&api.trigger(&job, None));
            assert_eq!(done["status"], "completed", "{job_type}.{name}");
            // One character more breaks the schema (a 422 naming the field), not the body cap.
            config[name] = json!(text_of(max as usize + 1));
            let r = api.post("/jobs", &json!({"job_type": job_type, "config": config}));
            assert_eq!(r.status, 422, "{job_type}.{name}: {}", r.body);
            assert_eq!(
                r.body["error"]["details"]["violations"][0]["pointer"],
                format!("/{name}")
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "text_stats.text, csv_summary.csv, http_request.text, llm_complete.prompt and \
         llm_complete.system are checked ({checked})"
    );

    // The cap is configurable and named when exceeded.
    let small = Server::start_args(&[], &["--max-body-bytes", "2048"]);
    let api = small.api(&small.user);
    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": text_of(3000)}}),
    );
    assert_eq!(
        (r.status, &r.body["error"]["details"]["limit_bytes"]),
        (413, &json!(2048)),
        "{}",
        r.body
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2048 bytes")
    );
    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": text_of(1000)}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn a_whole_number_written_with_a_fraction_part_runs() {
    let s = Server::start();
    let api = s.api(&s.user);
    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": "a b b c c c", "top_n": 3.0}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["config"]["top_n"].to_string(),
        "3",
        "stored as an integer"
    );
    let job = r.body["uuid"].as_str().unwrap();
    let done = api.wait_done(&api.trigger(job, Some(json!({"min_word_length": 1.0}))));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["top_words"].as_array().unwrap().len(), 3);
    let r = api.patch(&format!("/jobs/{job}"), &json!({"config": {"top_n": 1.0}}));
    assert_eq!(r.body["config"]["top_n"].to_string(), "1", "{}", r.body);
    let done = api.wait_done(&api.trigger(job, None));
    assert_eq!(
        done["output"]["top_words"],
        json!([{"word": "c", "count": 3}])
    );
}
