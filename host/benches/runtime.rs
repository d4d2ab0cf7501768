//! Runtime figures: compile vs cached load; per-run cost of a fresh instance
//! on 1 and 2 threads beside its baselines in the same process (the same
//! logic compiled natively, instantiation alone, and one OS process per run);
//! cancellation latency. Prints medians; never fails on a number.
//! Run with `cargo bench -p jobhost --bench runtime` (`-- --quick` for fewer
//! samples, `-- --caps-only` for the compile cost at the code caps alone).

mod common;

use common::sandbox::{self, load, percentile};
use jobhost::registry::Plugin;
use jobhost::runtime::{CancelToken, Collector, Outcome, RunRequest, Runtime, RuntimeConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobhost_test_support::wasm::HOSTILE;
use jobhost_test_support::wasm::PRIME_SIEVE;
use jobhost_test_support::wasm::TEXT_STATS;

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    percentile(&s, 0.5)
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<6} median {:>10.1?}  p99 {:>10.1?}  min {:>10.1?}  max {:>10.1?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[0],
        samples[samples.len() - 1]
    );
}

/// A run of `plugin` with `config` and no network or secrets.
fn request(plugin: &Plugin, config: serde_json::Value) -> RunRequest {
    sandbox::request(plugin, config, Default::default())
}

fn compile_vs_cache() {
    let bytes = std::fs::read(TEXT_STATS).unwrap();
    let dir = std::env::temp_dir().join(format!("jobhost-bench-cache-{}", std::process::id()));
    let (mut compiled, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let _ = std::fs::remove_dir_all(&dir);
        let config = RuntimeConfig {
            cache_dir: Some(dir.clone()),
            ..RuntimeConfig::default()
        };
        let c = Runtime::new(config.clone())
            .unwrap()
            .compile(&bytes)
            .unwrap();
        compiled.push(c.took());
        let c = Runtime::new(config).unwrap().compile(&bytes).unwrap();
        cached.push(c.took());
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("component: text_stats.wasm, {} bytes", bytes.len());
    report("compile (Cranelift, no cache)", compiled.clone());
    report("load from the precompiled cache", cached.clone());
    compiled.sort();
    cached.sort();
    println!(
        "  cache speed-up (median ratio): {:.0}x",
        percentile(&compiled, 0.5).as_secs_f64() / percentile(&cached, 0.5).as_secs_f64()
    );
}

/// The same work as a `text_stats` run ({"text": "hi"}), native: parse the
/// config, analyse, serialise the result.
fn native_floor(n: usize) -> Vec<Duration> {
    let config = r#"{"job_type":"text_stats","text":"hi"}"#;
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let c: text_stats::Config =
                jobhost_plugin::parse_config(std::hint::black_box(config)).unwrap();
            let out = serde_json::to_string(&text_stats::analyse(&c)).unwrap();
            std::hint::black_box(out);
            t.elapsed()
        })
        .collect()
}

fn instantiate_only(n: usize) -> Vec<Duration> {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let plugin = load(&rt, TEXT_STATS);
    for _ in 0..200 {
        rt.instantiate_only(&plugin.compiled).unwrap();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            rt.instantiate_only(&plugin.compiled).unwrap();
            t.elapsed()
        })
        .collect()
}

/// The naive host: one `jobhost run` process per run (precompiled cache warm).
fn process_per_run(n: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jobhost"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["run", TEXT_STATS, "--config", r#"{"text":"hi"}"#])
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
        t.elapsed()
    };
    run(); // fills the cache
    (0..n).map(|_| run()).collect()
}

fn per_run(threads: usize, runs_per_thread: usize) -> Vec<Duration> {
    let rt = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let plugin = Arc::new(load(&rt, TEXT_STATS));
    let req = Arc::new(request(&plugin, json!({"text": "hi"})));
    let observer = Arc::new(Collector::default());
    // Warm up the pool slots.
    for _ in 0..200 {
        rt.run(
            &plugin.compiled,
            &req,
            observer.clone(),
            &CancelToken::new(),
        );
    }
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (rt, plugin, req) = (rt.clone(), plugin.clone(), req.clone());
            std::thread::spawn(move || {
                let observer: Arc<Collector> = Arc::new(Collector::default());
                let mut samples = Vec::with_capacity(runs_per_thread);
                for i in 0..runs_per_thread {
                    if i % 256 == 0 {
                        observer.logs.lock().unwrap().clear();
                        observer.progress.lock().unwrap().clear();
                    }
                    let t = Instant::now();
                    let r = rt.run(
                        &plugin.compiled,
                        &req,
                        observer.clone(),
                        &CancelToken::new(),
                    );
                    samples.push(t.elapsed());
                    assert!(matches!(r.outcome, Outcome::Completed(_)));
                }
                samples
            })
        })
        .collect();
    let samples: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let n = samples.len();
    report(
        &format!("fresh instance + text_stats run, {threads} thread(s)"),
        samples.clone(),
    );
    println!(
        "  throughput: {:.0} runs/s",
        n as f64 / elapsed.as_secs_f64()
    );
    samples
}

