//! Loading plugins: each kind of bad component is refused with a reason that
//! names the problem, and never stops the good ones from loading.

use crate::support::*;
use jobhost::job_type::MetadataError;
use jobhost::model::StopReason;
use jobhost::registry::{LoadError, Registry};
use jobhost::runtime::{CallError, CompileError};

fn load(bytes: &[u8]) -> Result<(), LoadError> {
    Registry::prepare(&runtime(), bytes, "test").map(|_| ())
}

#[test]
fn bytes_that_are_not_wasm() {
    assert!(matches!(
        load(b"#!/bin/sh\necho hi\n"),
        Err(LoadError::Compile(CompileError::NotWasm))
    ));
    assert!(matches!(
        load(b""),
        Err(LoadError::Compile(CompileError::NotWasm))
    ));
}

#[test]
fn a_core_module_instead_of_a_component() {
    let module = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let err = load(&module).unwrap_err();
    assert!(matches!(err, LoadError::Compile(CompileError::CoreModule)));
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
}

#[test]
fn a_component_of_another_world() {
    let other = wat::parse_str(r#"(component (import "wasi:keyvalue/store@0.2.0-draft" (instance (export "open" (func)))))"#).unwrap();
    let err = load(&other).unwrap_err();
    assert!(
        matches!(&err, LoadError::Compile(CompileError::WrongWorld { missing, .. }) if missing == &["wasi:keyvalue"]),
        "{err}"
    );
    let said = err.to_string();
    assert!(
        said.starts_with("jobhost provides no `wasi:keyvalue` to plugins")
            && said.contains("wasi:keyvalue/store@0.2.0-draft")
            && said.contains("the linker says:"),
        "{said}"
    );

    let empty = wat::parse_str("(component)").unwrap();
    let err = load(&empty).unwrap_err();
    assert!(
        matches!(err, LoadError::Compile(CompileError::MissingExports(_))),
        "{err}"
    );
}

#[test]
fn truncated_component() {
    let bytes = std::fs::read(TEXT_STATS).unwrap();
    let err = load(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(
        matches!(err, LoadError::Compile(CompileError::Invalid(_))),
        "{err}"
    );
}

#[test]
fn describe_that_loops_is_stopped() {
    let err = load(&std::fs::read(DESCRIBE_LOOP).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Describe(CallError::Stopped(StopReason::Timeout))
        ),
        "{err}"
    );
}

#[test]
fn a_start_function_that_loops_is_stopped_at_the_describe_deadline() {
    let plugin = std::fs::read(TEXT_STATS).unwrap();
    let bytes = crate::components::with_core_instance(&plugin, crate::components::START_LOOP);
    let started = std::time::Instant::now();
    let err = load(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Describe(CallError::Stopped(StopReason::Timeout))
        ),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn huge_tables_and_memories_are_refused_by_their_limits() {
    let plugin = std::fs::read(TEXT_STATS).unwrap();
    for (wat, limit) in [
        (
            crate::components::HUGE_TABLE,
            "table index 0 has a minimum element size of 100000000 which exceeds the limit",
        ),
        (
            crate::components::HUGE_MEMORY,
            "memory has a minimum byte size of 4294967296 which exceeds the limit",
        ),
    ] {
        let err = load(&crate::components::with_core_instance(&plugin, wat)).unwrap_err();
        assert!(
            matches!(err, LoadError::Compile(CompileError::Invalid(_))),
            "{err}"
        );
        assert!(err.to_string().contains(limit), "{err}");
    }
}

#[test]
fn describe_that_traps_is_reported() {
    let err = load(&std::fs::read(DESCRIBE_TRAP).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("describe refuses to describe"),
        "{err}"
    );
}

#[test]
fn invalid_schema_is_refused() {
    let err = load(&std::fs::read(BAD_SCHEMA).unwrap()).unwrap_err();
    assert!(
        matches!(err, LoadError::Metadata(MetadataError::InvalidSchema(_))),
        "{err}"
    );
    assert!(err.to_string().contains("integr"), "{err}");
}

#[test]
fn duplicates_are_refused_and_bad_files_do_not_stop_a_directory() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEXT_STATS, dir.path().join("a.wasm")).unwrap();
    std::fs::copy(TEXT_STATS, dir.path().join("b.wasm")).unwrap();
    std::fs::copy(CSV_SUMMARY, dir.path().join("c.wasm")).unwrap();
    std::fs::write(dir.path().join("d.wasm"), b"junk").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
    let mut reg = Registry::new();
    let failures = reg.load_dir(&rt, dir.path()).unwrap();
    assert_eq!(reg.len(), 2);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        matches!(failures[0].error, LoadError::Duplicate { .. })
            && failures[0].source.ends_with("b.wasm")
    );
    assert!(
        failures[0].error.to_string().contains("a.wasm"),
        "names the one already loaded"
    );
    assert!(matches!(
        failures[1].error,
        LoadError::Compile(CompileError::NotWasm)
    ));
}

#[test]
fn bundled_examples_load_and_newest_is_default() {
    let rt = runtime();
    let mut reg = Registry::new();
    assert!(reg.load_bundled(&rt).is_empty());
    let ids: Vec<&str> = reg.ids().map(|i| i.as_str()).collect();
    assert_eq!(
        ids,
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
    let req = semver::VersionReq::parse("^1").unwrap();
    assert_eq!(
        reg.resolve("text_stats", Some(&req))
            .unwrap()
            .info
            .version
            .to_string(),
        "1.0.0"
    );
    assert!(
        reg.resolve(
            "text_stats",
            Some(&semver::VersionReq::parse("^2").unwrap())
        )
        .is_none()
    );
    assert!(reg.resolve("nope", None).is_none());
}
