//! Healthy runs while hostile plugins attack: a real `jobhost serve` with
//! the default limits and worker count, the `hostile` fixture installed, one
//! client running healthy `text_stats` jobs one after another (POST, then
//! poll every 100 µs until completed). For each attack, from another tenant,
//! blocks of healthy runs alone (the baseline) alternate with blocks while
//! the attack goes on and blocks beside a thread of this process spinning at
//! the kernel's idle priority (what any busy core costs on this machine):
//! p50 and p99 of each side and the ratios of the p99s.
//! Run with `cargo bench -p jobhost --bench attacks` (`-- --samples N
//! --plugin-niceness K --only NAME`).

mod common;
#[path = "../../tests/components.rs"]
mod components;

use common::http::{Conn, runtime};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the attacker does, over and over, until the phase ends.
enum Attack {
    /// Runs of the `hostile` job type with this config, `in_flight` at once.
    Run { config: Value, in_flight: usize },
    /// Uploads of this component, refused with a reason.
    Publish(Vec<u8>),
    /// Not an attack on the server: a thread of this process spinning at
    /// the kernel's idle priority, which yields to every other thread on
    /// the machine. What remains is what any busy core costs on this host.
    Spin,
}

/// The attacks, each with the limit that should contain it.
fn attacks() -> Vec<(&'static str, Attack)> {
    let run = |config: Value, in_flight| Attack::Run { config, in_flight };
    let text_stats = std::fs::read(jobhost_test_support::wasm::TEXT_STATS).unwrap();
    vec![
        (
            "control: another tenant's trivial runs",
            run(json!({"attack": "none"}), 1),
        ),
        ("loop in run (deadline)", run(json!({"attack": "loop"}), 1)),
        (
            "blocking sleep in run (deadline)",
            run(json!({"attack": "sleep", "size": 3_600_000}), 1),
        ),
        (
            "memory growth (memory limit)",
            run(json!({"attack": "memory"}), 1),
        ),
        (
            "deep recursion (stack)",
            run(json!({"attack": "recursion"}), 1),
        ),
        (
            "log flood (log budget, host calls)",
            run(json!({"attack": "log_flood"}), 1),
        ),
        (
            "stdout flood (log budget)",
            run(json!({"attack": "stdout_flood"}), 1),
        ),
        (
            "output flood, 16 MiB (output cap)",
            run(json!({"attack": "output_flood", "size": 16 << 20}), 1),
        ),
        (
            "checkpoint flood, 64 KiB (host calls)",
            run(json!({"attack": "checkpoint_flood", "size": 64 << 10}), 1),
        ),
        (
            "trap storm, 4 in flight (trap)",
            run(json!({"attack": "trap"}), 4),
        ),
        (
            "loop in describe (describe deadline)",
            Attack::Publish(std::fs::read(jobhost_test_support::wasm::DESCRIBE_LOOP).unwrap()),
        ),
        (
            "loop in a start function (describe deadline)",
            Attack::Publish(components::with_core_instance(
                &text_stats,
                components::START_LOOP,
            )),
        ),
        (
            "huge table (table limit)",
            Attack::Publish(components::with_core_instance(
                &text_stats,
                components::HUGE_TABLE,
            )),
        ),
        (
            "4 GiB memory declared (memory limit)",
            Attack::Publish(components::with_core_instance(
                &text_stats,
                components::HUGE_MEMORY,
            )),
        ),
        (
            "compile bomb (compile worker time cap)",
            Attack::Publish(components::compile_bomb()),
        ),
    ]
}

/// One healthy run as the client saw it, with the server's own timing.
#[derive(Clone, Copy)]
struct Sample {
    /// POST to seeing `completed`.
    total: Duration,
    /// POST to its 201 (the run is durable then).
    accept: Duration,
    /// Created to started, and started to finished, by the server's clock (ms).
    queued_ms: f64,
    run_ms: f64,
}

/// Runs healthy jobs one after another.
fn healthy(base: &str, token: &str, body: &[u8], samples: usize) -> Vec<Sample> {
    runtime().block_on(async {
        let mut conn = Conn::open(base, token).await;
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let started = Instant::now();
            let id = conn.post_created("/job-runs", body).await;
            let accept = started.elapsed();
            let path = format!("/job-runs/{id}");
            let run = loop {
                std::thread::sleep(Duration::from_micros(100));
                let r = conn.get_json(&path).await;
                match r["status"].as_str() {
                    Some("completed") => break r,
                    Some("pending" | "running") => {}
                    other => panic!("a healthy run ended {other:?}: {r}"),
                }
            };
            let timing = |k: &str| run["timing"][k].as_f64().unwrap_or(f64::NAN);
            out.push(Sample {
                total: started.elapsed(),
                accept,
                queued_ms: timing("queued_ms"),
                run_ms: timing("run_ms"),
            });
        }
        out
    })
}

