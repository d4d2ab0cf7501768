//! One damaged record never takes down a list, a worker or a start: records
//! planted damaged in the database of a stopped server are reported for
//! themselves (500 `damaged_record` naming them) and skipped in lists, the
//! webhook queue backs off on a run it cannot read and sets it aside,
//! and everything else keeps working.

use crate::metrics::sample;
use crate::server::{Api, Server};
use crate::webhooks::Receiver;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Replaces the record under `id` in `tree` with its first half.
fn damage(db: &sled::Db, tree: &str, id: &str) {
    let tree = db.open_tree(tree).unwrap();
    let key = *uuid::Uuid::parse_str(id).unwrap().as_bytes();
    let bytes = tree.get(key).unwrap().expect("the record exists");
    tree.insert(key, &bytes[..bytes.len() / 2]).unwrap();
}

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn metrics(s: &Server, api: &Api) -> String {
    api.client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&s.operator)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn damaged_records_are_reported_alone_and_skipped_everywhere_else() {
    let receiver = Receiver::start(vec![]);
    let flags = [
        "--callback-allow",
        "127.0.0.1/32",
        "--callback-backoff-ms",
        "200",
    ];
    let mut s = Server::start_args(&[], &flags);
    let (user, other) = (s.user.clone(), s.other_tenant.clone());
    let operator = s.operator.clone();
    let api = s.api(&user);
    let r = api.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": "a b"}, "callback_url": receiver.url}),
    );
    let job = r.body["uuid"].as_str().unwrap().to_string();
    let (a, b) = (api.trigger(&job, None), api.trigger(&job, None));
    api.wait_done(&a);
    api.wait_done(&b);
    eventually("both callbacks delivered", || receiver.got().len() == 2);
    // Two runs hold both workers; a third waits in the queue.
    let long = api.job("prime_sieve", json!({"limit": 1_000_000_000_000u64}));
    let running: Vec<String> = (0..2).map(|_| api.trigger(&long, None)).collect();
    for r in &running {
        api.wait_run(r, Duration::from_secs(10), |b| b["status"] == "running");
    }
    let pending = api.trigger(&long, None);
    let broken_job = api.job("text_stats", json!({"text": "x"}));
    let dir = s.take_dir().unwrap();
    s.kill();

    let db = sled::open(dir.path().join("db")).unwrap();
    for run in running.iter().chain([&a, &pending]) {
        damage(&db, "runs", run);
    }
    damage(&db, "jobs", &broken_job);
    // `a`'s callback is due again: the queue meets a run it cannot read.
    let callbacks = db.open_tree("callbacks").unwrap();
    let key = *uuid::Uuid::parse_str(&a).unwrap().as_bytes();
    callbacks.insert(key, &0u64.to_be_bytes()).unwrap();
    db.flush().unwrap();
    drop((callbacks, db));

    let mut s = Server::spawn(dir.path(), &flags);
    s.operator = operator;
    let api = s.api(&user);
    // Nothing spins on the damaged records: the restarted server idles.
    let started = cpu_seconds(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(s.pid()) - started;
    assert!(used < 0.5, "the server used {used:.2} s of CPU in 2 s");

    let r = api.get(&format!("/job-runs/{a}"));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (500, Some("damaged_record")),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["error"]["details"],
        json!({"record": "job_run", "id": a, "reason": r.body["error"]["details"]["reason"]})
    );
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&a) && message.contains("damaged"),
        "{message}"
    );
    assert_eq!(s.api(&other).get(&format!("/job-runs/{a}")).status, 404);
    let logs = api.get(&format!("/job-runs/{a}/logs"));
    assert_eq!(logs.status, 500, "{}", logs.body);

    for path in [
        "/job-runs".to_string(),
        format!("/job-runs?job_id={job}"),
        format!("/job-runs?job_id={long}"),
        "/job-runs?statuses=running&statuses=pending".to_string(),
    ] {
        let r = api.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let ids: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["uuid"].as_str())
            .collect();
        assert!(!ids.contains(&a.as_str()), "{path}: {ids:?}");
    }
    let listed = api.get(&format!("/job-runs?job_id={job}")).body;
    assert_eq!(listed["items"][0]["uuid"], b.as_str());
    let m = api.get(&format!("/jobs/{job}/metrics"));
    assert_eq!((m.status, &m.body["counts"]["completed"]), (200, &json!(1)));
    let r = api.get(&format!("/jobs/{broken_job}"));
    assert_eq!(
        (r.status, &r.body["error"]["details"]["record"]),
        (500, &json!("job"))
    );
    let jobs = api.get("/jobs?limit=100");
    assert_eq!(jobs.status, 200);
    assert!(!jobs.body.to_string().contains(&broken_job));
    let r = api.delete(&format!("/jobs/{long}?cancel_runs=true"));
    assert_eq!(r.status, 200, "{}", r.body);

    // The webhook queue keeps delivering while the damaged run backs off,
    // and sets that one aside after a few tries.
    let c = api.trigger(&job, None);
    api.wait_done(&c);
    eventually("the new run's callback delivered", || {
        receiver
            .got()
            .iter()
            .any(|g| serde_json::from_slice::<Value>(&g.body).unwrap()["uuid"] == c.as_str())
    });
    eventually("the damaged run's callback set aside", || {
        sample(&metrics(&s, &api), "jobhost_callbacks_set_aside_total") == Some(1.0)
    });
    let text = metrics(&s, &api);
    let reads = sample(
        &text,
        r#"jobhost_damaged_record_reads_total{record="job_run"}"#,
    );
    assert!(reads >= Some(4.0), "{text}");
    let reads = sample(&text, r#"jobhost_damaged_record_reads_total{record="job"}"#);
    assert!(reads >= Some(1.0), "{text}");
}
