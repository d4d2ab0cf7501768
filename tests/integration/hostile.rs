//! Hostile plugins are contained: every attack ends with the named limit or
//! reason, and the host keeps serving healthy runs, also while attacked.

use crate::support::*;
use jobhost::model::StopReason;
use jobhost::runtime::{CancelToken, Collector, Outcome, Runtime};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn attack(rt: &Runtime, name: &str, size: usize, timeout: Duration) -> jobhost::runtime::RunReport {
    let p = plugin(rt, HOSTILE);
    let mut req = request(&p, json!({"attack": name, "size": size}));
    req.limits.timeout = timeout;
    run_request(rt, &p, &req).0
}

fn assert_healthy(rt: &Runtime) {
    let p = plugin(rt, HOSTILE);
    let (report, _) = run(rt, &p, json!({"attack": "none"}));
    assert!(
        matches!(report.outcome, Outcome::Completed(_)),
        "healthy run after an attack: {:?}",
        report.outcome
    );
}

fn assert_stopped(report: &jobhost::runtime::RunReport, reason: StopReason) {
    assert_eq!(
        report.outcome,
        Outcome::Stopped(reason),
        "receipt {:?}",
        report.receipt
    );
    assert_eq!(report.receipt.stopped_by, Some(reason));
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let rt = runtime();
    let started = Instant::now();
    let report = attack(&rt, "loop", 0, Duration::from_millis(300));
    assert_stopped(&report, StopReason::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped near its deadline"
    );
    assert_healthy(&rt);
}

#[test]
fn a_blocking_sleep_hits_the_deadline() {
    let rt = runtime();
    // A minute in WASI's clock, not in wasm: epoch interruption never sees it.
    let started = Instant::now();
    let report = attack(&rt, "sleep", 60_000, Duration::from_millis(300));
    assert_stopped(&report, StopReason::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped near its deadline, not after the sleep: {:?}",
        started.elapsed()
    );
    // A short sleep inside the deadline is allowed.
    let report = attack(&rt, "sleep", 20, Duration::from_secs(5));
    assert!(
        matches!(report.outcome, Outcome::Completed(_)),
        "{:?}",
        report.outcome
    );
    assert_healthy(&rt);
}

#[test]
fn memory_growth_hits_the_memory_limit() {
    let rt = runtime();
    let report = attack(&rt, "memory", 0, Duration::from_secs(10));
    assert_stopped(&report, StopReason::Memory);
    let p = plugin(&rt, HOSTILE);
    assert!(report.receipt.peak_memory_bytes <= p.info.limits.memory_bytes);
    assert!(report.receipt.peak_memory_bytes > p.info.limits.memory_bytes / 2);
    assert_healthy(&rt);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let rt = runtime();
    assert_stopped(
        &attack(&rt, "recursion", 0, Duration::from_secs(10)),
        StopReason::Stack,
    );
    assert_healthy(&rt);
}

#[test]
fn log_flood_is_truncated_then_stopped_by_the_host_call_cap() {
    let rt = runtime();
    let p = plugin(&rt, HOSTILE);
    let req = request(&p, json!({"attack": "log_flood"}));
    let (report, seen) = run_request(&rt, &p, &req);
    assert_stopped(&report, StopReason::HostCalls);
    let ceilings = &rt.config().ceilings;
    assert!(report.receipt.log_bytes <= ceilings.log_bytes as u64);
    assert!(report.receipt.log_lines_dropped > 0);
    let logs = seen.logs.lock().unwrap();
    assert!(
        logs.last().unwrap().message.starts_with("log truncated"),
        "a truncation marker ends the log"
    );
    assert_healthy(&rt);
}

#[test]
fn stdout_flood_is_captured_within_the_budget() {
    let rt = runtime();
    let p = plugin(&rt, HOSTILE);
    let mut req = request(&p, json!({"attack": "stdout_flood"}));
    req.limits.timeout = Duration::from_millis(300);
    let (report, seen) = run_request(&rt, &p, &req);
    assert!(
        matches!(
            report.outcome,
            Outcome::Stopped(StopReason::Timeout | StopReason::HostCalls)
        ),
        "{:?}",
        report.outcome
    );
    assert!(report.receipt.log_bytes <= rt.config().ceilings.log_bytes as u64);
    let logs = seen.logs.lock().unwrap();
    assert_eq!(logs[0].source, jobhost::model::LogSource::Stdout);
    assert!(logs[0].message.starts_with("flooding stdout"));
    assert_healthy(&rt);
}

