//! Crash torture with three hosts on one PostgreSQL database: concurrent
//! clients create jobs and trigger runs through all three, a random host is
//! killed (kill -9) at a random moment and started again, for
//! `JOBHOST_TORTURE_CYCLES` cycles (20 by default). After every cycle,
//! through a random host: every acknowledged job and run exists as
//! acknowledged; every run ends in exactly one terminal status that never
//! changes afterwards, none stays `running`, attempts only grow, a failure
//! is an interruption. A job scheduled every second (catching up every
//! missed tick) runs each tick exactly once across the hosts, whichever
//! holds the schedule duty when.
//!
//! A third of the jobs are of the witness fixture: each attempt tells its
//! host's own witness (a local HTTP server per host) when it starts and
//! ends, so the test sees which host executed which attempt when. No two
//! executions of one run may overlap (an execution cut by a kill ends at
//! the kill), no attempt may start twice, and every completed witness run's
//! last attempt started and ended.

use crate::origin::Origin;
use crate::server::Server;
use crate::several_hosts::beside;
use crate::support::WITNESS;
use crate::torture::{Acked, Ledger, check_ticks, client, cycles, rand, scheduled_every_second};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn three_hosts_lose_nothing_and_run_ticks_once_across_kill_9_cycles() {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    let witnesses = [Origin::start(), Origin::start(), Origin::start()];
    let grants = tempfile::tempdir().unwrap();
    let grants = grants.path().join("grants.json").display().to_string();
    std::fs::write(
        &grants,
        json!({"witness@1.0.0": {"http": ["http://witness.test"]}}).to_string(),
    )
    .unwrap();
    let resolve = witnesses
        .each_ref()
        .map(|w| format!("witness.test:80=127.0.0.1:{}", w.port));
    // Leases lapse fast, so that a killed host's runs are taken over (by
    // another host, or by itself started again) within the cycle. Each host
    // finds its own witness at witness.test.
    let args = |host: usize| {
        vec![
            "--database",
            &url,
            "--job-create-rate",
            "0",
            "--lease-ttl-ms",
            "2000",
            "--grants",
            &grants,
            "--http-allow-net",
            "127.0.0.1/32",
            "--resolve",
            &resolve[host],
        ]
    };
    let mut first = Server::start_args(&[WITNESS], &args(0));
    let user = first.user.clone();
    let scheduled = scheduled_every_second(&first.api(&user));
    let first_dir = first.take_dir().unwrap();
    let (b_dir, b) = beside(first_dir.path(), &url, &args(1)[2..]);
    let (c_dir, c) = beside(first_dir.path(), &url, &args(2)[2..]);
    let dirs = [first_dir, b_dir, c_dir];
    let mut kills: Vec<(usize, Instant)> = Vec::new();
    let mut hosts = [Some(first), Some(b), Some(c)];

    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut ledger = Ledger::default();
    let mut seed = 0x51ed_270b_27a1_c3d9u64;
    let n = cycles();
    let mut killed = [0usize; 3];
    for cycle in 0..n {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..6)
            .map(|i| {
                let host = hosts[i % 3].as_ref().expect("every host up");
                let (api, acked, stop) = (host.api(&user), acked.clone(), stop.clone());
                let seed = rand(&mut seed) ^ (i as u64 + 1);
                std::thread::spawn(move || client(api, acked, stop, seed, true))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rand(&mut seed) % 480));
        let victim = (rand(&mut seed) % 3) as usize;
        let mut dead = hosts[victim].take().expect("every host up");
        dead.kill();
        kills.push((victim, Instant::now()));
        killed[victim] += 1;
        // Clients of the others go on a little, then stop.
        std::thread::sleep(Duration::from_millis(rand(&mut seed) % 300));
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        drop(dead);
        hosts[victim] = Some(Server::spawn(dirs[victim].path(), &args(victim)));
        let checker = hosts[(rand(&mut seed) % 3) as usize].as_ref().unwrap();
        ledger.check(cycle, &checker.api(&user), &acked.lock().unwrap());
    }
    let ticks = check_ticks(&hosts[0].as_ref().unwrap().api(&user), &scheduled);
    let acked = acked.lock().unwrap();
    // Every acknowledged witness run: its terminal status and last attempt.
    let witnessed: HashMap<&str, (&str, u64)> = acked
        .runs
        .iter()
        .filter(|(_, job)| acked.jobs[*job].get("work_ms").is_some())
        .map(|(run, _)| {
            let (status, _) = &ledger.finals[run];
            (run.as_str(), (status.as_str(), ledger.attempts[run]))
        })
        .collect();
    let (executions, cut) = check_executions(&witnesses, &kills, &witnessed);
    let (retried, interrupted) = ledger.counts();
    println!(
        "crashing hosts: 3 hosts, {n} kill -9 cycles (killed {killed:?}), {} jobs and {} runs \
         acknowledged, {} runs checked, {retried} retried after an interruption, {interrupted} \
         failed after {} attempts, lost 0; {ticks} schedule ticks, each run once; \
         {executions} witnessed executions of {} witness runs ({cut} cut by a kill), none \
         overlapping",
        acked.jobs.len(),
        acked.runs.len(),
        ledger.finals.len(),
        jobhost::worker::MAX_ATTEMPTS,
        witnessed.len()
    );
    assert!(
        acked.runs.len() >= n,
        "the load acknowledged too few runs to mean much"
    );
}

