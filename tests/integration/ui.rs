//! The web UI at `/ui`: served with a strict Content-Security-Policy from
//! files that never turn text into markup, and driven in a real headless
//! Chromium (`tests/ui/browser.py`, Selenium over chromedriver) against the
//! real server: a person's whole flow, a job type whose every text is
//! markup and script, and an agent token meeting the REST rule. Screenshots
//! of the pages land in `target/ui-screenshots/` on every run.

use crate::python;
use crate::server::Server;
use crate::support::UNTRUSTED_TEXT;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Chromium and its driver, from `JOBHOST_CHROMIUM` / `JOBHOST_CHROMEDRIVER`
/// or the Debian packages' paths; `None` (after saying so) when missing and
/// not under CI.
fn chromium() -> Option<(String, String)> {
    let browser = std::env::var("JOBHOST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver =
        std::env::var("JOBHOST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if Path::new(&browser).exists() && Path::new(&driver).exists() {
        return Some((browser, driver));
    }
    let why = format!(
        "no Chromium at {browser} or no chromedriver at {driver} \
         (`apt-get install chromium chromium-driver`, or set JOBHOST_CHROMIUM and JOBHOST_CHROMEDRIVER)"
    );
    assert!(std::env::var_os("CI").is_none(), "browser tests need {why}");
    eprintln!("skipped: {why}");
    None
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
}

/// Runs a scenario of `tests/ui/browser.py` and returns what it printed.
fn scenario(s: &Server, name: &str, token: &str, extra: &[&str]) -> Option<Value> {
    let (browser, driver) = chromium()?;
    let py = python::python()?;
    let shots = screenshots();
    let shots = shots.to_str().unwrap();
    let mut args = vec![name, s.base.as_str(), token, shots];
    args.extend_from_slice(extra);
    let env = [
        ("JOBHOST_CHROMIUM", browser.as_str()),
        ("JOBHOST_CHROMEDRIVER", driver.as_str()),
    ];
    Some(python::scenario(&py, "tests/ui/browser.py", &args, &env))
}

/// Console errors other than the API's own refusals the scenario asked for.
fn unexpected_console_errors(out: &Value) -> Vec<String> {
    out["console_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .filter(|e| !(e.contains("/api/v1/") && e.contains("Failed to load resource")))
        .collect()
}

fn no_injection(seen: &Value) {
    assert_eq!(seen["flag"], Value::Null, "{seen}");
    assert_eq!(
        seen["images"], 0,
        "markup from text became elements: {seen}"
    );
    assert_eq!(seen["scripts"], 1, "only the UI's own script: {seen}");
}

#[test]
fn ui_files_carry_a_strict_policy_and_never_parse_text_as_html() {
    let s = Server::start();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(format!("{}/ui", s.base)).send().unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/ui/");
    for file in [
        "",
        "app.js",
        "api.js",
        "dom.js",
        "form.js",
        "catalog.js",
        "jobs.js",
        "runs.js",
        "plugins.js",
        "style.css",
    ] {
        let r = client.get(format!("{}/ui/{file}", s.base)).send().unwrap();
        assert_eq!(r.status(), 200, "{file}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{file}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let media = h["content-type"].to_str().unwrap().to_string();
        let body = r.text().unwrap();
        if file.ends_with(".js") {
            assert!(media.starts_with("text/javascript"), "{file}: {media}");
            // Text reaches the page as text nodes only.
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!body.contains(sink), "{file} uses {sink}");
            }
        }
        // Nothing is loaded from elsewhere.
        for outside in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "from \"http",
            "import(\"http",
        ] {
            assert!(
                !body.contains(outside),
                "{file} loads from outside: {outside}"
            );
        }
    }
    let missing = client.get(format!("{}/ui/nope.js", s.base)).send().unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().unwrap();
    assert_eq!(body["error"]["type"], "not_found");
}

#[test]
fn a_person_creates_runs_follows_and_cancels_a_job_in_the_browser() {
    let s = Server::start();
    let Some(out) = scenario(&s, "flow", &s.user, &[]) else {
        return;
    };
    // The generated form carries the schema's bounds and required marks.
    assert_eq!(out["limit_required"], true, "{out}");
    assert_eq!(out["limit_min"], "2", "{out}");
    // The server's violation is shown at the field its pointer names, and
    // the page stays on the form.
    let field_error = out["field_error"].as_str().unwrap();
    assert!(
        field_error.contains("/limit") && field_error.contains("minimum of 2"),
        "{out}"
    );
    assert!(
        out["problem"]
            .as_str()
            .unwrap()
            .contains("config_invalid (422)"),
        "{out}"
    );
    assert_eq!(out["hash_after_error"], "#/new/prime_sieve");
    // The corrected job, as stored.
    let api = s.api(&s.user);
    let job_id = out["job_id"].as_str().unwrap();
    let job = api.get(&format!("/jobs/{job_id}")).body;
    assert_eq!(job["name"], "Primes from the browser", "{job}");
    assert_eq!(job["config"]["limit"], 5_000_000_000u64);
    assert_eq!(out["job_config"], job["config"]);
    // Progress advanced live, then the cancel took.
    let progress: Vec<f64> = out["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(
        progress.iter().filter(|p| **p > 0.0).count() >= 2,
        "{progress:?}"
    );
    assert_eq!(out["status_while_running"], "running");
    assert_eq!(out["final_status"], "cancelled");
    let run = api
        .get(&format!("/job-runs/{}", out["run_id"].as_str().unwrap()))
        .body;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["job_id"], job_id);
    no_injection(&out["injected"]);
    assert_eq!(unexpected_console_errors(&out), Vec::<String>::new());
    for shot in [
        "sign-in",
        "catalog",
        "new-job-error",
        "job",
        "run",
        "run-cancelled",
        "runs",
    ] {
        assert!(screenshots().join(format!("{shot}.png")).exists(), "{shot}");
    }
}

