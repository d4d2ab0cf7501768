//! End-to-end figures through REST: a real `jobhost serve` on 127.0.0.1 with
//! durable acknowledgement, a trivial `text_stats` job, driven by keep-alive
//! clients (tasks on one thread, see `common/http.rs`).
//!
//! The first line names the commit and the disk's synced-write latency. Then,
//! for each load shape, runs/s, the server's CPU per run (user + system of
//! its threads from `/proc`, from the first POST until the last run
//! completed), and HDR percentiles of accept (POST → 201, client clock),
//! dispatch (created → started) and completion (created → finished), both
//! from the runs' own timestamps. The shapes: one client posting and polling
//! each run (latency only); N clients posting and polling each run to its
//! end; posting without following, then waiting for the queue to drain;
//! following every run on one event stream; batches of 100 and 1,000
//! (`POST /job-runs/batch`). Last, the latency of a few reads.
//!
//! `--baseline PATH` measures another build of jobhost (say, one of an
//! older commit) beside this one, shape by shape in the same process, and
//! ends with a table of the two. Run with
//! `cargo bench -p jobhost --bench api`; flags after `--`: `--runs N`
//! (per shape), `--clients C`, `--baseline PATH`, `--rounds R` (each shape
//! R times per build, alternating; the table shows medians), `--only TEXT`
//! (the shapes whose name contains it).

mod common;

use common::cpu::Threads;
use common::http::{Conn, runtime};
use common::runs::{hist, timestamps};
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A server under test.
struct Target {
    label: String,
    server: common::Server,
    token: String,
    _dir: tempfile::TempDir,
}

impl Target {
    fn start(label: String, bin: &str) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let token = common::token_bin(bin, dir.path());
        let (server, _) = common::serve_bin(bin, dir.path(), &[]);
        Target {
            label,
            server,
            token,
            _dir: dir,
        }
    }

    fn base(&self) -> &str {
        &self.server.1
    }

    fn cpu(&self) -> Threads {
        common::cpu::threads(self.server.0.id())
    }

    async fn conn(&self) -> Conn {
        Conn::open(self.base(), &self.token).await
    }

    /// A new job (one per shape, so that its runs can be listed); returns
    /// its id and the body of a POST /job-runs for it.
    async fn job(&self) -> (String, Vec<u8>) {
        let job = json!({"job_type": "text_stats", "config": {"text": "hi"}}).to_string();
        let id = self
            .conn()
            .await
            .post_created("/jobs", job.as_bytes())
            .await;
        let body = json!({"job_id": id}).to_string().into_bytes();
        (id, body)
    }
}

/// Polls a run every `every` until it completes. Pauses under the runtime
/// timer's 1 ms resolution block the thread: only for one client.
async fn follow(conn: &mut Conn, id: &str, every: Duration) {
    let path = format!("/job-runs/{id}");
    loop {
        if every < Duration::from_millis(1) {
            std::thread::sleep(every);
        } else {
            tokio::time::sleep(every).await;
        }
        let r = conn.get_json(&path).await;
        match r["status"].as_str() {
            Some("completed") => return,
            Some("pending" | "running") => {}
            other => panic!("run ended {other:?}: {r}"),
        }
    }
}

fn us(d: Duration) -> u64 {
    d.as_micros().max(1) as u64
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Polled,
    Posted,
    Streamed,
    Batch(usize),
}

impl Shape {
    fn name(self) -> String {
        match self {
            Shape::Polled => "posted and polled to completed".into(),
            Shape::Posted => "posted without following, drained".into(),
            Shape::Streamed => "posted, followed on one event stream".into(),
            Shape::Batch(n) => format!("posted in batches of {n}, drained"),
        }
    }
}

/// What one shape measured on one target.
struct Figures {
    runs: usize,
    elapsed: Duration,
    cpu: Threads,
    /// Per request, client clock, µs (a batch is one request).
    accept: Histogram<u64>,
    /// From the runs' timestamps, µs.
    dispatch: Histogram<u64>,
    completion: Histogram<u64>,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_us(&self, d: Duration) -> f64 {
        d.as_secs_f64() * 1e6 / self.runs as f64
    }

    fn total_cpu_us(&self) -> f64 {
        self.cpu_us(self.cpu.api + self.cpu.workers + self.cpu.other)
    }

