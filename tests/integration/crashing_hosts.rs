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

use crate::server::Server;
use crate::several_hosts::beside;
use crate::torture::{Acked, Ledger, check_ticks, client, cycles, rand, scheduled_every_second};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn three_hosts_lose_nothing_and_run_ticks_once_across_kill_9_cycles() {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    // Leases lapse fast, so that a killed host's runs are taken over (by
    // another host, or by itself started again) within the cycle.
    let args = [
        "--database",
        &url,
        "--job-create-rate",
        "0",
        "--lease-ttl-ms",
        "2000",
    ];
    let mut first = Server::start_args(&[], &args);
    let user = first.user.clone();
    let scheduled = scheduled_every_second(&first.api(&user));
    let first_dir = first.take_dir().unwrap();
    let (b_dir, b) = beside(first_dir.path(), &url, &args[2..]);
    let (c_dir, c) = beside(first_dir.path(), &url, &args[2..]);
    let dirs = [first_dir, b_dir, c_dir];
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
                std::thread::spawn(move || client(api, acked, stop, seed))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rand(&mut seed) % 480));
        let victim = (rand(&mut seed) % 3) as usize;
        let mut dead = hosts[victim].take().expect("every host up");
        dead.kill();
        killed[victim] += 1;
        // Clients of the others go on a little, then stop.
        std::thread::sleep(Duration::from_millis(rand(&mut seed) % 300));
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        drop(dead);
        hosts[victim] = Some(Server::spawn(dirs[victim].path(), &args));
        let checker = hosts[(rand(&mut seed) % 3) as usize].as_ref().unwrap();
        ledger.check(cycle, &checker.api(&user), &acked.lock().unwrap());
    }
    let ticks = check_ticks(&hosts[0].as_ref().unwrap().api(&user), &scheduled);
    let acked = acked.lock().unwrap();
    let (retried, interrupted) = ledger.counts();
    println!(
        "crashing hosts: 3 hosts, {n} kill -9 cycles (killed {killed:?}), {} jobs and {} runs \
         acknowledged, {} runs checked, {retried} retried after an interruption, {interrupted} \
         failed after {} attempts, lost 0; {ticks} schedule ticks, each run once",
        acked.jobs.len(),
        acked.runs.len(),
        ledger.finals.len(),
        jobhost::worker::MAX_ATTEMPTS
    );
    assert!(
        acked.runs.len() >= n,
        "the load acknowledged too few runs to mean much"
    );
}
