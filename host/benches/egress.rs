//! Outbound HTTP figures: a run whose plugin makes one request to a local
//! server, beside the same request made natively with reqwest in the same
//! process (the ratio is the figure), and a trivial run without HTTP on the
//! same runtime, interleaved round by round so drift hits all three alike.
//! Every request opens a fresh connection on both sides (the plugin's
//! always does; reqwest's pool is off). Prints medians and p99; never fails
//! on a number. Run with `cargo bench -p jobhost --bench egress`
//! (`-- --quick` for fewer samples).

use jobhost::egress::{Egress, HttpCaps, PluginNets, Resolver, parse_fixed};
mod common;

use common::sandbox::{load, percentile, request};
use jobhost::registry::Plugin;
use jobhost::runtime::{
    CancelToken, Collector, Outcome, RunAccess, RunRequest, Runtime, RuntimeConfig,
};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobhost_test_support::wasm::EGRESS;
use jobhost_test_support::wasm::TEXT_STATS;

fn report(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (median, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<52} n={:<6} median {median:>10.1?}  p99 {p99:>10.1?}",
        samples.len()
    );
    (median, p99)
}

/// A server answering every request with a small JSON body, then closing.
fn origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = r#"{"ok":true,"items":[1,2,3]}"#;
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, per_round) = if quick { (10, 50) } else { (20, 250) };
    let port = origin();
    let egress = Egress::new(
        PluginNets {
            open: vec!["127.0.0.1/32".parse().unwrap()],
        },
        Resolver::with_fixed([
            parse_fixed(&format!("api.example.test:80=127.0.0.1:{port}")).unwrap(),
        ]),
        HttpCaps::default(),
    );
    let rt = Runtime::new(RuntimeConfig {
        egress: Arc::new(egress),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let http_plugin = load(&rt, EGRESS);
    let trivial_plugin = load(&rt, TEXT_STATS);
    let http_req = request(
        &http_plugin,
        json!({"url": "http://api.example.test/ok"}),
        RunAccess {
            http: vec!["http://api.example.test".parse().unwrap()].into(),
            declared_secrets: vec!["token".into()],
            ..RunAccess::default()
        },
    );
    let trivial_req = request(&trivial_plugin, json!({"text": "hi"}), RunAccess::default());
    let native = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .no_proxy()
        .build()
        .unwrap();
    let native_url = format!("http://127.0.0.1:{port}/ok");
    let observer = Arc::new(Collector::default());
    let run = |plugin: &Plugin, req: &RunRequest| {
        observer.logs.lock().unwrap().clear();
        let t = Instant::now();
        let r = rt.run(&plugin.compiled, req, observer.clone(), &CancelToken::new());
        let took = t.elapsed();
        assert!(
            matches!(r.outcome, Outcome::Completed(_)),
            "{:?}",
            r.outcome
        );
        took
    };
    // Warm up pool slots, connections and caches.
    for _ in 0..100 {
        run(&http_plugin, &http_req);
        run(&trivial_plugin, &trivial_req);
        native.get(&native_url).send().unwrap().bytes().unwrap();
    }
    let (mut in_plugin, mut natively, mut trivial) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        for _ in 0..per_round {
            in_plugin.push(run(&http_plugin, &http_req));
        }
        for _ in 0..per_round {
            let t = Instant::now();
            let body = native.get(&native_url).send().unwrap().bytes().unwrap();
            natively.push(t.elapsed());
            assert!(!body.is_empty());
        }
        for _ in 0..per_round {
            trivial.push(run(&trivial_plugin, &trivial_req));
        }
    }
    println!(
        "jobhost egress benchmark on {} cores, {rounds} interleaved rounds of {per_round}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (p_med, p_99) = report(
        "run with one HTTP GET (fresh instance + request)",
        in_plugin,
    );
    let (n_med, n_99) = report("the same GET natively (reqwest, new connection)", natively);
    report("trivial run, no HTTP (text_stats), same runtime", trivial);
    println!(
        "ratio plugin/native: median {:.2}x, p99 {:.2}x; the run costs {:.1?} more per request at the median",
        p_med.as_secs_f64() / n_med.as_secs_f64(),
        p_99.as_secs_f64() / n_99.as_secs_f64(),
        p_med.saturating_sub(n_med)
    );
}
