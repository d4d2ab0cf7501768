//! End-to-end figures through REST: a real `jobhost serve` on 127.0.0.1 with
//! durable acknowledgement, a trivial `text_stats` job. Prints the latency
//! from POST /job-runs to `completed` (one client), then runs posted by N
//! concurrent keep-alive clients that follow each to the end: runs/s and HDR
//! percentiles of accept (POST → 201, client clock), dispatch (created →
//! started) and completion (created → finished, server clock); the same
//! load posted without following, one run per POST and in batches of 100
//! and 1,000 (POST /job-runs/batch); and the latency of GET /jobs/schemas and
//! of a first page of GET /job-runs. The clients are tasks on one thread
//! (see `common/http.rs`). Run with `cargo bench -p jobhost --bench api`
//! (`-- --runs N --clients C`).

mod common;

use common::http::{Conn, runtime};
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Posts a run of `job`; returns its id.
async fn post(conn: &mut Conn, body: &[u8]) -> String {
    conn.post_created("/job-runs", body).await
}

/// Polls a run every `every` until it completes; returns it. Pauses under
/// the runtime timer's 1 ms resolution block the thread: only for one client.
async fn follow(conn: &mut Conn, id: &str, every: Duration) -> Value {
    let path = format!("/job-runs/{id}");
    loop {
        if every < Duration::from_millis(1) {
            std::thread::sleep(every);
        } else {
            tokio::time::sleep(every).await;
        }
        let r = conn.get_json(&path).await;
        match r["status"].as_str() {
            Some("completed") => return r,
            Some("pending" | "running") => {}
            other => panic!("run ended {other:?}: {r}"),
        }
    }
}

/// The server's CPU per run while `n` runs were being accepted: request
/// handling, and the execution going on beside it.
fn per_run_cpu(used: common::cpu::Threads, n: usize) {
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "  server CPU per run while accepting: requests {:.0} us, execution {:.0} us, other {:.0} us",
        us(used.api),
        us(used.workers),
        us(used.other)
    );
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<46} n={:<5} median {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}",
        samples.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        samples[samples.len() - 1]
    );
}

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("timestamp"), &Rfc3339).unwrap()
}

fn micros(d: time::Duration) -> u64 {
    d.whole_microseconds().max(1) as u64
}

