//! Publishing job types over HTTP: upload, list, pin, upgrade, yank,
//! delete, broken uploads, and persistence across a restart. Other versions
//! of the `versioned` fixture are derived by same-length byte edits of its
//! version and schema literals.

use crate::server::{Api, Server};
use crate::support::VERSIONED;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The fixture with `edits` applied (each `from` must occur; same lengths).
pub fn derive(edits: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = std::fs::read(VERSIONED).unwrap();
    for (from, to) in edits {
        assert_eq!(from.len(), to.len());
        let (from, to) = (from.as_bytes(), to.as_bytes());
        let mut found = false;
        let mut i = 0;
        while let Some(pos) = bytes[i..].windows(from.len()).position(|w| w == from) {
            bytes[i + pos..i + pos + from.len()].copy_from_slice(to);
            i += pos + from.len();
            found = true;
        }
        assert!(
            found,
            "{} occurs in the fixture",
            String::from_utf8_lossy(from)
        );
    }
    bytes
}

/// Version 2.2.2, whose schema caps `size` at 10 instead of 100.
pub fn v2() -> Vec<u8> {
    derive(&[("1.1.1", "2.2.2"), ("\"maximum\": 100", "\"maximum\":  10")])
}

pub fn publish(api: &Api, bytes: Vec<u8>) -> crate::server::Reply {
    api.post_bytes("/plugins", "application/wasm", bytes)
}

pub fn run_output(api: &Api, job: &str) -> Value {
    let run = api.trigger(job, None);
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "completed", "{done}");
    done["output"].clone()
}

