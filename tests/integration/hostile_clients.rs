//! Hostile clients: slow headers (slowloris) are cut off by the header read
//! timeout while healthy clients keep being served; oversized heads are
//! refused before they are buffered.

use crate::server::Server;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

#[test]
fn slow_headers_are_cut_off_and_do_not_starve_others() {
    let s = Server::start_args(&[], &["--header-timeout-ms", "500"]);
    let api = s.api(&s.user);
    // Fifty connections trickling a header byte at a time.
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = TcpStream::connect(addr(&s)).unwrap();
            c.write_all(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    let job = api.job("text_stats", json!({"text": "still served"}));
    let r = api.get(&format!("/jobs/{job}"));
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Keep trickling: the server closes them once the timeout passes.
    let mut closed = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while closed < slow.len() && Instant::now() < deadline {
        closed = 0;
        for c in &mut slow {
            c.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
            let _ = c.write_all(b"a");
            let mut buf = [0u8; 256];
            match c.read(&mut buf) {
                Ok(_) => closed += 1, // EOF or the timeout's 408
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => closed += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(closed, slow.len(), "every slow connection was closed");
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[test]
fn oversized_request_heads_are_refused() {
    let s = Server::start();
    let cases = [
        (
            format!(
                "GET /api/v1/jobs?x={} HTTP/1.1\r\nHost: x\r\n\r\n",
                "a".repeat(100_000)
            ),
            "HTTP/1.1 414",
        ),
        (
            format!(
                "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "b".repeat(100_000)
            ),
            "HTTP/1.1 431",
        ),
    ];
    for (head, expected) in cases {
        let mut c = TcpStream::connect(addr(&s)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(head.as_bytes());
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        assert!(
            answer.starts_with(expected),
            "{expected}: {}",
            &answer[..answer.len().min(200)]
        );
    }
    // The server is fine.
    let api = s.api(&s.user);
    assert_eq!(api.get("/jobs").status, 200);
}

#[test]
fn job_creation_is_rate_limited_per_token() {
    let s = Server::start_args(&[], &["--job-create-rate", "5"]);
    let (user, admin) = (s.api(&s.user), s.api(&s.admin));
    for _ in 0..5 {
        user.job("text_stats", json!({"text": "x"}));
    }
    let r = user
        .client
        .post(format!("{}/jobs", user.base))
        .bearer_auth(&user.token)
        .json(&json!({"job_type": "text_stats", "config": {"text": "x"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limited");
    // Another token has its own bucket; reads are not limited.
    admin.job("text_stats", json!({"text": "y"}));
    assert_eq!(user.get("/jobs").status, 200);
}
