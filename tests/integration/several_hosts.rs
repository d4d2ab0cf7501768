//! Several hosts on one PostgreSQL database: runs triggered through either
//! host and read through the other; every host's events on every host's
//! stream, in one order, resumable across hosts with `Last-Event-ID`; a
//! version published on one host loaded by the other, a yank made on one
//! applied by the other; a run executing on one host cancelled through the
//! other, its execution stopped; a schedule's ticks fired once; a second
//! host with the id of a serving one (a copied data directory) refused;
//! runs paused and resumed through a host that does not execute them;
//! concurrent requests under one idempotency key through two hosts.

use crate::events::Stream;
use crate::plugins::publish;
use crate::server::{Api, Server};
use crate::support::{HOSTILE, VERSIONED};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// A host on `url` beside `first`, with its tokens and secrets key (every
/// host of one database needs the same key), in a data directory and with
/// a host id of its own.
pub(crate) fn beside(first: &Path, url: &str, extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(first).unwrap() {
        let entry = entry.unwrap();
        // Not its host id: each host has its own.
        if entry.file_type().unwrap().is_file() && entry.file_name() != "host-id" {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    for entry in std::fs::read_dir(first.join("plugins")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            dir.path().join("plugins").join(entry.file_name()),
        )
        .unwrap();
    }
    let mut args = vec!["--database", url];
    args.extend_from_slice(extra);
    let server = Server::spawn(dir.path(), &args);
    (dir, server)
}

fn eventually(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs executing on `host` now, from its `/metrics` (served while the
/// database is away).
pub(crate) fn running(host: &Server, operator: &str) -> i64 {
    let text = reqwest::blocking::Client::new()
        .get(format!("{}/metrics", host.base))
        .bearer_auth(operator)
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("jobhost_runs_running "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no jobhost_runs_running in {text}"))
}

/// Events of `stream` until `done` says it has seen enough.
fn read_until(
    stream: &mut Stream,
    mut done: impl FnMut(&[(u64, String, Value)]) -> bool,
) -> Vec<(u64, String, Value)> {
    let mut seen = Vec::new();
    while !done(&seen) {
        let e = stream.next().expect("the stream stays open");
        seen.push((e.id.expect("every event has an id"), e.event, e.data));
    }
    seen
}

#[test]
fn hosts_on_one_database_share_runs_events_the_registry_and_cancels() {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    let a = Server::start_args(&[], &["--database", &url, "--workers", "1"]);
    // A copy of A's data directory, host id included, is refused.
    let copy = tempfile::tempdir().unwrap();
    for name in ["tokens.json", "secrets.key", "host-id"] {
        std::fs::copy(a.data().join(name), copy.path().join(name)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(copy.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("has this host's id") && stderr.contains("Remove host-id from the copy"),
        "{stderr}"
    );
    let (_b_dir, b) = beside(a.data(), &url, &["--workers", "1"]);
    let (api_a, api_b) = (a.api(&a.user), b.api(&a.user));
    let mut stream_b = Stream::open(&api_b, "/events", None);

    // Runs triggered through either host complete and read the same on both.
    let job = api_a.job("text_stats", json!({"text": "one two"}));
    let mut runs = BTreeSet::new();
    for i in 0..6 {
        let via: &Api = if i % 2 == 0 { &api_a } else { &api_b };
        let text = "w ".repeat(i + 1);
        runs.insert(via.trigger(&job, Some(json!({"text": text}))));
    }
    for (i, run) in runs.iter().enumerate() {
        let other: &Api = if i % 2 == 0 { &api_b } else { &api_a };
        let done = other.wait_done(run);
        assert_eq!(done["status"], "completed", "{done}");
        let same = if i % 2 == 0 { &api_a } else { &api_b }.get(&format!("/job-runs/{run}"));
        assert_eq!(same.body["output"], done["output"]);
    }

    // B's stream shows every run's end, whichever host ran it, ids rising.
    let seen = read_until(&mut stream_b, |seen| {
        let ended: BTreeSet<&str> = seen
            .iter()
            .filter(|(_, kind, data)| {
                kind == "job_run.status_changed" && data["data"]["status"] == "completed"
            })
            .filter_map(|(_, _, data)| data["run_id"].as_str())
            .collect();
        runs.iter().all(|r| ended.contains(r.as_str()))
    });
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "ids rise: {seen:?}"
    );
    // A's stream resumed after B's first event replays the same events, in
    // the same order, with the same ids.
    let (first, last) = (seen[0].0, seen[seen.len() - 1].0);
    let mut stream_a = Stream::open(&api_a, "/events", Some(first - 1));
    let replayed = read_until(&mut stream_a, |got| got.last().is_some_and(|e| e.0 >= last));
    let ids = |events: &[(u64, String, Value)]| -> Vec<(u64, String)> {
        events
            .iter()
            .map(|(id, kind, _)| (*id, kind.clone()))
            .collect()
    };
    assert_eq!(ids(&replayed), ids(&seen), "one order on every host");

    // A version published on A is loaded by B; a yank on B reaches A.
    let ops_a = a.api(&a.operator);
    let ops_b = b.api(&a.operator);
    let r = publish(&ops_a, std::fs::read(VERSIONED).unwrap());
    assert_eq!(r.status, 201, "{}", r.body);
    eventually(
        "B loads the version A published",
        Duration::from_secs(10),
        || ops_b.get("/plugins/versioned/1.1.1").status == 200,
    );
    let versioned = api_b.job("versioned", json!({"size": 5}));
    let run = api_b.trigger(&versioned, None);
    assert_eq!(api_a.wait_done(&run)["status"], "completed");
    let r = ops_b.patch(
        "/plugins/versioned/1.1.1",
        &json!({"status": "yanked", "reason": "bad"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("A applies B's yank", Duration::from_secs(10), || {
        ops_a.get("/plugins/versioned/1.1.1").body["status"] == "yanked"
    });
    let r = api_a.post(
        "/jobs",
        &json!({"job_type": "versioned", "job_type_version": "1.1.1", "config": {"size": 5}}),
    );
    assert_ne!(
        r.status, 201,
        "a yanked version takes no new jobs on A: {}",
        r.body
    );

    // A run executing on A, cancelled through another host: A stops
    // executing it. (A sieve far longer than the test, even on a loaded
    // machine where the host started meanwhile takes seconds to come up.)
    let sieve = api_a.job(
        "prime_sieve",
        json!({"limit": 100_000_000_000u64, "segment_size": 65536, "checkpoint_every": 2}),
    );
    let mut b = b;
    b.terminate();
    let long = api_a.trigger(&sieve, None);
    api_a.wait_run(&long, Duration::from_secs(30), |r| r["status"] == "running");
    assert_eq!(running(&a, &a.operator), 1, "A executes it");
    let (_c_dir, c) = beside(a.data(), &url, &["--workers", "1"]);
    let api_c = c.api(&a.user);
    let r = api_c.send("post", &format!("/job-runs/{long}/cancel"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api_a.get(&format!("/job-runs/{long}")).body["status"],
        "cancelled"
    );
    eventually(
        "A stops executing the cancelled run",
        Duration::from_secs(5),
        || running(&a, &a.operator) == 0,
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = api_c.get(&format!("/job-runs/{long}"));
    assert_eq!(
        after.body["status"], "cancelled",
        "A's late writes are refused: {}",
        after.body
    );

    // A schedule every second, on two hosts: each tick fires once.
    let scheduled = api_a.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": "tick"},
                "schedule": {"cron": "* * * * * *", "overlap": "allow"}}),
    );
    assert_eq!(scheduled.status, 201, "{}", scheduled.body);
    let id = scheduled.body["uuid"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(5));
    let r = api_c.send("post", &format!("/jobs/{id}/schedule/pause"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = api_c.get(&format!("/job-runs?job_id={id}&limit=100"));
    let mut ticks: BTreeMap<String, usize> = BTreeMap::new();
    for run in listed.body["items"].as_array().unwrap() {
        *ticks
            .entry(run["scheduled_for"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(ticks.len() >= 3, "ticks fired: {ticks:?}");
    assert!(ticks.values().all(|&n| n == 1), "each tick once: {ticks:?}");
}

/// Of hosts `a` and `b` (serving from data directories `dirs`), the one
/// executing `run` (its lease's holder starts with that host's id), and
/// the other.
fn executing<'h>(
    api: &Api,
    run: &str,
    hosts: [(&'h Server, &Path); 2],
) -> (&'h Server, &'h Server) {
    let running = api.wait_run(run, Duration::from_secs(30), |r| {
        r["status"] == "running" && r["lease"]["holder"].is_string()
    });
    let holder = running["lease"]["holder"].as_str().unwrap();
    let id = |dir: &Path| std::fs::read_to_string(dir.join("host-id")).unwrap();
    if holder.starts_with(id(hosts[0].1).trim()) {
        (hosts[0].0, hosts[1].0)
    } else {
        assert!(holder.starts_with(id(hosts[1].1).trim()), "{running}");
        (hosts[1].0, hosts[0].0)
    }
}

#[test]
fn runs_are_paused_and_resumed_through_a_host_that_does_not_execute_them() {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    let args = ["--workers", "1", "--max-paused-in-memory", "1"];
    let a = Server::start_args(
        &[HOSTILE],
        &[&["--database", url.as_str()][..], &args].concat(),
    );
    let (b_dir, b) = beside(a.data(), &url, &args);
    let api = a.api(&a.user);
    let hosts = [(&a, a.data()), (&b, b_dir.path())];

    // Suspended in memory where it stands (a job type without checkpoints),
    // through the host not executing it, then resumed the same way.
    let compute = api.job("hostile", json!({"attack": "compute", "size": 200_000}));
    let run = api.trigger(&compute, None);
    let (runner, other) = executing(&api, &run, hosts);
    let via = other.api(&a.user);
    let r = via.send("post", &format!("/job-runs/{run}/pause"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["status"], &r.body["paused"]["mode"]),
        (&json!("paused"), &json!("in_memory")),
        "{}",
        r.body
    );
    let on_runner = runner.api(&a.user).get(&format!("/job-runs/{run}"));
    assert_eq!(on_runner.body["status"], "paused", "{}", on_runner.body);

    // The executing host's cap on suspended runs answers through the other.
    let second = api.trigger(&compute, None);
    let (runner2, other2) = executing(&api, &second, hosts);
    let r = other2
        .api(&a.user)
        .send("post", &format!("/job-runs/{second}/pause"), None);
    if runner2.base == runner.base {
        assert_eq!(
            (r.status, r.body["error"]["type"].as_str()),
            (409, Some("too_many_paused")),
            "{}",
            r.body
        );
    } else {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = api.send("post", &format!("/job-runs/{second}/cancel"), None);
    assert_eq!(r.status, 200, "{}", r.body);

    let r = via.send("post", &format!("/job-runs/{run}/resume"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            &r.body["status"],
            &r.body["paused"],
            r.body["attempt"].as_u64()
        ),
        (&json!("running"), &Value::Null, Some(1)),
        "{}",
        r.body
    );
    let r = via.send("post", &format!("/job-runs/{run}/cancel"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(
        "neither host executes a run",
        Duration::from_secs(10),
        || running(&a, &a.operator) + running(&b, &a.operator) == 0,
    );

    // Paused at its next checkpoint (a job type resuming from them), through
    // the host not executing it; resumed, it completes from there.
    let sieve = api.job(
        "prime_sieve",
        json!({"limit": 3_000_000_000u64, "segment_size": 65536, "checkpoint_every": 2}),
    );
    let run = api.trigger(&sieve, None);
    let (_, other) = executing(&api, &run, hosts);
    let via = other.api(&a.user);
    let r = via.send("post", &format!("/job-runs/{run}/pause"), None);
    // 202 while it has not reached one yet.
    assert!(matches!(r.status, 200 | 202), "{}", r.body);
    if r.status == 202 {
        assert_eq!(
            (&r.body["status"], &r.body["pause_requested"]),
            (&json!("running"), &json!(true)),
            "{}",
            r.body
        );
    }
    let paused = via.wait_run(&run, Duration::from_secs(30), |r| r["status"] == "paused");
    assert_eq!(paused["paused"]["mode"], "checkpoint", "{paused}");
    let r = via.send("post", &format!("/job-runs/{run}/resume"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let done = api.wait_run(&run, Duration::from_secs(120), |r| {
        matches!(
            r["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        )
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert!(!done["output"]["resumed_from"].is_null(), "{done}");
}

#[test]
fn one_idempotency_key_through_two_hosts_creates_one_run() {
    let Some(pg) = super::postgres::cluster() else {
        return;
    };
    let url = pg.create_database("jobhost").unwrap();
    let a = Server::start_args(&[], &["--database", &url]);
    let (_b_dir, b) = beside(a.data(), &url, &[]);
    let job = a.api(&a.user).job("text_stats", json!({"text": "a"}));
    let in_flight = crate::idempotency::one_key_races(&[a.api(&a.user), b.api(&a.user)], &job);
    println!("two hosts, one key per round: {in_flight} answers were 409 (key in use)");
}