    fn print(&self, label: &str) {
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "  {label:<24} {} runs in {:.2?}: {:>6.0} runs/s, server CPU {:>4.0} us/run (requests {:.0}, execution {:.0}, other {:.0})",
            self.runs,
            self.elapsed,
            self.per_second(),
            self.total_cpu_us(),
            self.cpu_us(self.cpu.api),
            self.cpu_us(self.cpu.workers),
            self.cpu_us(self.cpu.other),
        );
        println!(
            "  {:<24} accept p50 {:.2} p99 {:.2} ms; dispatch p50 {:.2} p99 {:.2} ms; completion p50 {:.2} p99 {:.2} ms",
            "",
            ms(&self.accept, 0.5),
            ms(&self.accept, 0.99),
            ms(&self.dispatch, 0.5),
            ms(&self.dispatch, 0.99),
            ms(&self.completion, 0.5),
            ms(&self.completion, 0.99),
        );
    }
}

/// `clients` connections each sending `per_client` requests of `body` to
/// `path`, optionally following each created run; per-request latency.
async fn load(
    t: &Target,
    path: &'static str,
    body: &[u8],
    clients: usize,
    per_client: usize,
    poll: bool,
) -> Histogram<u64> {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (base, token, body) = (t.base().to_string(), t.token.clone(), body.to_vec());
            tokio::spawn(async move {
                let mut conn = Conn::open(&base, &token).await;
                let mut h = hist();
                for _ in 0..per_client {
                    let started = Instant::now();
                    let (status, created) = conn.send(Method::POST, path, &body).await;
                    assert_eq!(
                        status,
                        StatusCode::CREATED,
                        "{}",
                        String::from_utf8_lossy(&created)
                    );
                    h.record(us(started.elapsed())).unwrap();
                    if poll {
                        let created: Value = serde_json::from_slice(&created).unwrap();
                        follow(
                            &mut conn,
                            created["uuid"].as_str().unwrap(),
                            Duration::from_millis(1),
                        )
                        .await;
                    }
                }
                h
            })
        })
        .collect();
    let mut total = hist();
    for task in tasks {
        total.add(task.await.unwrap()).unwrap();
    }
    total
}

/// Waits until no run is open (shapes run one after the other). Asked
/// through the status index, which every build keeps small for open runs.
async fn drained(conn: &mut Conn) {
    let open = "/job-runs?statuses=pending&statuses=running&limit=1";
    while conn.get_json(open).await["count"] != 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Counts `completed` status events of `job` on an event stream until `n`.
async fn completed_on_stream(mut events: hyper::body::Incoming, job: &str, n: usize) {
    let (mut completed, mut pending) = (0usize, String::new());
    let job = format!("\"job_id\":\"{job}\"");
    while completed < n {
        let frame = events
            .frame()
            .await
            .expect("the stream stays open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            pending.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = pending.find("\n\n") {
                let event: String = pending.drain(..end + 2).collect();
                if event.contains("\"status\":\"completed\"") && event.contains(&job) {
                    completed += 1;
                }
            }
        }
    }
}

/// GET `path` and hand back the body as it streams (Server-Sent Events).
async fn stream(conn: &mut Conn, path: &str) -> hyper::body::Incoming {
    let req = hyper::Request::builder()
        .method(Method::GET)
        .uri(format!("{}{path}", conn.prefix))
        .header("host", &conn.host)
        .header("authorization", &conn.auth)
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .unwrap();
    conn.tx.ready().await.unwrap();
    let res = conn.tx.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    res.into_body()
}

/// Measures `shape` on `t` with `runs` runs by `clients` clients.
async fn measure(t: &Target, shape: Shape, runs: usize, clients: usize) -> Figures {
    let (job, body) = t.job().await;
    let mut conn = t.conn().await;
    let (clients, per_client, path, body) = match shape {
        Shape::Batch(size) => {
            let items: Vec<Value> = (0..size).map(|_| json!({"job_id": job})).collect();
            let batches = (runs / size).max(1);
            let clients = clients.min(batches);
            let body = json!({"items": items}).to_string().into_bytes();
            (clients, batches / clients, "/job-runs/batch", body)
        }
        _ => (clients, runs / clients, "/job-runs", body),
    };
    let requests = clients * per_client;
    let n = requests
        * if let Shape::Batch(size) = shape {
            size
        } else {
            1
        };
    let events = match shape {
        Shape::Streamed => {
            Some(stream(&mut t.conn().await, "/events?types=job_run.status_changed").await)
        }
        _ => None,
    };
    let before = t.cpu();
    let started = Instant::now();
    let watch = events.map(|e| {
        let job = job.clone();
        tokio::spawn(async move { completed_on_stream(e, &job, n).await })
    });
    let accept = load(t, path, &body, clients, per_client, shape == Shape::Polled).await;
    match watch {
        Some(watch) => watch.await.unwrap(),
        None => drained(&mut conn).await,
    }
    let elapsed = started.elapsed();
    let cpu = t.cpu() - before;
    let (dispatch, completion) = timestamps(&mut conn, &job, n).await;
    Figures {
        runs: n,
        elapsed,
        cpu,
        accept,
        dispatch,
        completion,
    }
}

