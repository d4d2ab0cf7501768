//! Throughput and dispatch latency by store and host count, in one process
//! at one client load: sled with one host, then PostgreSQL (a throwaway
//! cluster with `fsync` on, started here) with one, two and three hosts on
//! one database, each setup fresh. For each setup, first one client posts a
//! run through each host in turn and polls it to its end: dispatch p50/p99
//! without a queue (what waking a worker costs). Then `--clients C`
//! keep-alive clients (spread over the hosts in turn) post `--runs N`
//! trivial `text_stats` runs without following them, the clock stopping
//! when every run completed: runs/s, accept p50/p99 (POST → 201, client
//! clock), dispatch p50/p99 (created → started, from the runs' timestamps),
//! the hosts' CPU per run and, on PostgreSQL, the database's: its server
//! processes' CPU per run and, from `pg_stat_database`, transactions and
//! rows written per run. `--rounds R` repeats the four setups R times,
//! alternating, and prints medians. Run with
//! `cargo bench -p jobhost --bench hosts`.

mod common;

use common::http::{Conn, runtime};
use common::runs::{hist, micros, timestamps, ts};
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};
use jobhost_test_support::postgres::Postgres;
use serde_json::json;
use std::time::{Duration, Instant};

/// Hosts serving one store, and the user token they share.
struct Setup {
    hosts: Vec<(common::Server, tempfile::TempDir)>,
    token: String,
    /// The database, on PostgreSQL.
    database: Option<String>,
}

impl Setup {
    /// `n` hosts on `url` (PostgreSQL), or one on sled when `url` is none.
    fn start(n: usize, url: Option<&str>) -> Setup {
        let first = tempfile::tempdir().unwrap();
        let token = common::token(first.path());
        let flags: Vec<&str> = url.map_or(Vec::new(), |u| vec!["--database", u]);
        let (server, _) = common::serve_with(first.path(), &flags);
        let mut hosts = vec![(server, first)];
        for _ in 1..n {
            let dir = tempfile::tempdir().unwrap();
            // Every host of one database has the same tokens and key.
            for name in ["tokens.json", "secrets.key"] {
                std::fs::copy(hosts[0].1.path().join(name), dir.path().join(name)).unwrap();
            }
            let (server, _) = common::serve_with(dir.path(), &flags);
            hosts.push((server, dir));
        }
        Setup {
            hosts,
            token,
            database: url.map(String::from),
        }
    }

    fn base(&self, i: usize) -> &str {
        &self.hosts[i % self.hosts.len()].0.1
    }

    /// CPU the hosts used so far.
    fn cpu(&self) -> Duration {
        self.hosts
            .iter()
            .map(|(s, _)| common::cpu::process(s.0.id()))
            .sum()
    }
}

/// CPU used so far by a PostgreSQL cluster: its postmaster (with the
/// children it reaped) and its live server processes.
fn postgres_cpu(pg: &Postgres) -> Duration {
    let pid_file = pg.socket_dir().join("data/postmaster.pid");
    let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let Some(postmaster) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok())
    else {
        return Duration::ZERO;
    };
    let fields = |pid: &str| -> Vec<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect()
    };
    // After ')': ppid is 1, utime 11, stime 12, cutime 13, cstime 14.
    let ticks_ms = |t: u64| Duration::from_millis(t * 10);
    let own = fields(&postmaster.to_string());
    let mut total = ticks_ms(own.get(11..15).map_or(0, |f| f.iter().sum()));
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let f = fields(&name);
        if f.get(1) == Some(&u64::from(postmaster)) {
            total += ticks_ms(f.get(11..13).map_or(0, |f| f.iter().sum()));
        }
    }
    total
}

