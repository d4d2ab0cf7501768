//! The OpenAPI document: the served one is the checked-in one, it is a
//! valid document, and it lists exactly the routes the server has.

use crate::server::Server;
use jobhost::api::ROUTES;
use std::collections::BTreeSet;

fn checked_in() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../schemas/openapi.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn served_document_matches_the_checked_in_one_and_every_route() {
    let s = Server::start();
    let served = reqwest::blocking::get(format!("{}/api/v1/openapi.json", s.base)).unwrap();
    assert_eq!(served.status(), 200);
    let served: serde_json::Value = served.json().unwrap();
    assert_eq!(
        served,
        checked_in(),
        "served and checked-in OpenAPI documents drifted"
    );
    assert_eq!(served["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = served["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| *m != "parameters")
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, routed,
        "a route is missing from the document or the router"
    );

    // Every listed route exists on the server (any answer but an unknown-route 404 or a 405).
    let api = s.api(&s.operator);
    let id = "01a2055d-2626-70f2-bf11-e827060f2d43";
    for (method, path) in ROUTES {
        let url = format!(
            "{}{}",
            s.base,
            path.replace("{job_id}", id).replace("{job_run_id}", id)
        );
        let req = match *method {
            "get" => api.client.get(&url),
            "post" => api.client.post(&url).json(&serde_json::json!({})),
            "patch" => api.client.patch(&url).json(&serde_json::json!({})),
            "put" => api.client.put(&url).json(&serde_json::json!({})),
            "delete" => api.client.delete(&url),
            other => panic!("unexpected method {other}"),
        };
        let r = req.bearer_auth(&api.token).send().unwrap();
        let status = r.status().as_u16();
        let streaming = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
        // An event stream stays open: its 200 is the answer.
        let body: serde_json::Value = if streaming {
            serde_json::Value::Null
        } else {
            r.json().unwrap_or_default()
        };
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            status != 404 || body["error"]["details"]["resource"] != "route",
            "{method} {path} is not routed"
        );
    }
}
