//! Plugin requests over TLS: the connection goes to the checked address
//! while the certificate is verified against the URL's host name, with the
//! web's roots plus an operator's CA (`--http-ca-file`).

use crate::server::Server;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

/// A CA, and a TLS server on 127.0.0.1 whose certificate it signed for
/// `secure.example.test`. Returns the CA in PEM and the port.
fn tls_origin() -> (String, u16) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["secure.example.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut reader = BufReader::new(&mut tls);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = r#"{"secure":true}"#;
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (ca.pem(), port)
}

fn start(port: u16, ca_file: Option<&str>, dir: &std::path::Path) -> Server {
    let grants = dir.join("grants.json");
    std::fs::write(
        &grants,
        json!({"http_request@1.0.0": {"http": ["https://secure.example.test", "https://other.example.test"]}})
            .to_string(),
    )
    .unwrap();
    let secure = format!("secure.example.test:443=127.0.0.1:{port}");
    let other = format!("other.example.test:443=127.0.0.1:{port}");
    let mut args = vec![
        "--grants",
        grants.to_str().unwrap(),
        "--resolve",
        &secure,
        "--resolve",
        &other,
        "--http-allow-net",
        "127.0.0.1/32",
    ];
    if let Some(ca) = ca_file {
        args.extend(["--http-ca-file", ca]);
    }
    Server::start_args(&[], &args)
}

#[test]
fn tls_verifies_the_urls_host_against_the_web_roots_and_an_operators_ca() {
    let (ca_pem, port) = tls_origin();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();

    let server = start(port, Some(ca_file.to_str().unwrap()), dir.path());
    let api = server.api(&server.user);
    let job = api.job(
        "http_request",
        json!({"url": "https://secure.example.test/ok"}),
    );
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["body"], json!({"secure": true}), "{done}");

    // The same address under a name the certificate does not carry: refused.
    let job = api.job(
        "http_request",
        json!({"url": "https://other.example.test/ok"}),
    );
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(done["status"], "failed", "{done}");
    let logs = api
        .get(&format!(
            "/job-runs/{}/logs",
            done["uuid"].as_str().unwrap()
        ))
        .body
        .to_string();
    assert!(
        logs.contains("TLS") && logs.contains("other.example.test"),
        "{logs}"
    );
    drop(server);

    // Without the operator's CA the certificate is not trusted.
    let server = start(port, None, dir.path());
    let api = server.api(&server.user);
    let job = api.job(
        "http_request",
        json!({"url": "https://secure.example.test/ok"}),
    );
    let done = api.wait_done(&api.trigger(&job, None));
    assert_eq!(done["status"], "failed", "{done}");
    let logs = api
        .get(&format!(
            "/job-runs/{}/logs",
            done["uuid"].as_str().unwrap()
        ))
        .body
        .to_string();
    assert!(logs.contains("TLS"), "{logs}");

    // A file that holds no certificate is refused at start.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-ca-file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no PEM certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
