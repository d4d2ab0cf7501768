//! Tokens without restarts: created or revoked with the CLI while the
//! server runs, or over the API by admins (their tenant) and operators (any
//! tenant), they take effect within a second.

use crate::server::Server;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::{Duration, Instant};

fn cli(s: &Server, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jobhost"))
        .arg("--data-dir")
        .arg(s.data())
        .arg("token")
        .args(args)
        .output()
        .unwrap()
}

/// Waits until `status` of `GET /jobs` with `token` is `expected`; how long it took.
fn until_status(s: &Server, token: &str, expected: u16) -> Duration {
    let started = Instant::now();
    loop {
        let status = s.api(token).get("/jobs").status;
        if status == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {status}, not {expected}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokens_made_or_revoked_with_the_cli_take_effect_within_a_second() {
    let s = Server::start();
    let out = cli(
        &s,
        &[
            "create",
            "--user",
            "new@example.com",
            "--tenant",
            "acme",
            "--role",
            "user",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(
        said.contains("tokens.json") && said.contains("within a second"),
        "{said}"
    );
    let took = until_status(&s, &token, 200);
    assert!(took < Duration::from_secs(1), "accepted after {took:?}");
    assert_eq!(
        s.api(&token)
            .post(
                "/jobs",
                &json!({"job_type": "text_stats", "config": {"text": "hi"}})
            )
            .body["created_by"],
        "new@example.com"
    );

    let listed = cli(&s, &["list", "--json", "--tenant", "acme"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "new@example.com")
        .expect("listed");
    assert_eq!(
        (&mine["tenant"], &mine["role"]),
        (&json!("acme"), &json!("user"))
    );
    assert!(
        !listed.to_string().contains(&token[3..]),
        "no token in lists"
    );
    let id = mine["id"].as_str().unwrap();
    let table = String::from_utf8(cli(&s, &["list"]).stdout).unwrap();
    assert!(table.contains(id) && table.contains("globex"), "{table}");

    let out = cli(&s, &["revoke", id]);
    assert!(out.status.success(), "{out:?}");
    let took = until_status(&s, &token, 401);
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    let again = cli(&s, &["revoke", id]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
}

#[test]
fn admins_manage_their_tenants_tokens_and_operators_everyones() {
    let s = Server::start();
    let admin = s.api(&s.admin);
    let r = admin.post(
        "/tokens",
        &json!({"user": "bot@example.com", "role": "agent"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (token, id) = (
        r.body["token"].as_str().unwrap().to_string(),
        r.body["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/tokens/{id}").as_str())
    );
    assert_eq!(
        (&r.body["tenant"], &r.body["role"]),
        (&json!("acme"), &json!("agent"))
    );
    assert_eq!(s.api(&token).get("/jobs").status, 200, "usable at once");

    // An admin sees and manages its own tenant's tokens, never an operator's.
    let mine = admin.get("/tokens").body;
    let everyone = s.api(&s.operator).get("/tokens").body;
    assert!(ids(&mine).contains(&id));
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["tenant"] == "acme" && t["role"] != "operator")
    );
    let globex = everyone["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "globex")
        .expect("the operator sees every tenant");
    let globex_id = globex["id"].as_str().unwrap();
    assert_eq!(admin.delete(&format!("/tokens/{globex_id}")).status, 404);
    for (body, why) in [
        (
            json!({"user": "x@example.com", "role": "operator"}),
            "operator",
        ),
        (
            json!({"user": "x@example.com", "role": "user", "tenant": "globex"}),
            "own tenant",
        ),
    ] {
        let r = admin.post("/tokens", &body);
        assert_eq!(r.status, 403, "{why}: {}", r.body);
    }
    let r = s.api(&s.operator).post(
        "/tokens",
        &json!({"user": "x@example.com", "role": "user", "tenant": "a b"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant `a b`")
    );
    assert_eq!(s.api(&s.user).get("/tokens").status, 403);

    // A token cannot revoke itself over the API (that could lock the last
    // operator out); another token can.
    assert_eq!(
        s.api(&token).get("/tokens").status,
        403,
        "agents do not manage tokens"
    );
    let own_id = &hex::encode(Sha256::digest(s.admin.as_bytes()))[..16];
    assert!(ids(&mine).iter().any(|i| i == own_id));
    let r = admin.delete(&format!("/tokens/{own_id}"));
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (409, Some("token_in_use")),
        "{}",
        r.body
    );
    assert_eq!(admin.get("/jobs").status, 200);
    let r = admin.delete(&format!("/tokens/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.api(&token).get("/jobs").status, 401, "refused at once");
    // An operator revokes another tenant's token.
    let r = s.api(&s.operator).delete(&format!("/tokens/{globex_id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.api(&s.other_tenant).get("/jobs").status, 401);
}