#[test]
fn output_and_checkpoint_floods_hit_their_caps() {
    let rt = runtime();
    let ceilings = rt.config().ceilings.clone();
    let big = ceilings.output_bytes + 1;
    assert_stopped(
        &attack(&rt, "output_flood", big, Duration::from_secs(10)),
        StopReason::OutputSize,
    );
    let big = ceilings.checkpoint_bytes + 1;
    assert_stopped(
        &attack(&rt, "checkpoint_flood", big, Duration::from_secs(10)),
        StopReason::CheckpointSize,
    );
    // Small checkpoints in a loop are stopped by the host call cap instead.
    assert_stopped(
        &attack(&rt, "checkpoint_flood", 16, Duration::from_secs(30)),
        StopReason::HostCalls,
    );
    assert_healthy(&rt);
}

#[test]
fn traps_and_panics_are_reported_with_their_reason() {
    let rt = runtime();
    let report = attack(&rt, "trap", 0, Duration::from_secs(5));
    assert!(
        matches!(&report.outcome, Outcome::Trapped(m) if m.contains("unreachable")),
        "{:?}",
        report.outcome
    );
    let report = attack(&rt, "panic", 0, Duration::from_secs(5));
    assert!(
        matches!(&report.outcome, Outcome::Trapped(m) if m.contains("panicked on purpose")),
        "{:?}",
        report.outcome
    );
    assert_healthy(&rt);
}

#[test]
fn the_sandbox_has_no_env_and_no_files() {
    let rt = runtime();
    assert!(
        std::env::vars().count() > 0,
        "the host process has an environment to leak"
    );
    let Outcome::Completed(out) = attack(&rt, "snoop", 0, Duration::from_secs(5)).outcome else {
        panic!("snoop completes")
    };
    assert_eq!(out.value["env"], json!([]));
    assert!(
        out.value["read_etc_passwd"]["Err"].is_string(),
        "{}",
        out.value
    );
    assert!(out.value["list_root"]["Err"].is_string(), "{}", out.value);
}