/// Committed transactions and rows inserted, updated and deleted in
/// `database` so far (the statistics of ended transactions).
fn database_counts(pg: &Postgres, database: &str) -> (u64, u64) {
    let out = pg
        .psql(
            database,
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .unwrap();
    let mut parts = out.split('|').map(|v| v.trim().parse::<u64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

/// What one setup measured.
struct Figures {
    /// One client posting a run and polling it to its end, in turn through
    /// each host: dispatch p50 / p99 ms without a queue.
    light: (f64, f64),
    runs_per_s: f64,
    accept: (f64, f64),
    dispatch: (f64, f64),
    host_cpu_us: f64,
    /// On PostgreSQL: server CPU µs, transactions and rows written per run.
    database: Option<(f64, f64, f64)>,
}

/// Dispatch p50 and p99 (ms) of `n` runs, each posted through the next
/// host by one client and polled every millisecond until it completed.
async fn light(s: &Setup, body: &[u8], n: usize) -> (f64, f64) {
    let mut conns = Vec::new();
    for i in 0..s.hosts.len() {
        conns.push(Conn::open(s.base(i), &s.token).await);
    }
    let mut dispatch = hist();
    for i in 0..n {
        let conn = &mut conns[i % s.hosts.len()];
        let id = conn.post_created("/job-runs", body).await;
        let run = loop {
            let run = conn.get_json(&format!("/job-runs/{id}")).await;
            if run["status"] == "completed" {
                break run;
            }
            assert!(
                matches!(run["status"].as_str(), Some("pending" | "running")),
                "{run}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        dispatch
            .record(micros(ts(&run["started_at"]) - ts(&run["created_at"])))
            .unwrap();
    }
    let ms = |q: f64| dispatch.value_at_quantile(q) as f64 / 1000.0;
    (ms(0.5), ms(0.99))
}

/// One client's dispatch latency ([`light`]), then `runs` runs of a new
/// trivial job posted through `clients` clients spread over the hosts,
/// waiting until every one completed.
async fn measure(s: &Setup, pg: Option<&Postgres>, runs: usize, clients: usize) -> Figures {
    let mut conn = Conn::open(s.base(0), &s.token).await;
    let job = json!({"job_type": "text_stats", "config": {"text": "hi"}}).to_string();
    let job = conn.post_created("/jobs", job.as_bytes()).await;
    let body = json!({"job_id": job}).to_string().into_bytes();
    let light = light(s, &body, 150).await;
    let job = json!({"job_type": "text_stats", "config": {"text": "hi"}}).to_string();
    let job = conn.post_created("/jobs", job.as_bytes()).await;
    let body = json!({"job_id": job}).to_string().into_bytes();
    let per_client = runs / clients;
    let n = per_client * clients;
    let stats = |pg: Option<&Postgres>| {
        pg.map(|pg| {
            std::thread::sleep(Duration::from_millis(1200)); // statistics flushed
            let (xacts, rows) = database_counts(pg, s.database.as_deref().unwrap());
            (postgres_cpu(pg), xacts, rows)
        })
    };
    let db_before = stats(pg);
    let host_before = s.cpu();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (base, token, body) = (s.base(i).to_string(), s.token.clone(), body.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(&base, &token).await;
                let mut h = hist();
                for _ in 0..per_client {
                    let t = Instant::now();
                    let (status, created) = conn.send(Method::POST, "/job-runs", &body).await;
                    assert_eq!(
                        status,
                        StatusCode::CREATED,
                        "{}",
                        String::from_utf8_lossy(&created)
                    );
                    h.record(t.elapsed().as_micros().max(1) as u64).unwrap();
                }
                h
            })
        })
        .collect();
    let mut accept = hist();
    for task in tasks {
        accept.add(task.await.unwrap()).unwrap();
    }
    let open = "/job-runs?statuses=pending&statuses=running&limit=1";
    // Every 10 ms: a list query is not free on PostgreSQL, and this one
    // should not weigh on what is measured.
    while conn.get_json(open).await["count"] != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    let host_cpu = s.cpu() - host_before;
    let db_after = stats(pg);
    let (dispatch, _) = timestamps(&mut conn, &job, n).await;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per_run = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    Figures {
        light,
        runs_per_s: n as f64 / elapsed.as_secs_f64(),
        accept: (ms(&accept, 0.5), ms(&accept, 0.99)),
        dispatch: (ms(&dispatch, 0.5), ms(&dispatch, 0.99)),
        host_cpu_us: per_run(host_cpu),
        database: db_before.zip(db_after).map(|((c0, x0, r0), (c1, x1, r1))| {
            (
                per_run(c1.saturating_sub(c0)),
                (x1 - x0) as f64 / n as f64,
                (r1 - r0) as f64 / n as f64,
            )
        }),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (runs, clients) = (common::arg("--runs", 3_000), common::arg("--clients", 12));
    let rounds = common::arg("--rounds", 1).max(1);
    let probe = tempfile::tempdir().unwrap();
    println!(
        "{}",
        common::machine::header("jobhost hosts benchmark", probe.path())
    );
    let pg = match Postgres::start_durable() {
        Ok(pg) => pg,
        Err(e) => {
            println!("PostgreSQL is not available here, so this benchmark cannot run: {e}");
            return;
        }
    };
    println!(
        "{runs} trivial runs per setup, posted by {clients} clients spread over the hosts; \
         PostgreSQL 15 with fsync on; {rounds} round(s), medians"
    );
    let setups: [(&str, usize); 4] = [
        ("sled, 1 host", 0),
        ("PostgreSQL, 1 host", 1),
        ("PostgreSQL, 2 hosts", 2),
        ("PostgreSQL, 3 hosts", 3),
    ];
    let rt = runtime();
    let mut all: Vec<Vec<Figures>> = setups.iter().map(|_| Vec::new()).collect();
    let mut databases = 0;
    for round in 0..rounds {
        for (i, (name, hosts)) in setups.iter().enumerate() {
            let url = (*hosts > 0).then(|| {
                databases += 1;
                pg.create_database(&format!("bench{databases}")).unwrap()
            });
            let setup = Setup::start((*hosts).max(1), url.as_deref());
            let on_pg = url.is_some().then_some(&pg);
            let f = rt.block_on(measure(&setup, on_pg, runs, clients));
            println!(
                "  round {round} {name:<20} one client: dispatch p50 {:.2} p99 {:.2} ms; \
                 loaded: {:>6.0} runs/s, dispatch p50 {:.2} p99 {:.2} ms",
                f.light.0, f.light.1, f.runs_per_s, f.dispatch.0, f.dispatch.1
            );
            all[i].push(f);
            drop(setup);
        }
    }
    println!();
    println!(
        "| setup | one client: dispatch p50 / p99 ms | loaded: runs/s | accept p50 / p99 ms | dispatch p50 / p99 ms | hosts' CPU µs/run | PostgreSQL CPU µs/run | transactions/run | rows written/run |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for ((name, _), figures) in setups.iter().zip(&all) {
        let m = |f: &dyn Fn(&Figures) -> f64| median(figures.iter().map(f).collect());
        let db = |k: usize| {
            let v: Vec<f64> = figures
                .iter()
                .filter_map(|f| f.database.map(|d| [d.0, d.1, d.2][k]))
                .collect();
            if v.is_empty() {
                "–".to_string()
            } else if k == 0 {
                format!("{:.0}", median(v))
            } else {
                format!("{:.1}", median(v))
            }
        };
        println!(
            "| {name} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} | {} | {} | {} |",
            m(&|f| f.light.0),
            m(&|f| f.light.1),
            m(&|f| f.runs_per_s),
            m(&|f| f.accept.0),
            m(&|f| f.accept.1),
            m(&|f| f.dispatch.0),
            m(&|f| f.dispatch.1),
            m(&|f| f.host_cpu_us),
            db(0),
            db(1),
            db(2),
        );
    }
}
