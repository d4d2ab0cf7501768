//! Job types written in Python and JavaScript, built from `plugins/python`
//! and `plugins/js` by the project's build: the bundled examples are served,
//! validated and run over REST; cancel and checkpoints work; hostile runs end
//! with the same named limits as Rust ones; the pool holds Python instances.

use crate::app::App;
use crate::support::{plugin, request, run, run_request, runtime};
use jobhost::model::StopReason;
use jobhost::registry::Plugin;
use jobhost::runtime::{Outcome, RunReport, Runtime};
use jobhost_test_support::wasm::{HOSTILE_JS, HOSTILE_PY};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn inline(run: &Value, name: &str) -> String {
    let r = run["output_references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no reference {name}: {run}"));
    r["inline"].as_str().unwrap().to_string()
}

#[test]
fn the_python_and_javascript_examples_are_served_validated_and_run_over_rest() {
    let app = App::start(&[]);
    let api = app.api(&app.user);
    let schemas = api.get("/jobs/schemas").body;
    for (id, field) in [("table_clean", "csv"), ("html_to_markdown", "documents")] {
        let entry = schemas
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["job_type"] == id)
            .unwrap_or_else(|| panic!("{id} is served: {schemas}"));
        let schema = &entry["json_schema"];
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "{schema}"
        );
        assert!(schema["examples"][0].is_object(), "{id} has an example");
        assert!(
            schema["properties"][field]["description"].is_string(),
            "{schema}"
        );
    }

    // Bad configs are refused before anything runs, naming the field.
    for (id, config, pointer) in [
        (
            "table_clean",
            json!({"csv": "a", "delimiter": "x"}),
            "/delimiter",
        ),
        ("table_clean", json!({"csv": "a", "colour": 1}), "/colour"),
        (
            "html_to_markdown",
            json!({"documents": [{"name": "../etc", "html": ""}]}),
            "/documents/0/name",
        ),
    ] {
        let r = api.post("/jobs", &json!({"job_type": id, "config": config}));
        assert_eq!(r.status, 422, "{id} {config}: {}", r.body);
        let pointers: Vec<&str> = r.body["error"]["details"]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["pointer"].as_str().unwrap())
            .collect();
        assert!(pointers.contains(&pointer), "{id} {config}: {}", r.body);
    }

    let table = api.job(
        "table_clean",
        json!({"csv": "Name,Unit Price\n ada , $3.50 \n\nbob,oops\n ada ,3.5\n",
               "number_columns": ["unit_price"], "deduplicate": true}),
    );
    let done = api.wait_done(&api.trigger(&table, None));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["columns"], json!(["name", "unit_price"]));
    assert_eq!(
        done["output"]["dropped"],
        json!({"empty": 1, "duplicate": 1, "missing_required": 0, "bad_number": 1})
    );
    assert_eq!(inline(&done, "clean.csv"), "name,unit_price\nada,3.5\n");

    let pages = api.job(
        "html_to_markdown",
        json!({"documents": [
            {"name": "a", "html": "<h2>Hi</h2><p>See <a href=\"https://x.example/\">x</a>.</p>"},
            {"name": "b", "html": "<ul><li>one</li><li>two</li></ul><script>alert(1)</script>"}],
            "bullet": "*"}),
    );
    let done = api.wait_done(&api.trigger(&pages, None));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        inline(&done, "a.md"),
        "## Hi\n\nSee [x](https://x.example/).\n"
    );
    assert_eq!(inline(&done, "b.md"), "* one\n* two\n");
    assert_eq!(done["output"]["documents"][0]["links"], 1);

    // A run-time override is validated like a saved config.
    let r = api.post(
        "/job-runs",
        &json!({"job_id": pages, "config": {"bullet": "+"}}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    // A config error the schema cannot see comes back from the plugin, named.
    let dup = api.job(
        "html_to_markdown",
        json!({"documents": [{"name": "a", "html": ""}, {"name": "a", "html": ""}]}),
    );
    let done = api.wait_done(&api.trigger(&dup, None));
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["type"], "invalid_config", "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("documents[1].name: 'a' is used twice"),
        "{done}"
    );
}

