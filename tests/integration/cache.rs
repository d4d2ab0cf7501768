//! The precompiled cache: a second runtime loads instead of compiling, and a
//! corrupted entry is recompiled, never trusted.

use crate::support::*;
use jobhost::runtime::{CompiledFrom, Runtime, RuntimeConfig};

fn cached_runtime(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[test]
fn restart_loads_from_the_cache_and_corruption_recompiles() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(TEXT_STATS).unwrap();
    let first = cached_runtime(dir.path()).compile(&bytes).unwrap();
    assert_eq!(first.origin(), CompiledFrom::Compiler);
    let second = cached_runtime(dir.path()).compile(&bytes).unwrap();
    assert_eq!(second.origin(), CompiledFrom::Cache);
    assert!(
        second.took() < first.took(),
        "cached {:?} vs compiled {:?}",
        second.took(),
        first.took()
    );

    let entry = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut artifact = std::fs::read(&entry).unwrap();
    let middle = artifact.len() / 2;
    artifact[middle] ^= 0xff;
    std::fs::write(&entry, artifact).unwrap();
    let third = cached_runtime(dir.path()).compile(&bytes).unwrap();
    assert_eq!(
        third.origin(),
        CompiledFrom::Compiler,
        "a corrupted entry is not trusted"
    );

    // The recompiled artifact runs.
    let rt = cached_runtime(dir.path());
    let p = plugin(&rt, TEXT_STATS);
    let (report, _) = run(&rt, &p, serde_json::json!({"text": "still works"}));
    assert!(matches!(
        report.outcome,
        jobhost::runtime::Outcome::Completed(_)
    ));
}

#[test]
fn an_entry_from_another_engine_configuration_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(TEXT_STATS).unwrap();
    cached_runtime(dir.path()).compile(&bytes).unwrap();
    let mut config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    config.ceilings.fuel = Some(1_000_000);
    let fueled = Runtime::new(config).unwrap();
    assert_eq!(
        fueled.compile(&bytes).unwrap().origin(),
        CompiledFrom::Compiler
    );
}