/// Where the slowest 1 % of `sorted` spent their time, on average.
fn slowest(sorted: &[Sample]) -> String {
    let tail = &sorted[sorted.len() * 99 / 100..];
    let n = tail.len() as f64;
    let mean = |f: &dyn Fn(&Sample) -> f64| tail.iter().map(f).sum::<f64>() / n;
    format!(
        "total {:.2} ms = accept {:.2} ms (queued {:.2}, run {:.2} of it or after)",
        mean(&|s| s.total.as_secs_f64() * 1e3),
        mean(&|s| s.accept.as_secs_f64() * 1e3),
        mean(&|s| s.queued_ms),
        mean(&|s| s.run_ms),
    )
}

/// How each attack ended, counted by `status/limit` (runs) or refusal reason.
type Endings = BTreeMap<String, usize>;

/// One attacking task: starts attacks back to back until `stop`, then
/// cancels the one in progress and waits for it to end.
async fn attacker(
    base: String,
    token: String,
    attack: Arc<Attack>,
    job: String,
    stop: Arc<AtomicBool>,
) -> Endings {
    let mut conn = Conn::open(&base, &token).await;
    let mut endings = Endings::new();
    while !stop.load(Ordering::Relaxed) {
        let ending = match &*attack {
            Attack::Publish(bytes) => {
                // The server closes the connection after refusing a body.
                conn = Conn::open(&base, &token).await;
                let (status, body) = conn
                    .send_typed(Method::POST, "/plugins", "application/wasm", bytes)
                    .await;
                let body: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
                body["error"]["details"]["reason"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
            Attack::Spin => unreachable!("spinning needs no requests"),
            Attack::Run { .. } => {
                let body = json!({"job_id": job}).to_string();
                let id = conn.post_created("/job-runs", body.as_bytes()).await;
                follow_or_cancel(&mut conn, &id, &stop).await
            }
        };
        *endings.entry(ending).or_default() += 1;
    }
    endings
}

/// Polls an attack run until it ends; cancels it once `stop` is set.
async fn follow_or_cancel(conn: &mut Conn, id: &str, stop: &AtomicBool) -> String {
    let path = format!("/job-runs/{id}");
    let mut cancelled = false;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let r = conn.get_json(&path).await;
        let status = r["status"].as_str().unwrap();
        if !matches!(status, "pending" | "running") {
            let limit = r["error"]["limit"].as_str().or(r["error"]["type"].as_str());
            return match limit {
                Some(limit) => format!("{status}/{limit}"),
                None => status.to_string(),
            };
        }
        if stop.load(Ordering::Relaxed) && !cancelled {
            let (code, _) = conn
                .send(Method::POST, &format!("{path}/cancel"), b"{}")
                .await;
            assert!(
                code.is_success() || code == StatusCode::CONFLICT,
                "cancel: {code}"
            );
            cancelled = true;
        }
    }
}

/// Alternations of baseline and attack per attack: slow drift (the store
/// grows) and periodic noise fall on both sides alike.
const BLOCKS: usize = 8;

/// Starts the attacker's tasks on a thread of their own; they stop when
/// `stop` is set and hand back how their attacks ended.
fn start(
    base: &str,
    token: &str,
    attack: &Arc<Attack>,
    job: &str,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<Endings> {
    let tasks = match &**attack {
        Attack::Run { in_flight, .. } => *in_flight,
        Attack::Publish(_) => 1,
        Attack::Spin => return spin(stop.clone()),
    };
    let (base, token, attack, job, stop) = (
        base.to_string(),
        token.to_string(),
        attack.clone(),
        job.to_string(),
        stop.clone(),
    );
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let args = (
                        base.clone(),
                        token.clone(),
                        attack.clone(),
                        job.clone(),
                        stop.clone(),
                    );
                    tokio::spawn(attacker(args.0, args.1, args.2, args.3, args.4))
                })
                .collect();
            let mut all = Endings::new();
            for h in handles {
                for (k, v) in h.await.unwrap() {
                    *all.entry(k).or_default() += v;
                }
            }
            all
        })
    })
}

/// Spins at idle priority until `stop`.
fn spin(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Endings> {
    std::thread::spawn(move || {
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: pid 0 is the calling thread and `param` is valid.
            let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
            assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        }
        let mut spins = 0u64;
        while !stop.load(Ordering::Relaxed) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        Endings::from([("spun".to_string(), 1)])
    })
}