#[test]
fn python_and_javascript_runs_are_cancelled_and_resume_from_checkpoints() {
    // Both fixtures declare HTTP destinations: approved (none granted) to take jobs.
    let dir = tempfile::tempdir().unwrap();
    let grants = dir.path().join("grants.json");
    std::fs::write(
        &grants,
        json!({"hostile_js@0.1.0": {"http": []}, "hostile_py@0.1.0": {"http": []}}).to_string(),
    )
    .unwrap();
    let app = App::start_with(
        &[HOSTILE_PY, HOSTILE_JS],
        &["--grants", grants.to_str().unwrap()],
    );
    let api = app.api(&app.user);
    for id in ["hostile_py", "hostile_js"] {
        // Cooperative: the job sees the cancel and stops as cancelled.
        let run = api.trigger(&api.job(id, json!({"attack": "wait_for_cancel"})), None);
        api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
        let r = api.send("post", &format!("/job-runs/{run}/cancel"), None);
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        let done = api.wait_done(&run);
        assert_eq!(done["status"], "cancelled", "{id}: {done}");

        // A busy loop that never looks is stopped by the host.
        let run = api.trigger(&api.job(id, json!({"attack": "loop"})), None);
        api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "running");
        let asked = Instant::now();
        api.send("post", &format!("/job-runs/{run}/cancel"), None);
        let done = api.wait_done(&run);
        assert_eq!(done["status"], "cancelled", "{id}: {done}");
        assert!(asked.elapsed() < Duration::from_secs(5), "{id}: {done}");

        // Paused at a checkpoint, resumed from it: the same attempt goes on
        // from the saved step.
        let run = api.trigger(&api.job(id, json!({"attack": "steps", "size": 30})), None);
        api.wait_run(&run, Duration::from_secs(30), |r| {
            r["progress"].as_u64().unwrap_or(0) >= 10
        });
        let r = api.send("post", &format!("/job-runs/{run}/pause"), None);
        assert!(matches!(r.status, 200 | 202), "{id}: {}", r.body);
        let paused = api.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "paused");
        assert_eq!(paused["paused"]["mode"], "checkpoint", "{id}: {paused}");
        let r = api.send("post", &format!("/job-runs/{run}/resume"), None);
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        let done = api.wait_done(&run);
        assert_eq!(done["status"], "completed", "{id}: {done}");
        let from = done["output"]["resumed_from"].as_u64().unwrap_or(0);
        assert!(
            (3..30).contains(&from),
            "{id}: resumed from step {from}: {done}"
        );
        assert_eq!(done["output"]["steps"], 30, "{id}: {done}");
    }
}

fn attack(rt: &Runtime, p: &Plugin, name: &str, timeout: Duration) -> RunReport {
    let mut req = request(p, json!({"attack": name}));
    req.limits.timeout = timeout;
    run_request(rt, p, &req).0
}

fn assert_stopped(what: &str, report: &RunReport, reason: StopReason) {
    assert_eq!(
        report.outcome,
        Outcome::Stopped(reason),
        "{what}: receipt {:?}",
        report.receipt
    );
    assert_eq!(report.receipt.stopped_by, Some(reason), "{what}");
}

#[test]
fn hostile_python_and_javascript_runs_end_with_the_named_limits() {
    let rt = runtime();
    for path in [HOSTILE_PY, HOSTILE_JS] {
        let p = &plugin(&rt, path);
        let started = Instant::now();
        let report = attack(&rt, p, "loop", Duration::from_millis(500));
        assert_stopped(path, &report, StopReason::Timeout);
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");

        let report = attack(&rt, p, "memory", Duration::from_secs(30));
        assert_stopped(path, &report, StopReason::Memory);
        let limit = p.info.limits.memory_bytes;
        assert!(report.receipt.peak_memory_bytes <= limit, "{path}");

        // The log is cut at its budget; the run ends at the host-call cap
        // (Python) or, first, at the memory limit (JavaScript: SpiderMonkey's
        // heap grows with the flood, ~690,000 lines in 64 MiB).
        let report = attack(&rt, p, "log_flood", Duration::from_secs(60));
        assert!(
            matches!(
                report.outcome,
                Outcome::Stopped(StopReason::HostCalls | StopReason::Memory)
            ),
            "{path}: {:?}",
            report.receipt
        );
        assert!(report.receipt.log_lines_dropped > 0, "{path}");
        assert!(report.receipt.log_bytes <= rt.config().ceilings.log_bytes as u64);

        // Runaway recursion ends the run, named, and harms nothing else:
        // CPython's frames live on its heap (the memory limit), SpiderMonkey
        // throws its own error (a failed run).
        let report = attack(&rt, p, "recursion", Duration::from_secs(30));
        match &report.outcome {
            Outcome::Stopped(StopReason::Stack | StopReason::Memory) => {}
            Outcome::Failed(e) => {
                let text = format!("{e:?}").to_lowercase();
                assert!(text.contains("recursion"), "{path}: {text}");
            }
            other => panic!("{path}: recursion ended as {other:?}"),
        }

        let (report, _) = run(&rt, p, json!({"attack": "none"}));
        assert!(
            matches!(report.outcome, Outcome::Completed(_)),
            "{path}: healthy after the attacks: {:?}",
            report.outcome
        );
    }
    // No files, no environment in the Python sandbox.
    let (report, _) = run(&rt, &plugin(&rt, HOSTILE_PY), json!({"attack": "snoop"}));
    let Outcome::Completed(out) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(out.value["env"], json!({}), "{}", out.value);
    assert!(
        out.value["read_etc_passwd"]
            .as_str()
            .unwrap()
            .contains("Error"),
        "{}",
        out.value
    );
}

/// The instance pool holds as many Python instances at once as it has
/// component slots (each holds 14 core instances).
#[test]
fn the_pool_holds_a_python_run_in_every_slot() {
    let rt = Runtime::new(jobhost::runtime::RuntimeConfig {
        max_instances: 3,
        ..Default::default()
    })
    .unwrap();
    let p = plugin(&rt, HOSTILE_PY);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    run(&rt, &p, json!({"attack": "steps", "size": 5}))
                        .0
                        .outcome
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for outcome in outcomes {
        assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");
    }
}
