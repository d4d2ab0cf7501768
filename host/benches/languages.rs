//! The same trivial job (the hostile fixtures' `{"attack": "none"}`) as a
//! Rust, a Python (componentize-py) and a JavaScript (componentize-js)
//! component, measured in one process: size, Cranelift compile, load from
//! the precompiled cache, a fresh instance alone, and a fresh instance plus
//! the run (the per-run cost), with each run's peak memory. Prints medians
//! and p99; never fails on a number.
//! Run with `cargo bench -p jobhost --bench languages` (`-- --quick` for fewer samples).

mod common;

use common::sandbox::{self, load, percentile};
use jobhost::runtime::{CancelToken, Collector, Outcome, Runtime, RuntimeConfig};
use jobhost_test_support::wasm::{HOSTILE, HOSTILE_JS, HOSTILE_PY};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Figures {
    lang: &'static str,
    bytes: usize,
    compile: Vec<Duration>,
    cached: Vec<Duration>,
    instantiate: Vec<Duration>,
    run: Vec<Duration>,
    peak_memory: u64,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn measure(lang: &'static str, path: &str, compiles: usize, runs: usize) -> Figures {
    let bytes = std::fs::read(path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let (mut compile, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..compiles {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        compile.push(
            Runtime::new(config.clone())
                .unwrap()
                .compile(&bytes)
                .unwrap()
                .took(),
        );
        cached.push(
            Runtime::new(config.clone())
                .unwrap()
                .compile(&bytes)
                .unwrap()
                .took(),
        );
    }
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let plugin = load(&rt, path);
    let req = sandbox::request(&plugin, json!({"attack": "none"}), Default::default());
    let observer = Arc::new(Collector::default());
    let once = || {
        let t = Instant::now();
        let report = rt.run(
            &plugin.compiled,
            &req,
            observer.clone(),
            &CancelToken::new(),
        );
        let took = t.elapsed();
        assert!(
            matches!(report.outcome, Outcome::Completed(_)),
            "{lang}: {:?}",
            report.outcome
        );
        (took, report.receipt.peak_memory_bytes)
    };
    // Warm the pool's slots.
    for _ in 0..20 {
        once();
        rt.instantiate_only(&plugin.compiled).unwrap();
    }
    let instantiate = (0..runs)
        .map(|_| {
            let t = Instant::now();
            rt.instantiate_only(&plugin.compiled).unwrap();
            t.elapsed()
        })
        .collect();
    let mut peak_memory = 0;
    let run = (0..runs)
        .map(|_| {
            let (took, peak) = once();
            peak_memory = peak_memory.max(peak);
            took
        })
        .collect();
    Figures {
        lang,
        bytes: bytes.len(),
        compile,
        cached,
        instantiate,
        run,
        peak_memory,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (compiles, runs) = if quick { (1, 50) } else { (3, 300) };
    println!(
        "{}",
        common::machine::header("languages", &std::env::temp_dir())
    );
    println!("the same trivial job in three languages; {compiles} compiles, {runs} runs each\n");
    let all: Vec<Figures> = [
        ("Rust", HOSTILE),
        ("Python", HOSTILE_PY),
        ("JavaScript", HOSTILE_JS),
    ]
    .into_iter()
    .map(|(lang, path)| measure(lang, path, compiles, runs))
    .collect();
    println!(
        "| language | component MB | compile s (median) | cached load ms | fresh instance ms p50 / p99 | instance + run ms p50 / p99 | run vs Rust | peak memory MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let base = {
        let mut r = all[0].run.clone();
        r.sort();
        percentile(&r, 0.5)
    };
    for mut f in all {
        for v in [
            &mut f.compile,
            &mut f.cached,
            &mut f.instantiate,
            &mut f.run,
        ] {
            v.sort();
        }
        println!(
            "| {} | {:.1} | {:.1} | {} | {} / {} | {} / {} | {:.0}x | {:.1} |",
            f.lang,
            f.bytes as f64 / 1e6,
            percentile(&f.compile, 0.5).as_secs_f64(),
            ms(percentile(&f.cached, 0.5)),
            ms(percentile(&f.instantiate, 0.5)),
            ms(percentile(&f.instantiate, 0.99)),
            ms(percentile(&f.run, 0.5)),
            ms(percentile(&f.run, 0.99)),
            percentile(&f.run, 0.5).as_secs_f64() / base.as_secs_f64(),
            f.peak_memory as f64 / (1 << 20) as f64,
        );
    }
}