/// Quantile `q` of sorted `samples`.
fn quantile(samples: &[Sample], q: f64) -> Duration {
    samples[((samples.len() - 1) as f64 * q).round() as usize].total
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let samples = common::arg("--samples", 2000);
    let niceness = common::arg("--plugin-niceness", 0).to_string();
    let only = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        jobhost_test_support::wasm::HOSTILE,
        plugins.join("hostile.wasm"),
    )
    .unwrap();
    let user = common::token(dir.path());
    let attacker_token = common::token_for(dir.path(), "attacker", "operator");
    let (server, _) = common::serve_with(
        dir.path(),
        &[
            "--compile-timeout-ms",
            "3000",
            "--plugin-niceness",
            &niceness,
        ],
    );
    let base = server.1.clone();

    let create = |token: &str, job_type: &str, config: &Value| -> String {
        runtime().block_on(async {
            let mut conn = Conn::open(&base, token).await;
            let body = json!({"job_type": job_type, "config": config}).to_string();
            conn.post_created("/jobs", body.as_bytes()).await
        })
    };
    let healthy_job = create(&user, "text_stats", &json!({"text": "a healthy job"}));
    let body = json!({"job_id": healthy_job}).to_string().into_bytes();

    println!(
        "jobhost under attack: healthy runs (POST -> completed, 1 client) on {} cores, default workers and limits, compile cap 3 s, plugin niceness {niceness}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "each attack: {BLOCKS} rounds of {n} healthy runs alone (baseline), {n} while attacked, {n} beside a spinning thread at idle priority",
        n = samples / BLOCKS
    );
    healthy(&base, &user, &body, 200); // warm-up
    let mut ratios = Vec::new();
    for (name, attack) in attacks().into_iter().filter(|(n, _)| n.contains(&only)) {
        let job = match &attack {
            Attack::Run { config, .. } => create(&attacker_token, "hostile", config),
            Attack::Publish(_) | Attack::Spin => String::new(),
        };
        let attack = Arc::new(attack);
        let spinner = Arc::new(Attack::Spin);
        let (mut before, mut under, mut beside, mut endings) =
            (Vec::new(), Vec::new(), Vec::new(), Endings::new());
        // Healthy runs beside `attack` going on, `samples / BLOCKS` of them.
        let mut phase = |attack: &Arc<Attack>, out: &mut Vec<Sample>| {
            let stop = Arc::new(AtomicBool::new(false));
            let attacking = start(&base, &attacker_token, attack, &job, &stop);
            std::thread::sleep(Duration::from_millis(200)); // the attack is under way
            out.extend(healthy(&base, &user, &body, samples / BLOCKS));
            stop.store(true, Ordering::Relaxed);
            let ended = attacking.join().unwrap();
            if !matches!(**attack, Attack::Spin) {
                for (k, v) in ended {
                    *endings.entry(k).or_default() += v;
                }
            }
        };
        for _ in 0..BLOCKS {
            before.extend(healthy(&base, &user, &body, samples / BLOCKS));
            phase(&attack, &mut under);
            phase(&spinner, &mut beside);
        }
        for side in [&mut before, &mut under, &mut beside] {
            side.sort_by_key(|s| s.total);
        }
        let p = |side: &[Sample]| (quantile(side, 0.5), quantile(side, 0.99));
        let ((b50, b99), (p50, p99), (s50, s99)) = (p(&before), p(&under), p(&beside));
        let ratio = p99.as_secs_f64() / b99.as_secs_f64();
        let floor = p99.as_secs_f64() / s99.as_secs_f64();
        if !name.starts_with("control") {
            ratios.push((ratio, floor));
        }
        println!("{name}");
        println!(
            "    alone p50 {b50:>8.2?} p99 {b99:>8.2?} | attacked p50 {p50:>8.2?} p99 {p99:>8.2?} | beside a spinner p50 {s50:>8.2?} p99 {s99:>8.2?}"
        );
        println!(
            "    p99 attacked / alone {ratio:>5.2}x, attacked / beside a spinner {floor:>5.2}x | attacks ended: {endings:?}"
        );
        println!("    slowest 1 % alone:    {}", slowest(&before));
        println!("    slowest 1 % attacked: {}", slowest(&under));
    }
    if !ratios.is_empty() {
        let summary = |mut r: Vec<f64>| {
            r.sort_by(f64::total_cmp);
            let within = r.iter().filter(|&&x| x <= 2.0).count();
            format!(
                "median {:.2}x, worst {:.2}x, {within} of {} within 2x",
                r[r.len() / 2],
                r[r.len() - 1],
                r.len()
            )
        };
        println!(
            "p99 attacked / alone over {} attacks: {}",
            ratios.len(),
            summary(ratios.iter().map(|r| r.0).collect())
        );
        println!(
            "p99 attacked / beside a spinner: {}",
            summary(ratios.iter().map(|r| r.1).collect())
        );
    }
    drop(server);
}