/// One client: POST, then poll every 100 µs until completed.
async fn one_client(t: &Target) -> Vec<Duration> {
    let (_, body) = t.job().await;
    let mut conn = t.conn().await;
    let mut samples = Vec::new();
    for i in 0..350 {
        let started = Instant::now();
        let id = conn.post_created("/job-runs", &body).await;
        follow(&mut conn, &id, Duration::from_micros(100)).await;
        if i >= 50 {
            samples.push(started.elapsed());
        }
    }
    samples
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {name:<44} n={:<4} median {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}",
        samples.len(),
        p(0.5),
        p(0.9),
        p(0.99),
    );
}

/// Times `n` GETs of `path` on one connection.
async fn timed(t: &Target, path: &str, n: usize) -> Vec<Duration> {
    let mut conn = t.conn().await;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let (status, _) = conn.send(Method::GET, path, b"").await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        out.push(started.elapsed());
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (runs, clients) = (common::arg("--runs", 20_000), common::arg("--clients", 32));
    let rounds = common::arg("--rounds", 1).max(1);
    let only = common::arg_str("--only");
    let probe = tempfile::tempdir().unwrap();
    println!(
        "{}",
        common::machine::header("jobhost REST benchmark", probe.path())
    );
    let mut targets = vec![Target::start(
        format!("this ({})", common::machine::commit()),
        common::jobhost(),
    )];
    if let Some(bin) = common::arg_str("--baseline") {
        let name = std::path::Path::new(&bin)
            .file_name()
            .map_or(bin.clone(), |n| n.to_string_lossy().into_owned());
        targets.push(Target::start(format!("baseline ({name})"), &bin));
    }
    runtime().block_on(async move {
        println!("POST /job-runs -> completed, 1 client polling every 100 us:");
        for t in &targets {
            summary(&t.label, one_client(t).await);
        }
        let shapes = [
            Shape::Polled,
            Shape::Posted,
            Shape::Streamed,
            Shape::Batch(100),
            Shape::Batch(1000),
        ];
        let mut table = Vec::new();
        for (i, shape) in shapes.into_iter().enumerate() {
            if !only.as_ref().is_none_or(|o| shape.name().contains(o.as_str())) {
                continue;
            }
            println!("{}, {clients} clients at most:", shape.name());
            let mut figures: Vec<Vec<Figures>> = targets.iter().map(|_| Vec::new()).collect();
            for round in 0..rounds {
                // Alternate which target goes first.
                let mut order: Vec<usize> = (0..targets.len()).collect();
                if (i + round) % 2 == 1 {
                    order.reverse();
                }
                for k in order {
                    let f = measure(&targets[k], shape, runs, clients).await;
                    f.print(&targets[k].label);
                    figures[k].push(f);
                }
            }
            table.push((shape, figures));
        }
        for t in &targets {
            println!("reads on {}:", t.label);
            summary("GET /jobs/schemas", timed(t, "/jobs/schemas", 500).await);
            summary("GET /job-runs first page", timed(t, "/job-runs?limit=20", 500).await);
            summary(
                "GET /job-runs?statuses=completed",
                timed(t, "/job-runs?statuses=completed&limit=20", 500).await,
            );
        }
        if targets.len() == 2 {
            println!("this against the baseline, medians of {rounds} rounds (this / baseline):");
            for (shape, f) in &table {
                let median = |f: &[Figures], v: &dyn Fn(&Figures) -> f64| {
                    let mut x: Vec<f64> = f.iter().map(v).collect();
                    x.sort_by(f64::total_cmp);
                    x[x.len() / 2]
                };
                let cpu = |f: &Figures| f.total_cpu_us();
                let rate = |f: &Figures| f.per_second();
                let p99 = |f: &Figures| f.dispatch.value_at_quantile(0.99) as f64 / 1000.0;
                let (n, b) = (&f[0], &f[1]);
                println!(
                    "  {:<40} CPU {:>4.0} / {:>4.0} us/run ({:.2}x), {:>6.0} / {:>6.0} runs/s, dispatch p99 {:.2} / {:.2} ms",
                    shape.name(),
                    median(n, &cpu),
                    median(b, &cpu),
                    median(n, &cpu) / median(b, &cpu),
                    median(n, &rate),
                    median(b, &rate),
                    median(n, &p99),
                    median(b, &p99),
                );
            }
        }
    });
}
