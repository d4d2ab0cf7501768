//! Run logs over HTTP: every source in order, filters by level and time,
//! paging with a cursor, tenant scoping, and a flood cut to the budget with
//! the host's truncation marker.

use crate::server::Server;
use crate::support::HOSTILE;
use serde_json::{Value, json};

fn lines(v: &Value) -> Vec<(String, String, String)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_string(),
                l["source"].as_str().unwrap().to_string(),
                l["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_runs_logs_are_kept_filtered_and_paged() {
    let s = Server::start_with(&[HOSTILE]);
    let api = s.api(&s.user);
    let job = api.job("hostile", json!({"attack": "chatty"}));
    let run = api.trigger(&job, None);
    assert_eq!(api.wait_done(&run)["status"], "completed");
    let path = format!("/job-runs/{run}/logs");

    let all = api.get(&path);
    assert_eq!(all.status, 200, "{}", all.body);
    let expected = [
        ("debug", "plugin", "chatty debug"),
        ("info", "plugin", "chatty info"),
        ("warn", "plugin", "chatty warn"),
        ("error", "plugin", "chatty error"),
        ("info", "stdout", "chatty stdout"),
        ("warn", "stderr", "chatty stderr"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(lines(&all.body), expected);
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert_eq!(all.body["items"][0]["seq"], 0);
    assert_eq!(all.body["items"][0]["attempt"], 1);

    let warn = api.get(&format!("{path}?level=warn"));
    assert_eq!(
        lines(&warn.body)
            .iter()
            .map(|l| l.2.as_str())
            .collect::<Vec<_>>(),
        ["chatty warn", "chatty error", "chatty stderr"]
    );
    let error = api.get(&format!("{path}?level=error"));
    assert_eq!(error.body["count"], 1);

    let first = api.get(&format!("{path}?limit=4"));
    assert_eq!(first.body["count"], 4);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = api.get(&format!("{path}?limit=4&cursor={cursor}"));
    assert_eq!(
        lines(&second.body)
            .iter()
            .map(|l| l.2.as_str())
            .collect::<Vec<_>>(),
        ["chatty stdout", "chatty stderr"]
    );
    let third_ts = all.body["items"][2]["timestamp"]
        .as_str()
        .unwrap()
        .to_string();
    let since = api
        .client
        .get(format!("{}{path}", api.base))
        .bearer_auth(&api.token)
        .query(&[("since", third_ts.as_str())])
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert!(
        lines(&since)
            .iter()
            .all(|l| l.2 != "chatty debug" && l.2 != "chatty info" && l.2 != "chatty warn"),
        "{since}"
    );

    for bad in [
        "level=loud",
        "limit=0",
        "limit=1001",
        "cursor=x",
        "colour=red",
    ] {
        let r = api.get(&format!("{path}?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    assert_eq!(s.api(&s.other_tenant).get(&path).status, 404);
}

#[test]
fn a_log_flood_is_kept_to_the_budget_with_a_marker() {
    let s = Server::start_with(&[HOSTILE]);
    let api = s.api(&s.user);
    let job = api.job("hostile", json!({"attack": "log_flood"}));
    let run = api.trigger(&job, None);
    let done = api.wait_done(&run);
    assert_eq!(done["status"], "failed", "{done}");
    let kept = done["receipt"]["log_bytes"].as_u64().unwrap();
    assert!(kept <= 1 << 20, "{done}");

    let (mut bytes, mut count, mut cursor, mut last) = (0u64, 0u64, None::<String>, Value::Null);
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=1000&cursor={c}"),
            None => "?limit=1000".to_string(),
        };
        let page = api.get(&format!("/job-runs/{run}/logs{q}")).body;
        for l in page["items"].as_array().unwrap() {
            bytes += l["message"].as_str().unwrap().len() as u64;
            count += 1;
            last = l.clone();
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(count > 1000, "{count} lines");
    assert_eq!(
        last["source"], "host",
        "the last line is the truncation marker: {last}"
    );
    let marker = last["message"].as_str().unwrap().len() as u64;
    assert!(
        bytes - marker <= 1 << 20,
        "{bytes} bytes stored: the plugin's lines fit the 1 MiB budget"
    );
}