#[test]
fn cancelling_interrupts_a_busy_loop_and_a_cooperative_job() {
    let rt = Arc::new(runtime());
    // `sleep` sits in a blocking WASI call for a minute: no wasm runs, so
    // only the call's watchdog can end it.
    for (attack_name, forced) in [("loop", true), ("wait_for_cancel", false), ("sleep", true)] {
        let p = plugin(&rt, HOSTILE);
        let req = request(&p, json!({"attack": attack_name, "size": 60_000}));
        let cancel = CancelToken::new();
        let (c, r) = (cancel.clone(), rt.clone());
        let handle = std::thread::spawn(move || {
            let report = r.run(&p.compiled, &req, Arc::new(Collector::default()), &c);
            (report, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
        let (report, ended) = handle.join().unwrap();
        let latency = ended - cancel.cancelled_at().unwrap();
        assert_eq!(report.outcome, Outcome::Cancelled, "{attack_name}");
        assert_eq!(
            report.receipt.stopped_by.is_some(),
            forced,
            "{attack_name}: {:?}",
            report.receipt
        );
        // The mechanism, not the figure: the benchmark measures latency.
        assert!(
            latency < Duration::from_secs(1),
            "{attack_name}: cancel took {latency:?}"
        );
    }
}

#[test]
fn healthy_runs_go_on_while_attacks_run() {
    let rt = Arc::new(runtime());
    let attackers: Vec<_> = ["loop", "memory", "log_flood"]
        .into_iter()
        .map(|name| {
            let rt = rt.clone();
            std::thread::spawn(move || attack(&rt, name, 0, Duration::from_secs(2)))
        })
        .collect();
    let p = plugin(&rt, TEXT_STATS);
    for i in 0..50 {
        let (report, _) = run(&rt, &p, json!({"text": format!("run {i} of many")}));
        assert!(
            matches!(report.outcome, Outcome::Completed(_)),
            "{:?}",
            report.outcome
        );
    }
    for a in attackers {
        assert!(a.join().unwrap().receipt.stopped_by.is_some());
    }
}

#[test]
fn fuel_stops_a_loop_and_is_reported() {
    let config = jobhost::runtime::RuntimeConfig {
        ceilings: jobhost::runtime::Ceilings {
            fuel: Some(50_000_000),
            ..Default::default()
        },
        ..Default::default()
    };
    let rt = Runtime::new(config).unwrap();
    let report = attack(&rt, "loop", 0, Duration::from_secs(30));
    assert_stopped(&report, StopReason::Fuel);
    assert_eq!(report.receipt.fuel_consumed, Some(50_000_000));
    let p = plugin(&rt, TEXT_STATS);
    let (report, _) = run(&rt, &p, json!({"text": "fuel is metered"}));
    assert!(matches!(report.outcome, Outcome::Completed(_)));
    let used = report.receipt.fuel_consumed.unwrap();
    assert!(used > 0 && used < 50_000_000, "{used}");
}

#[test]
fn a_full_pool_is_reported_as_busy_not_as_a_plugin_failure() {
    let config = jobhost::runtime::RuntimeConfig {
        max_instances: 1,
        ..Default::default()
    };
    let rt = Arc::new(Runtime::new(config).unwrap());
    let hostile = Arc::new(plugin(&rt, HOSTILE));
    let text_stats = plugin(&rt, TEXT_STATS);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let p = hostile.clone();
            let req = request(&p, json!({"attack": "wait_for_cancel"}));
            let cancel = CancelToken::new();
            let (r, c) = (rt.clone(), cancel.clone());
            let h = std::thread::spawn(move || {
                r.run(&p.compiled, &req, Arc::new(Collector::default()), &c)
            });
            (cancel, h)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let outcomes: Vec<Outcome> = waiters
        .into_iter()
        .map(|(cancel, h)| {
            cancel.cancel();
            h.join().unwrap().outcome
        })
        .collect();
    assert!(
        outcomes.iter().any(|o| matches!(o, Outcome::HostBusy(_))),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::HostBusy(_) | Outcome::Cancelled)),
        "{outcomes:?}"
    );
    let (report, _) = run(&rt, &text_stats, json!({"text": "a slot again"}));
    assert!(
        matches!(report.outcome, Outcome::Completed(_)),
        "{:?}",
        report.outcome
    );
}

/// A run suspended in place: the time suspended does not count against its
/// deadline, it goes on from where it stood, and it stops when the rest of
/// its time is up.
#[test]
fn time_suspended_does_not_count_against_the_deadline() {
    let rt = runtime();
    let p = plugin(&rt, HOSTILE);
    let suspended_for = Duration::from_millis(1200);
    let run = |attack: &str, size: usize| {
        let mut req = request(&p, json!({"attack": attack, "size": size}));
        req.limits.timeout = Duration::from_millis(800);
        let cancel = CancelToken::new();
        let control = cancel.clone();
        let pauser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            control.suspend();
            // It parks at its next epoch tick, later on a loaded machine:
            // the time suspended counts from there.
            let asked = Instant::now();
            while !control.is_suspended() {
                assert!(
                    asked.elapsed() < Duration::from_secs(5),
                    "parked at an epoch tick"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(suspended_for);
            control.resume();
        });
        let started = Instant::now();
        let report = rt.run(&p.compiled, &req, Arc::new(Collector::default()), &cancel);
        pauser.join().unwrap();
        (report, started.elapsed(), cancel.suspended_for())
    };
    // A loop with 800 ms to run: stopped by its deadline 800 ms of running
    // time later, not 800 ms of wall time.
    let (report, took, parked) = run("loop", 0);
    assert_stopped(&report, StopReason::Timeout);
    assert!(parked >= suspended_for, "{parked:?}");
    assert!(
        took >= Duration::from_millis(800) + suspended_for,
        "{took:?}"
    );
    // A computation shorter than its deadline completes, suspended or not
    // (100 million steps take ~a fifth of the deadline idle; the margin is
    // for a machine busy with other work, whose waits count as running).
    let (report, _, _) = run("compute", 100);
    assert!(
        matches!(report.outcome, Outcome::Completed(_)),
        "{:?}",
        report.outcome
    );
}
