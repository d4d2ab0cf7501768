//! Webhooks over HTTP: a finished run is POSTed to a receiver on 127.0.0.1,
//! signed with the tenant's secret; failures are retried with backoff and
//! recorded on the run; denied targets are refused.

use crate::server::Server;
use jobhost::webhooks::sign;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A local HTTP receiver answering with the scripted statuses (then 200).
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(script: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = HashMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    let (k, v) = l.split_once(':').unwrap();
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
                let len: usize = headers["content-length"].parse().unwrap();
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                seen.lock().unwrap().push(Received { headers, body });
                let status = script.next().unwrap_or(200);
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            }
        });
        Receiver { url, got }
    }

    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn wait_for(api: &crate::server::Api, run: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = api.get(&format!("/job-runs/{run}")).body;
        if ok(&r) {
            return r;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn server() -> Server {
    Server::start_args(
        &[],
        &[
            "--callback-allow",
            "127.0.0.1/32",
            "--callback-retries",
            "2",
            "--callback-backoff-ms",
            "50",
        ],
    )
}

#[test]
fn a_finished_run_is_posted_signed_to_its_callback() {
    let s = server();
    let (admin, user) = (s.api(&s.admin), s.api(&s.user));
    let receiver = Receiver::start(vec![]);
    let r = user.post(
        "/jobs",
        &json!({"job_type": "text_stats", "config": {"text": "a b"}, "callback_url": receiver.url}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let run = user.trigger(r.body["uuid"].as_str().unwrap(), None);
    let done = wait_for(&user, &run, |r| r["callback_sent_at"].is_string());
    assert_eq!(done["callback_status_code"], 200);
    assert_eq!(done["callback_attempts"], 1);
    assert_eq!(done["callback_error"], Value::Null);

    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let sent: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(sent["uuid"], run);
    assert_eq!(sent["status"], "completed");
    assert_eq!(sent["output"]["words"], 2);
    assert_eq!(got[0].headers["x-jobhost-event"], "job_run.finished");
    assert_eq!(user.get("/webhooks/secret").status, 403);
    let secret = admin.get("/webhooks/secret").body["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        got[0].headers["x-jobhost-signature"],
        sign(&secret, &got[0].body)
    );
    assert_ne!(
        got[0].headers["x-jobhost-signature"],
        sign("another secret", &got[0].body)
    );
    // A tenant's secret is its own.
    let theirs = s.api(&s.other_tenant).get("/webhooks/secret").body;
    assert_ne!(theirs["secret"], secret);
}

#[test]
fn failed_deliveries_are_retried_with_backoff_and_recorded() {
    let s = server();
    let user = s.api(&s.user);
    let job = user.job("text_stats", json!({"text": "x"}));

    // Fails twice, then succeeds on the last retry.
    let flaky = Receiver::start(vec![500, 503]);
    let r = user.post(
        "/job-runs",
        &json!({"job_id": job, "callback_url": flaky.url}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let run = r.body["uuid"].as_str().unwrap().to_string();
    let done = wait_for(&user, &run, |r| r["callback_sent_at"].is_string());
    assert_eq!(done["callback_attempts"], 3);
    assert_eq!(done["callback_status_code"], 200);
    assert_eq!(flaky.got().len(), 3);
    let ids: std::collections::HashSet<String> = flaky
        .got()
        .iter()
        .map(|g| g.headers["x-jobhost-delivery"].clone())
        .collect();
    assert_eq!(ids.len(), 3, "each attempt has its own delivery id");

    // Always fails: gives up after the retries, saying why.
    let down = Receiver::start(vec![500; 10]);
    let r = user.post(
        "/job-runs",
        &json!({"job_id": job, "callback_url": down.url}),
    );
    let run = r.body["uuid"].as_str().unwrap().to_string();
    let failed = wait_for(&user, &run, |r| {
        r["callback_error"]
            .as_str()
            .is_some_and(|e| e.contains("gave up"))
    });
    assert_eq!(failed["callback_attempts"], 3);
    assert_eq!(failed["callback_status_code"], 500);
    assert_eq!(failed["callback_sent_at"], Value::Null);
    assert!(
        failed["callback_error"]
            .as_str()
            .unwrap()
            .contains("answered 500"),
        "{failed}"
    );
    assert_eq!(down.got().len(), 3);

    // Nobody listens: the run records the cause, not only that sending failed.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let r = user.post("/job-runs", &json!({"job_id": job, "callback_url": url}));
    let run = r.body["uuid"].as_str().unwrap().to_string();
    let failed = wait_for(&user, &run, |r| r["callback_error"].is_string());
    let why = failed["callback_error"].as_str().unwrap();
    assert!(why.starts_with("connection refused ("), "{why}");
    assert_eq!(failed["callback_status_code"], Value::Null);
}

#[test]
fn denied_targets_are_refused() {
    // No allow-list: loopback and metadata addresses are denied.
    let s = Server::start();
    let user = s.api(&s.user);
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:9/x",
        "ftp://example.com/",
        "http://u:p@example.com/",
    ] {
        let r = user.post(
            "/jobs",
            &json!({"job_type": "text_stats", "config": {"text": "x"}, "callback_url": url}),
        );
        assert_eq!(r.status, 422, "{url}: {}", r.body);
        assert_eq!(
            r.body["error"]["details"]["violations"][0]["pointer"],
            "/callback_url"
        );
    }
    // A name that resolves to loopback is refused at delivery, and the run says so.
    let receiver = Receiver::start(vec![]);
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let job = user.job("text_stats", json!({"text": "x"}));
    let r = user.post(
        "/job-runs",
        &json!({"job_id": job, "callback_url": format!("http://localhost:{port}/hook")}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let run = r.body["uuid"].as_str().unwrap().to_string();
    let refused = wait_for(&user, &run, |r| r["callback_error"].is_string());
    let why = refused["callback_error"].as_str().unwrap();
    assert!(
        why.contains("loopback") && why.contains("gave up after 1 attempts"),
        "{refused}"
    );
    assert!(receiver.got().is_empty());
}

/// The events a receiver got, with the run's status in each, in order.
fn events(receiver: &Receiver, secret: &str) -> Vec<(String, String)> {
    receiver
        .got()
        .iter()
        .map(|g| {
            assert_eq!(g.headers["x-jobhost-signature"], sign(secret, &g.body));
            let sent: Value = serde_json::from_slice(&g.body).unwrap();
            (
                g.headers["x-jobhost-event"].clone(),
                sent["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn pauses_and_resumes_are_announced_in_order_before_the_result() {
    let s = Server::start_args(
        &[crate::support::HOSTILE],
        &[
            "--workers",
            "1",
            "--callback-allow",
            "127.0.0.1/32",
            "--callback-retries",
            "2",
            "--callback-backoff-ms",
            "300",
        ],
    );
    let (admin, user) = (s.api(&s.admin), s.api(&s.user));
    let secret = admin.get("/webhooks/secret").body["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let post = |path: String| user.send("post", &path, None);

    // A run suspended in memory; its receiver refuses the first notice once.
    let long = Receiver::start(vec![503]);
    let r = user.post(
        "/jobs",
        &json!({"job_type": "hostile", "config": {"attack": "compute", "size": 1500},
                "callback_url": long.url}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let running = user.trigger(r.body["uuid"].as_str().unwrap(), None);
    user.wait_run(&running, Duration::from_secs(30), |r| {
        r["status"] == "running"
    });

    // A pending run behind it (one worker), held out of the queue; it
    // completes soon after its resume, before its first notice's retry.
    let short = Receiver::start(vec![503]);
    let job = user.job("text_stats", json!({"text": "a b c"}));
    let r = user.post(
        "/job-runs",
        &json!({"job_id": job, "callback_url": short.url}),
    );
    let pending = r.body["uuid"].as_str().unwrap().to_string();
    let r = post(format!("/job-runs/{pending}/pause"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("paused")),
        "{}",
        r.body
    );

    let r = post(format!("/job-runs/{running}/pause"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("paused")),
        "{}",
        r.body
    );
    // The suspended run's stand-in worker takes the resumed pending one.
    assert_eq!(post(format!("/job-runs/{pending}/resume")).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(post(format!("/job-runs/{running}/resume")).status, 200);
    for run in [&running, &pending] {
        let done = wait_for(&user, run, |r| r["callback_sent_at"].is_string());
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["callback_attempts"], 1, "{done}");
    }

    let ev = |e: &str, s: &str| (e.to_string(), s.to_string());
    assert_eq!(
        events(&long, &secret),
        [
            ev("job_run.paused", "paused"),
            ev("job_run.paused", "paused"),
            ev("job_run.resumed", "running"),
            ev("job_run.finished", "completed"),
        ],
        "the refused notice is retried, and the result waits for it"
    );
    assert_eq!(
        events(&short, &secret),
        [
            ev("job_run.paused", "paused"),
            ev("job_run.paused", "paused"),
            ev("job_run.resumed", "pending"),
            ev("job_run.finished", "completed"),
        ]
    );
    let ids: std::collections::HashSet<String> = long
        .got()
        .iter()
        .map(|g| g.headers["x-jobhost-delivery"].clone())
        .collect();
    assert_eq!(ids.len(), 4, "each attempt has its own delivery id");
    let first: Value = serde_json::from_slice(&short.got()[0].body).unwrap();
    assert_eq!(first["paused"]["mode"], "queued", "{first}");
}