fn schema_versions(api: &Api, query: &str) -> Vec<String> {
    let r = api.get(&format!("/jobs/schemas?{query}"));
    assert_eq!(r.status, 200);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["job_type"] == "versioned")
        .map(|s| s["version"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn publish_pin_upgrade_yank_delete_and_restart() {
    let mut s = Server::start();
    let (operator, user) = (s.api(&s.operator), s.api(&s.user));
    let v1 = std::fs::read(VERSIONED).unwrap();

    let r = publish(&user, v1.clone());
    assert_eq!(r.status, 403, "{}", r.body);
    // Job types are shared by every tenant: a tenant's admin cannot manage them.
    let tenant_admin = s.api(&s.admin);
    let r = publish(&tenant_admin, v1.clone());
    assert_eq!(r.status, 403, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("operator token"), "{message}");
    let yank = json!({"status": "yanked", "reason": "mine now"});
    assert_eq!(
        tenant_admin
            .patch("/plugins/text_stats/1.0.0", &yank)
            .status,
        403
    );
    assert_eq!(tenant_admin.delete("/plugins/text_stats/1.0.0").status, 403);
    let r = publish(&operator, v1.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/api/v1/plugins/versioned/1.1.1")
    );
    assert_eq!(r.body["job_type"], "versioned");
    assert_eq!(r.body["version"], "1.1.1");
    assert_eq!(r.body["sha256"], hex::encode(Sha256::digest(&v1)));
    assert_eq!(r.body["size_bytes"], v1.len());
    assert_eq!(r.body["origin"], "published");
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["published_by"], "ops@example.com");
    assert!(r.body["published_at"].is_string());
    // The same bytes again: accepted as they are. Other bytes, same version: refused.
    assert_eq!(publish(&operator, v1.clone()).status, 200);
    let other = derive(&[("\"maximum\": 100", "\"maximum\": 200")]);
    let r = publish(&operator, other);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "plugin_version_conflict");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new version"),
        "{}",
        r.body
    );

    let list = user.get("/plugins");
    assert_eq!(list.status, 200);
    let items = list.body["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|p| p["job_type"] == "text_stats" && p["origin"] == "bundled")
    );
    assert!(items.iter().any(|p| p["job_type"] == "versioned"));

    let old = user.job("versioned", json!({"size": 50}));
    assert_eq!(publish(&operator, v2()).status, 201);
    assert_eq!(schema_versions(&user, ""), ["2.2.2"]);
    assert_eq!(
        schema_versions(&user, "all_versions=true"),
        ["1.1.1", "2.2.2"]
    );

    // New jobs get the newest version and its schema; a requirement pins an older one.
    let r = user.post(
        "/jobs",
        &json!({"job_type": "versioned", "config": {"size": 50}}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"]["violations"][0]["pointer"],
        "/size"
    );
    let r = user.post(
        "/jobs",
        &json!({"job_type": "versioned", "job_type_version": "^1", "config": {"size": 50}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["job_type_version"], "1.1.1");
    // Runs use the job's pinned version.
    assert_eq!(run_output(&user, &old)["version"], "1.1.1");

    // Upgrading re-validates first and changes nothing when the config breaks the new schema.
    let r = user.patch(&format!("/jobs/{old}"), &json!({"job_type_version": "^2"}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"]["violations"][0]["pointer"],
        "/size"
    );
    assert_eq!(
        user.get(&format!("/jobs/{old}")).body["job_type_version"],
        "1.1.1"
    );
    let r = user.patch(
        &format!("/jobs/{old}"),
        &json!({"job_type_version": "^2", "config": {"size": 5}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["job_type_version"], "2.2.2");
    assert_eq!(run_output(&user, &old)["version"], "2.2.2");

    // Yanked: never picked for new jobs; pinned jobs keep running.
    let r = user.patch("/plugins/versioned/2.2.2", &json!({"status": "yanked"}));
    assert_eq!(r.status, 403);
    let r = operator.patch(
        "/plugins/versioned/2.2.2",
        &json!({"status": "yanked", "reason": "breaks big sizes"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "yanked");
    assert_eq!(r.body["status_reason"], "breaks big sizes");
    assert_eq!(schema_versions(&user, ""), ["1.1.1"]);
    let fresh = user.job("versioned", json!({"size": 50}));
    assert_eq!(
        user.get(&format!("/jobs/{fresh}")).body["job_type_version"],
        "1.1.1"
    );
    let r = user.post(
        "/jobs",
        &json!({"job_type": "versioned", "job_type_version": "=2.2.2", "config": {"size": 1}}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("yanked"),
        "{}",
        r.body
    );
    assert_eq!(run_output(&user, &old)["version"], "2.2.2");
    let r = operator.patch("/plugins/versioned/2.2.2", &json!({"status": "retired"}));
    assert_eq!(r.status, 422, "{}", r.body);

    // Deleting a published version: pinned jobs fail clearly; bundled ones cannot go.
    let r = operator.delete("/plugins/versioned/2.2.2");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = user.post("/job-runs", &json!({"job_id": old}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "job_type_unavailable");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upgrade"),
        "{}",
        r.body
    );
    let r = operator.delete("/plugins/text_stats/1.0.0");
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "plugin_not_deletable");
    assert_eq!(operator.delete("/plugins/versioned/9.9.9").status, 404);
    assert_eq!(operator.delete("/plugins/versioned/not-semver").status, 400);

    // Every change is an event, in order.
    let events = user.get("/plugins/events");
    assert_eq!(events.status, 200);
    let kinds: Vec<(String, String)> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = [
        ("published", "1.1.1"),
        ("published", "2.2.2"),
        ("status_changed", "2.2.2"),
        ("removed", "2.2.2"),
    ];
    assert_eq!(
        kinds,
        expected.map(|(k, v)| (k.to_string(), v.to_string())),
        "{}",
        events.body
    );
    let after = events.body["items"][1]["uuid"].as_str().unwrap();
    let rest = user.get(&format!("/plugins/events?after={after}"));
    assert_eq!(rest.body["count"], 2);

    // A restart loads what was published, with its status, and not what was deleted.
    s.terminate();
    let dir = s.take_dir().unwrap();
    let s2 = Server::spawn(dir.path(), &[]);
    let user2 = s2.api(&s.user);
    let list = user2.get("/plugins").body;
    let versioned: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["job_type"] == "versioned")
        .collect();
    assert_eq!(versioned.len(), 1, "{list}");
    assert_eq!(versioned[0]["version"], "1.1.1");
    assert_eq!(versioned[0]["origin"], "published");
    assert_eq!(run_output(&user2, &fresh)["version"], "1.1.1");
    let blobs = std::fs::read_dir(dir.path().join("published"))
        .unwrap()
        .count();
    assert_eq!(blobs, 1, "the deleted version's bytes are gone");
    let v2_sha = hex::encode(Sha256::digest(v2()));
    let v1_sha = hex::encode(Sha256::digest(&v1));
    let cached: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(cached.iter().any(|n| n.starts_with(&v1_sha)), "{cached:?}");
    assert!(
        !cached.iter().any(|n| n.starts_with(&v2_sha)),
        "the deleted version's precompiled artifact is gone: {cached:?}"
    );
}
