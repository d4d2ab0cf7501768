//! Writing job types in Python, JavaScript and TypeScript as an author
//! does: the SDKs' and examples' native tests pass (pytest, node's test
//! runner), and projects from `jobhost plugin new --lang python|js|ts` test,
//! build, publish to a real server and run.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_sdks_and_examples_pass_their_native_tests() {
    let python = root().join("target/toolchains/python/bin/python");
    for dir in ["plugins/python/sdk", "plugins/python/examples/table-clean"] {
        ok(
            Command::new(&python)
                .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .current_dir(root().join(dir)),
            dir,
        );
    }
    for dir in ["plugins/js/sdk", "plugins/js/examples/html-to-markdown"] {
        if dir.contains("examples") {
            // Links the SDK (a `file:` dependency) into node_modules; no network.
            ok(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(root().join(dir)),
                dir,
            );
        }
        ok(
            Command::new("node")
                .args(["--test", "test/"])
                .current_dir(root().join(dir)),
            dir,
        );
    }
}

/// Runs `cmd`; panics with its output unless it succeeds. Returns stdout.
fn ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `plugin new --lang python|js`: the project's own tests pass natively, it
/// builds (with the toolchains the project's build installed, standing in
/// for the `pip install` / `npm install` the printed steps say), publishes
/// to a real server and completes a run.
#[test]
fn a_new_python_or_javascript_project_tests_builds_publishes_and_runs() {
    const JOBHOST: &str = env!("CARGO_BIN_EXE_jobhost");
    let work = tempfile::tempdir().unwrap();
    let s = crate::server::Server::start();
    let toolchains = root().join("target/toolchains");
    for (lang, name) in [("python", "py_words"), ("js", "js_words")] {
        let dir = work.path().join(name);
        let said = ok(
            Command::new(JOBHOST)
                .args(["plugin", "new", name, "--lang", lang, "--dir"])
                .arg(&dir),
            "plugin new",
        );
        let wasm = dir.join(format!("{name}.wasm"));
        if lang == "python" {
            assert!(said.contains("python -m pytest"), "{said}");
            let python = toolchains.join("python/bin/python");
            let sdk = root().join("plugins/python/sdk");
            ok(
                Command::new(&python)
                    .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
                    .env("PYTHONPATH", &sdk)
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .current_dir(&dir),
                "pytest",
            );
            ok(
                Command::new(&python)
                    .args(["-m", "jobhost_plugin.build", name, "-o"])
                    .arg(&wasm)
                    .env("PYTHONPATH", &sdk)
                    .current_dir(&dir),
                "the Python build",
            );
        } else {
            assert!(said.contains("npm test"), "{said}");
            let sdk = root().join("plugins/js/sdk");
            std::fs::create_dir_all(dir.join("node_modules")).unwrap();
            std::os::unix::fs::symlink(&sdk, dir.join("node_modules/jobhost-plugin")).unwrap();
            ok(
                Command::new("node")
                    .args(["--test", "test/"])
                    .current_dir(&dir),
                "node --test",
            );
            ok(
                Command::new("node")
                    .arg(sdk.join("build.js"))
                    .args(["src/job.js", "-o"])
                    .arg(&wasm)
                    .env("JOBHOST_JS_TOOLCHAIN", toolchains.join("js"))
                    .current_dir(&dir),
                "the JavaScript build",
            );
        }
        publish_and_run(&s, name, &wasm);
    }
}

/// Publishes `wasm` (job type `name`, the templates' word counter) to `s`
/// and asserts a run of it completes with the template's output.
fn publish_and_run(s: &crate::server::Server, name: &str, wasm: &Path) {
    const JOBHOST: &str = env!("CARGO_BIN_EXE_jobhost");
    let published = ok(
        Command::new(JOBHOST)
            .args(["plugin", "publish"])
            .arg(wasm)
            .args(["--server", &s.base, "--token", &s.operator]),
        "plugin publish",
    );
    assert!(
        published.contains(&format!("\"job_type\": \"{name}\"")),
        "{published}"
    );
    let api = s.api(&s.user);
    let job = api.job(name, json!({"text": "one two three", "shout": true}));
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(done["status"], "completed", "{name}: {done}");
    assert_eq!(
        done["output"],
        json!({"words": 3, "shouted": "ONE TWO THREE"}),
        "{name}"
    );
}

/// `plugin new --lang ts`, followed as its printed steps say (a real
/// `npm install` from the registry): `npm test` generates the config schema
/// from the `Config` type, type-checks and runs the tests; `npm run build`
/// makes the component; the server serves the generated schema (doc comments
/// as descriptions, `@asType integer`, bounds, no unknown properties) and
/// validates and runs jobs against it.
#[test]
fn a_new_typescript_project_gets_its_schema_from_its_config_type() {
    const JOBHOST: &str = env!("CARGO_BIN_EXE_jobhost");
    let work = tempfile::tempdir().unwrap();
    let s = crate::server::Server::start();
    let name = "ts_words";
    let dir = work.path().join(name);
    let said = ok(
        Command::new(JOBHOST)
            .args(["plugin", "new", name, "--lang", "ts", "--dir"])
            .arg(&dir),
        "plugin new",
    );
    assert!(said.contains("npm run build"), "{said}");
    let npm = |args: &[&str]| {
        ok(
            Command::new("npm")
                .args(args)
                .args(["--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir),
            &format!("npm {}", args.join(" ")),
        )
    };
    npm(&["install"]);
    npm(&["test"]);
    npm(&["run", "build"]);
    let generated: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("src/config.schema.json")).unwrap())
            .unwrap();
    publish_and_run(&s, name, &dir.join(format!("{name}.wasm")));

    let api = s.api(&s.user);
    let served = api.get(&format!("/jobs/schemas?job_types={name}")).body;
    let schema = &served[0]["json_schema"];
    // As generated, plus the `job_type` property the host adds to every schema.
    let mut properties = schema["properties"].as_object().unwrap().clone();
    assert_eq!(properties.remove("job_type").unwrap()["const"], name);
    assert_eq!(
        Value::Object(properties),
        generated["properties"],
        "{served}"
    );
    assert_eq!(
        schema["properties"]["longest"],
        json!({
            "type": "integer",
            "description": "List this many of the longest words.",
            "minimum": 0,
            "maximum": 20,
            "default": 0,
        })
    );
    assert_eq!(
        schema["properties"]["text"]["description"],
        "The text to work on."
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["text"]));
    for (bad, named) in [
        (json!({"text": "a b", "longest": 1.5}), "/longest"),
        (json!({"text": "a b", "longest": 21}), "/longest"),
        (json!({"text": "a b", "colour": "red"}), "colour"),
    ] {
        let r = api.post("/jobs", &json!({"job_type": name, "config": bad}));
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body.to_string().contains(named), "{bad}: {}", r.body);
    }
    let job = api.job(name, json!({"text": "a bbb cc", "longest": 2}));
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(
        done["output"],
        json!({"words": 3, "longest": ["bbb", "cc"]}),
        "{done}"
    );
}