fn cancel_latency() {
    let rt = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    for (name, path, config) in [
        (
            "cancel latency, busy loop (forced)",
            HOSTILE,
            json!({"attack": "loop"}),
        ),
        (
            "cancel latency, prime_sieve (cooperative)",
            PRIME_SIEVE,
            json!({"limit": 1_000_000_000_000u64, "segment_size": 65536}),
        ),
    ] {
        let plugin = Arc::new(load(&rt, path));
        let mut samples = Vec::new();
        for _ in 0..20 {
            let req = request(&plugin, config.clone());
            let cancel = CancelToken::new();
            let (rt, plugin, c) = (rt.clone(), plugin.clone(), cancel.clone());
            let h = std::thread::spawn(move || {
                let r = rt.run(&plugin.compiled, &req, Arc::new(Collector::default()), &c);
                assert_eq!(r.outcome, Outcome::Cancelled);
                Instant::now()
            });
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
            let ended = h.join().unwrap();
            samples.push(ended - cancel.cancelled_at().unwrap());
        }
        report(name, samples);
    }
}

/// Compile time of components just under the code caps: what a hostile
/// upload can cost before it is refused by `describe` or the world check.
fn compile_at_the_caps() {
    let caps = jobhost::runtime::CodeCaps::default();
    // The shapes below are sized for 1 MiB; scaled to just under the cap.
    let scale = caps.max_function_bytes / (1 << 20);
    // 500 locals mixed at random-looking indices: register pressure.
    let mut pressure = String::from("(local");
    pressure.push_str(&" i64".repeat(500));
    pressure.push(')');
    for i in 0..110_000 * scale {
        pressure.push_str(&format!(
            " local.get {} local.get {} i64.mul local.set {}",
            i % 500,
            (i * 7) % 500,
            (i * 13) % 500
        ));
    }
    let shapes = [
        ("straight-line", "i32.const 1 drop ".repeat(349_000 * scale)),
        (
            "nested-blocks",
            "block i32.const 1 br_if 0 end ".repeat(149_000 * scale),
        ),
        ("register-pressure", pressure),
    ];
    for (name, body) in shapes {
        let wat = format!("(component (core module (func {body})))");
        let wasm = wat::parse_str(&wat).unwrap();
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let started = Instant::now();
        let result = rt.compile(&wasm);
        let took = started.elapsed();
        println!(
            "compile one {name} function of {} bytes (cap {}): {took:.2?} ({})",
            wasm.len(),
            caps.max_function_bytes,
            match result {
                Ok(_) => "compiled".to_string(),
                Err(e) => e.to_string().chars().take(60).collect(),
            }
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "jobhost runtime benchmark on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if std::env::args().any(|a| a == "--caps-only") {
        compile_at_the_caps();
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000 } else { 20_000 };
    compile_vs_cache();
    let native = native_floor(n);
    report("(a) native text_stats logic, 1 thread", native.clone());
    let inst = instantiate_only(n);
    report("(c) fresh store + instantiate only, 1 thread", inst.clone());
    let one = per_run(1, n);
    per_run(2, n);
    let procs = process_per_run(if quick { 20 } else { 100 });
    report("(b) one OS process per run (jobhost run)", procs.clone());
    let (native, inst, one, procs) = (median(&native), median(&inst), median(&one), median(&procs));
    println!(
        "ratios of the median fresh-instance run ({one:.1?}): {:.1}x the native floor, {:.2}x instantiation alone, {:.0}x faster than a process per run",
        one.as_secs_f64() / native.as_secs_f64(),
        one.as_secs_f64() / inst.as_secs_f64(),
        procs.as_secs_f64() / one.as_secs_f64()
    );
    cancel_latency();
    compile_at_the_caps();
}
