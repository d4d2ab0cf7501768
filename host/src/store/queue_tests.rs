//! Queue tests on a temporary database: the count, concurrency, fairness
//! between tenants, and rebuilding on open.

use super::prelude::*;
use super::tests::{open, run, until_unlocked};
use super::*;
use crate::model::JobId;

#[test]
fn queue_count_follows_inserts_pops_and_progress_writes() {
    let (_d, s) = open();
    let job = JobId::new();
    let a = run("t", job, "x", 0);
    s.insert_run(&a).unwrap();
    assert_eq!(s.pop_queue().unwrap(), Some(a.uuid));
    let mut running = a.clone();
    running.status = RunStatus::Running;
    s.update_run(RunStatus::Pending, &running).unwrap();
    s.update_run(RunStatus::Running, &running).unwrap();
    assert_eq!(s.queue_len().unwrap(), 0);
    let b = run("t", job, "x", 0);
    s.insert_run(&b).unwrap();
    assert_eq!(s.queue_len().unwrap(), 1);
    s.update_run(RunStatus::Running, &running).unwrap();
    assert_eq!(
        s.queue_len().unwrap(),
        1,
        "a progress write of another run leaves the count alone"
    );
}

#[test]
fn queue_count_stays_exact_under_concurrent_inserts_pops_and_cancels() {
    let (_d, s) = open();
    let job = JobId::new();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..300 {
                    let r = run("t", job, "x", i % 3);
                    s.insert_run(&r).unwrap();
                    if i % 3 == 0 {
                        let mut c = r.clone();
                        c.status = RunStatus::Cancelled;
                        let _ = s.update_run(RunStatus::Pending, &c);
                    }
                }
            });
        }
        for _ in 0..2 {
            let s = &s;
            scope.spawn(move || {
                for _ in 0..600 {
                    if let Some(id) = s.pop_queue().unwrap() {
                        let mut r = s.run_any_tenant(id).unwrap().unwrap();
                        r.status = RunStatus::Running;
                        let _ = s.update_run(RunStatus::Pending, &r);
                    }
                }
            });
        }
    });
    assert_eq!(
        s.queue_len().unwrap(),
        s.runs_in_status(RunStatus::Pending).unwrap().len(),
        "the count matches the pending runs"
    );
}

#[test]
fn the_queue_is_shared_fairly_between_tenants_and_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobId::new();
    let [a1, a2, a3, b1] = [("a", 0), ("a", 0), ("a", 5), ("b", 0)].map(|(t, p)| {
        std::thread::sleep(std::time::Duration::from_millis(2));
        run(t, job, "x", p)
    });
    let tenant = |t: &str| TenantId(t.into());
    let running = |pairs: &[(&str, usize)]| -> HashMap<TenantId, usize> {
        pairs.iter().map(|(t, n)| (tenant(t), *n)).collect()
    };
    {
        let s = Sled::open(dir.path()).unwrap();
        for r in [&a1, &a2, &a3, &b1] {
            s.insert_run(r).unwrap();
        }
        let pop = |busy: &[(&str, usize)], cap| s.pop_fair(&running(busy), cap).unwrap();
        // Nobody runs anything: the highest priority first, whoever's it is.
        assert_eq!(pop(&[], usize::MAX), Some((a3.uuid, tenant("a"))));
        // a runs one, b none: b's run goes before a's older ones.
        assert_eq!(pop(&[("a", 1)], usize::MAX), Some((b1.uuid, tenant("b"))));
        // a at its cap: nothing is taken although a's runs wait.
        assert_eq!(pop(&[("a", 1), ("b", 1)], 1), None);
        assert_eq!(s.queue_len().unwrap(), 2);
        s.flush_blocking().unwrap();
    }
    // Reopened: every pending run is queued again, those taken but never
    // started included.
    let s = until_unlocked(|| Sled::open(dir.path()));
    assert_eq!(s.queue_len().unwrap(), 4);
    assert_eq!(
        s.pop_fair(&running(&[("a", 1)]), 1).unwrap(),
        Some((b1.uuid, tenant("b")))
    );
    assert_eq!(
        s.pop_fair(&running(&[("a", 1), ("b", 1)]), 1).unwrap(),
        None
    );
    assert_eq!(
        s.pop_fair(&running(&[("b", 1)]), 2).unwrap(),
        Some((a3.uuid, tenant("a"))),
        "priority first within a tenant"
    );
    assert_eq!(s.pop_queue().unwrap(), Some(a1.uuid), "then oldest first");
    assert_eq!(s.pop_queue().unwrap(), Some(a2.uuid));
    assert_eq!(s.pop_queue().unwrap(), None);
}