/// One execution of an attempt as its host's witness saw it.
#[derive(Debug)]
struct Execution {
    host: usize,
    attempt: u64,
    start: Instant,
    /// When it told its end; else when its host was next killed.
    end: Option<Instant>,
    cut: bool,
}

/// Reads what each host's witness was told and checks that no attempt
/// started twice, that no two executions of one run overlapped (an
/// execution without an end ends when its host was next killed; one with
/// neither never ended, and overlaps whatever came after it), and that each
/// completed run's last attempt started and ended. Returns the executions
/// seen and how many of them a kill cut.
fn check_executions(
    witnesses: &[Origin; 3],
    kills: &[(usize, Instant)],
    runs: &HashMap<&str, (&str, u64)>,
) -> (usize, usize) {
    let mut by_run: HashMap<String, Vec<Execution>> = HashMap::new();
    let mut ends: Vec<(usize, String, u64, Instant)> = Vec::new();
    for (host, witness) in witnesses.iter().enumerate() {
        for seen in witness.seen() {
            let (what, query) = seen.path.split_once('?').expect("a query");
            let mut run = "";
            let mut attempt = 0;
            for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
                match k {
                    "run" => run = v,
                    "attempt" => attempt = v.parse().unwrap(),
                    _ => {}
                }
            }
            match what {
                "/start" => by_run.entry(run.to_string()).or_default().push(Execution {
                    host,
                    attempt,
                    start: seen.at,
                    end: None,
                    cut: false,
                }),
                "/end" => ends.push((host, run.to_string(), attempt, seen.at)),
                other => panic!("the witness fixture called {other}"),
            }
        }
    }
    for (host, run, attempt, at) in ends {
        let e = by_run
            .get_mut(&run)
            .and_then(|es| {
                es.iter_mut()
                    .find(|e| e.host == host && e.attempt == attempt)
            })
            .unwrap_or_else(|| {
                panic!("run {run} attempt {attempt} ended on host {host} without starting there")
            });
        assert!(e.end.is_none(), "run {run} attempt {attempt} ended twice");
        e.end = Some(at);
    }
    let (mut executions, mut cut) = (0, 0);
    for (run, list) in &mut by_run {
        for e in list.iter_mut().filter(|e| e.end.is_none()) {
            e.end = kills
                .iter()
                .find(|(host, at)| *host == e.host && *at > e.start)
                .map(|(_, at)| *at);
            e.cut = e.end.is_some();
        }
        list.sort_by_key(|e| e.start);
        for pair in list.windows(2) {
            assert_ne!(
                pair[0].attempt, pair[1].attempt,
                "run {run}: attempt {} started twice: {list:?}",
                pair[0].attempt
            );
            assert!(
                pair[0].end.is_some_and(|end| end <= pair[1].start),
                "run {run}: two executions overlap: {list:?}"
            );
        }
        executions += list.len();
        cut += list.iter().filter(|e| e.cut).count();
    }
    for (run, (status, attempt)) in runs {
        if *status != "completed" {
            continue;
        }
        let done = by_run.get(*run).is_some_and(|list| {
            list.iter()
                .any(|e| e.attempt == *attempt && e.end.is_some() && !e.cut)
        });
        assert!(
            done,
            "run {run} completed in attempt {attempt}, which its witness never saw start and end: {:?}",
            by_run.get(*run)
        );
    }
    (executions, cut)
}