#[test]
fn plugin_text_is_shown_as_text_never_as_markup() {
    let s = Server::start();
    let Some(out) = scenario(&s, "untrusted", &s.operator, &[UNTRUSTED_TEXT]) else {
        return;
    };
    assert!(
        out["published"]
            .as_str()
            .unwrap()
            .contains("untrusted_text 1.0.0"),
        "{out}"
    );
    for (page, seen) in out["seen"].as_object().unwrap() {
        println!("{page}: {seen}");
        no_injection(seen);
    }
    let img = r#"<img src=x onerror="window.__xss='img'">"#;
    let script = "<script>window.__xss='script'</script>";
    // Every piece of plugin text is on the page, literally.
    let card = out["card_text"].as_str().unwrap();
    assert!(card.contains(&format!("Untrusted {img}")), "{card}");
    assert!(card.contains(&format!("Shown to users: {img}")), "{card}");
    let form = out["form_text"].as_str().unwrap();
    for text in [
        format!("Label {img}"),
        format!("A label {script}"),
        format!("e.g. example {img}"),
        format!("Mode {script}"),
        format!("Nested {img}"),
        format!("Note {img}"),
    ] {
        assert!(form.contains(&text), "{text} missing from {form}");
    }
    assert_eq!(out["enum_options"], json!(["—", "plain", img, script]));
    assert_eq!(out["label_value"], format!("default {img}"));
    assert!(
        out["output_text"]
            .as_str()
            .unwrap()
            .contains("window.__xss")
    );
    assert!(out["logs_text"].as_str().unwrap().contains(img), "{out}");
    // Yanked through the UI.
    let versions = s.api(&s.operator).get("/plugins").body;
    let yanked = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["job_type"] == "untrusted_text")
        .unwrap();
    assert_eq!(yanked["status"], "yanked", "{yanked}");
    assert_eq!(unexpected_console_errors(&out), Vec::<String>::new());
}

#[test]
fn agents_meet_the_rest_rule_in_the_browser() {
    let s = Server::start();
    let Some(out) = scenario(&s, "agent", &s.agent, &[]) else {
        return;
    };
    assert_eq!(out["create_buttons"], 0, "{out}");
    assert_eq!(out["card_hint"], "Not open to this token now.");
    let rest = s.api(&s.agent).post(
        "/jobs",
        &json!({"job_type": "http_request", "config": {"url": "https://example.com/"}}),
    );
    assert_eq!(rest.status, 403);
    let shown = out["problem"].as_str().unwrap();
    assert_eq!(
        shown,
        format!(
            "forbidden (403): {}",
            rest.body["error"]["message"].as_str().unwrap()
        )
    );
    // Operators' pages are not offered (the API refuses them anyway).
    assert_eq!(out["nav"], "Job types\nJobs\nRuns", "{out}");
}

#[test]
fn arrays_raw_json_overrides_filters_schedules_and_approvals_work_in_the_browser() {
    let s = Server::start();
    let operator = s.api(&s.operator);
    let scheduled = operator.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": "tick"},
                "schedule": {"cron": "0 0 1 1 *", "timezone": "UTC"}}),
    );
    assert_eq!(scheduled.status, 201, "{}", scheduled.body);
    let scheduled = scheduled.body["uuid"].as_str().unwrap().to_string();
    let egress = std::fs::read(crate::support::EGRESS).unwrap();
    let published = operator.post_bytes("/plugins", "application/wasm", egress);
    assert_eq!(published.status, 201, "{}", published.body);
    assert_eq!(published.body["approval"]["state"], "pending");
    let Some(out) = scenario(&s, "operations", &s.operator, &[&scheduled, "egress@1.0.0"]) else {
        return;
    };
    // The form's array, boolean and integer, as the raw JSON view shows them.
    assert_eq!(out["raw"]["stopwords"], json!(["the", "a"]), "{out}");
    assert_eq!(out["raw"]["case_sensitive"], true, "{out}");
    assert_eq!(out["raw"]["top_n"], 5, "{out}");
    let job = operator
        .get(&format!("/jobs/{}", out["job_id"].as_str().unwrap()))
        .body;
    assert_eq!(job["config"]["stopwords"], json!(["the", "a"]), "{job}");
    // The trigger's overrides reached the run.
    assert_eq!(
        out["output"]["top_words"].as_array().unwrap().len(),
        1,
        "{out}"
    );
    assert!(
        out["filtered_types"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t == "text_stats"),
        "{out}"
    );
    let job = operator.get(&format!("/jobs/{scheduled}")).body;
    assert_eq!(job["schedule_state"], "paused", "{job}");
    // Approved with what the version declared, prefilled.
    assert_eq!(
        out["prefilled_http"],
        "http://api.example.test, http://unapproved.example.test"
    );
    assert_eq!(out["prefilled_secrets"], "token");
    let plugin = operator.get("/plugins/egress/1.0.0").body;
    assert_eq!(plugin["approval"]["state"], "approved", "{plugin}");
    assert_eq!(plugin["approval"]["granted"]["secrets"], json!(["token"]));
    assert_eq!(unexpected_console_errors(&out), Vec::<String>::new());
}