fn print_hist(name: &str, h: &Histogram<u64>) {
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "{name:<46} n={:<6} p50 {:>8.2}ms  p90 {:>8.2}ms  p99 {:>8.2}ms  max {:>8.2}ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}

/// Posts and follows runs; returns (accept, dispatch, completion) histograms in µs.
async fn client(base: String, token: String, body: Vec<u8>, runs: usize) -> [Histogram<u64>; 3] {
    let mut conn = Conn::open(&base, &token).await;
    let mut h = [(); 3].map(|_| Histogram::<u64>::new(3).unwrap());
    for _ in 0..runs {
        let t = Instant::now();
        let id = post(&mut conn, &body).await;
        h[0].record(t.elapsed().as_micros().max(1) as u64).unwrap();
        let done = follow(&mut conn, &id, Duration::from_millis(1)).await;
        let created = ts(&done["created_at"]);
        h[1].record(micros(ts(&done["started_at"]) - created))
            .unwrap();
        h[2].record(micros(ts(&done["finished_at"]) - created))
            .unwrap();
    }
    h
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

/// Times `n` GETs of `path` on one connection.
async fn timed(conn: &mut Conn, path: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = conn.send(Method::GET, path, b"").await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        out.push(t.elapsed());
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (runs, clients) = (common::arg("--runs", 20_000), common::arg("--clients", 32));
    let dir = tempfile::tempdir().unwrap();
    let token = common::token(dir.path());
    let (server, _) = common::serve(dir.path());
    let base = server.1.clone();
    let pid = server.0.id();
    runtime().block_on(async move {
        let mut one = Conn::open(&base, &token).await;
        let (status, job) = one
            .send(
                Method::POST,
                "/jobs",
                json!({"job_type": "text_stats", "config": {"text": "hi"}})
                    .to_string()
                    .as_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let job: Value = serde_json::from_slice(&job).unwrap();
        let body = json!({"job_id": job["uuid"]}).to_string().into_bytes();
        println!(
            "jobhost REST benchmark on {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );

        // One client: POST, then poll every 100 µs until completed.
        let mut samples = Vec::new();
        for i in 0..350 {
            let t = Instant::now();
            let id = post(&mut one, &body).await;
            follow(&mut one, &id, Duration::from_micros(100)).await;
            if i >= 50 {
                samples.push(t.elapsed());
            }
        }
        summary("POST /job-runs -> completed, 1 client", samples);

        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| tokio::spawn(client(base.clone(), token.clone(), body.clone(), runs / clients)))
            .collect();
        let mut total = [(); 3].map(|_| Histogram::<u64>::new(3).unwrap());
        for t in tasks {
            for (t, part) in total.iter_mut().zip(t.await.unwrap()) {
                t.add(part).unwrap();
            }
        }
        let elapsed = started.elapsed();
        let n = total[0].len();
        println!(
            "{n} runs by {clients} clients in {elapsed:.2?}: {:.0} runs/s",
            n as f64 / elapsed.as_secs_f64()
        );
        print_hist("  accept (POST -> 201)", &total[0]);
        print_hist("  dispatch (created -> started)", &total[1]);
        print_hist("  completion (created -> finished)", &total[2]);

        // The same load without following: clients only post, then the
        // benchmark waits for the queue to drain. Separates the server's
        // capacity from the cost of the clients' polling.
        let cpu_before = common::cpu::threads(pid);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (base, token, body) = (base.clone(), token.clone(), body.clone());
                tokio::spawn(async move {
                    let mut conn = Conn::open(&base, &token).await;
                    for _ in 0..runs / clients {
                        post(&mut conn, &body).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let posted = started.elapsed();
        let cpu_accepting = common::cpu::threads(pid) - cpu_before;
        let open = "/job-runs?statuses=pending&statuses=running&limit=1";
        while one.get_json(open).await["count"] != 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let drained = started.elapsed();
        let m = runs / clients * clients;
        println!(
            "{m} runs posted by {clients} clients without following: accepted in {posted:.2?} ({:.0} POST/s), all completed after {drained:.2?} ({:.0} runs/s)",
            m as f64 / posted.as_secs_f64(),
            m as f64 / drained.as_secs_f64()
        );
        per_run_cpu(cpu_accepting, m);

        // The same load through POST /job-runs/batch: batches of 100 and
        // of 1,000, spread over the same clients, posted without following.
        let single = m as f64 / posted.as_secs_f64();
        for size in [100usize, 1000] {
            let batch = {
                let items: Vec<Value> = (0..size).map(|_| json!({"job_id": job["uuid"]})).collect();
                json!({"items": items}).to_string().into_bytes()
            };
            let batches = m / size;
            let cpu_before = common::cpu::threads(pid);
            let started = Instant::now();
            let tasks: Vec<_> = (0..clients.min(batches))
                .map(|c| {
                    let (base, token, batch) = (base.clone(), token.clone(), batch.clone());
                    let mine = (c..batches).step_by(clients).count();
                    tokio::spawn(async move {
                        let mut conn = Conn::open(&base, &token).await;
                        for _ in 0..mine {
                            let (status, body) = conn.send(Method::POST, "/job-runs/batch", &batch).await;
                            assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let posted = started.elapsed();
            let cpu_accepting = common::cpu::threads(pid) - cpu_before;
            while one.get_json(open).await["count"] != 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let drained = started.elapsed();
            let n = batches * size;
            let accepted = n as f64 / posted.as_secs_f64();
            println!(
                "{n} runs posted in batches of {size} by {} clients: accepted in {posted:.2?} ({accepted:.0} runs/s, {:.1}x single POSTs), all completed after {drained:.2?} ({:.0} runs/s)",
                clients.min(batches),
                accepted / single,
                n as f64 / drained.as_secs_f64()
            );
            per_run_cpu(cpu_accepting, n);
        }

        // The same load followed through the event stream instead of
        // polling: one SSE connection sees every run's status changes.
        let mut watcher = Conn::open(&base, &token).await;
        let mut events = stream(&mut watcher, "/events?types=job_run.status_changed").await;
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (base, token, body) = (base.clone(), token.clone(), body.clone());
                tokio::spawn(async move {
                    let mut conn = Conn::open(&base, &token).await;
                    for _ in 0..runs / clients {
                        post(&mut conn, &body).await;
                    }
                })
            })
            .collect();
        let (mut completed, mut pending) = (0usize, String::new());
        while completed < m {
            let frame = events.frame().await.expect("the stream stays open").unwrap();
            if let Ok(data) = frame.into_data() {
                pending.push_str(&String::from_utf8_lossy(&data));
                while let Some(end) = pending.find("\n\n") {
                    let event: String = pending.drain(..end + 2).collect();
                    if event.contains("\"status\":\"completed\"") {
                        completed += 1;
                    }
                }
            }
        }
        let followed = started.elapsed();
        for t in tasks {
            t.await.unwrap();
        }
        println!(
            "{m} runs posted by {clients} clients, followed to completed on one event stream: {followed:.2?} ({:.0} runs/s)",
            m as f64 / followed.as_secs_f64()
        );

        summary(
            "GET /jobs/schemas (4 job types)",
            timed(&mut one, "/jobs/schemas", 500).await,
        );
        summary(
            &format!("GET /job-runs first page ({} runs stored)", n as usize + 4 * m + 350),
            timed(&mut one, "/job-runs?limit=20", 500).await,
        );
        summary(
            "GET /job-runs?statuses=completed",
            timed(&mut one, "/job-runs?statuses=completed&limit=20", 500).await,
        );
    });
    drop(server);
}
