//! Tenant secrets: write-only values, sealed at rest, given to a run only
//! when its job type declared them and an operator granted them, read from
//! the run's own tenant, and never seen again: every place a value could
//! come out (API responses, logs, events, the webhook body, metrics, the
//! database files) is searched for it.

use crate::origin::Origin;
use crate::server::Server;
use crate::support::EGRESS;
use serde_json::json;
use std::io::Read;
use std::time::Duration;

const SECRET: &str = "s3cr3t-Value-7f1e9d";

fn grants(dir: &std::path::Path) -> String {
    let path = dir.join("grants.json");
    std::fs::write(
        &path,
        json!({"egress@1.0.0": {"http": ["http://api.example.test"], "secrets": ["token"]}})
            .to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn secrets_are_write_only_admin_only_and_checked() {
    let server = Server::start();
    let admin = server.api(&server.admin);
    let user = server.api(&server.user);
    assert_eq!(
        user.put("/secrets/token", &json!({"value": "x"})).status,
        403
    );
    assert_eq!(user.get("/secrets").status, 403);
    let r = admin.put("/secrets/Bad-Name", &json!({"value": "x"}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin.put("/secrets/token", &json!({"value": ""}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin.put("/secrets/token", &json!({"value": "x", "extra": 1}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = admin.put("/secrets/token", &json!({"value": SECRET}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "token");
    assert_eq!(r.body["set_by"], "admin@example.com");
    assert!(!r.body.to_string().contains(SECRET));
    let r = admin.put("/secrets/token", &json!({"value": SECRET}));
    assert_eq!(r.status, 200, "replacing answers 200: {}", r.body);
    let list = admin.get("/secrets");
    assert_eq!(list.body["count"], 1, "{}", list.body);
    assert!(!list.body.to_string().contains(SECRET));
    // Another tenant sees none of them.
    let eve = server.api(&server.other_tenant);
    assert_eq!(eve.get("/secrets").body["count"], 0);
    assert_eq!(eve.delete("/secrets/token").status, 404);
    assert_eq!(admin.delete("/secrets/token").status, 204);
    assert_eq!(admin.delete("/secrets/token").status, 404);

    // The key file is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data().join("secrets.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_secret_value_never_comes_out_anywhere() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let grants = grants(dir.path());
    let api_at = format!("api.example.test:80=127.0.0.1:{}", origin.port);
    let callback_net = "127.0.0.1/32";
    let mut server = Server::start_args(
        &[EGRESS],
        &[
            "--grants",
            &grants,
            "--resolve",
            &api_at,
            "--http-allow-net",
            "127.0.0.1/32",
            "--callback-allow",
            callback_net,
        ],
    );
    let admin = server.api(&server.admin);
    assert_eq!(
        admin
            .put("/secrets/token", &json!({"value": SECRET}))
            .status,
        201
    );

    // Follow the tenant's event stream while the runs happen.
    let events = {
        let url = format!("{}/events", admin.base);
        let token = server.admin.clone();
        std::thread::spawn(move || {
            let mut response = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(8))
                .build()
                .unwrap()
                .get(url)
                .bearer_auth(token)
                .send()
                .unwrap();
            let mut text = Vec::new();
            let _ = response.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    let callback = format!("http://127.0.0.1:{}/callback", origin.port);
    let mut seen = String::new();
    for config in [
        json!({"leak": true, "url": "http://api.example.test/echo"}),
        json!({"leak": true, "fail": true}),
        json!({"leak": true, "panic": true}),
    ] {
        let r = admin.post(
            "/jobs",
            &json!({"job_type": "egress", "config": config, "callback_url": callback}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        seen.push_str(&r.body.to_string());
        let job = r.body["uuid"].as_str().unwrap().to_string();
        let run = admin.trigger(&job, None);
        let done = admin.wait_done(&run);
        seen.push_str(&done.to_string());
        assert_eq!(done["receipt"]["secrets_read"], json!(["token"]), "{done}");
        for path in [
            format!("/job-runs/{run}"),
            format!("/job-runs/{run}/logs"),
            format!("/jobs/{job}"),
            format!("/jobs/{job}/latest-run"),
            format!("/jobs/{job}/metrics"),
            "/job-runs".to_string(),
            "/jobs".to_string(),
            "/secrets".to_string(),
        ] {
            let r = admin.get(&path);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            seen.push_str(&r.body.to_string());
        }
    }
    // The runs did read and use it: the origin got it, and every channel
    // shows the marker in its place.
    assert!(
        origin
            .seen()
            .iter()
            .any(|s| s.header("authorization") == Some(&format!("Bearer {SECRET}"))),
        "the request carried the secret"
    );
    for marker in [
        "the token is [secret:token]",
        "stdout has [secret:token]",
        "stderr has [secret:token]",
        "failing on purpose with [secret:token]",
        "panicking with [secret:token]",
        "progress with [secret:token]",
        "\"echo\":\"[secret:token]\"",
    ] {
        assert!(seen.contains(marker), "{marker} in {seen}");
    }

    // Webhook bodies.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while origin
        .seen()
        .iter()
        .filter(|s| s.path == "/callback")
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "callbacks arrive");
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in origin.seen().iter().filter(|s| s.path == "/callback") {
        seen.push_str(&String::from_utf8_lossy(&s.body));
    }

    // Metrics.
    let metrics = reqwest::blocking::Client::new()
        .get(format!(
            "{}/metrics",
            admin.base.trim_end_matches("/api/v1")
        ))
        .bearer_auth(&server.operator)
        .send()
        .unwrap()
        .text()
        .unwrap();
    seen.push_str(&metrics);
    seen.push_str(&events.join().unwrap());
    assert!(
        seen.contains("job_run.status_changed"),
        "the event stream was read"
    );
    assert!(!seen.contains(SECRET), "a secret value came out: {seen}");

    // At rest: no file of the data directory holds the value in clear.
    server.terminate();
    let mut stack = vec![server.data().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                    "{} holds the secret in clear",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_run_reads_only_its_own_tenants_secret() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let grants = grants(dir.path());
    let server = Server::start_args(&[EGRESS], &["--grants", &grants]);
    let admin = server.api(&server.admin);
    assert_eq!(
        admin
            .put("/secrets/token", &json!({"value": SECRET}))
            .status,
        201
    );
    let eve = server.api(&server.other_tenant);
    let job = eve.job("egress", json!({"leak": true}));
    let run = eve.trigger(&job, None);
    let done = eve.wait_done(&run);
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("secret `token` is not set for this tenant"),
        "{message}"
    );
    // A secret the job type never declared is refused by name.
    assert_eq!(
        admin
            .put("/secrets/other", &json!({"value": SECRET}))
            .status,
        201
    );
    let job = admin.job("egress", json!({"secret": "other"}));
    let run = admin.trigger(&job, None);
    let done = admin.wait_done(&run);
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["error"]["message"].as_str().unwrap();
    assert!(message.contains("`other` is not declared"), "{message}");
    assert!(!done.to_string().contains(SECRET));
    drop(origin);
}
