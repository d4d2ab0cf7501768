//! The bundled job types that call a language model, against a fake
//! OpenAI-compatible server on 127.0.0.1: `llm_complete` and
//! `fetch_and_summarize`, with the key from the tenant's secret.

use crate::origin::{OPENAI_KEY, Origin};
use crate::server::Server;
use serde_json::json;

#[test]
fn llm_complete_and_fetch_and_summarize_call_an_openai_compatible_api() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let grants = dir.path().join("grants.json");
    let grant = json!({"http": ["http://api.example.test"], "secrets": ["openai_api_key"]});
    std::fs::write(
        &grants,
        json!({"llm_complete@1.0.0": grant, "fetch_and_summarize@1.0.0": grant}).to_string(),
    )
    .unwrap();
    let api_at = format!("api.example.test:80=127.0.0.1:{}", origin.port);
    let server = Server::start_args(
        &[],
        &[
            "--grants",
            grants.to_str().unwrap(),
            "--resolve",
            &api_at,
            "--http-allow-net",
            "127.0.0.1/32",
        ],
    );
    let admin = server.api(&server.admin);

    // Without the key set, the run says which secret is missing.
    let job = admin.job(
        "llm_complete",
        json!({"base_url": "http://api.example.test/v1", "model": "m", "prompt": "hi"}),
    );
    let done = admin.wait_done(&admin.trigger(&job, None));
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secret `openai_api_key` is not set"),
        "{done}"
    );

    // A wrong key: the API's own message comes back.
    assert_eq!(
        admin
            .put("/secrets/openai_api_key", &json!({"value": "sk-wrong"}))
            .status,
        201
    );
    let done = admin.wait_done(&admin.trigger(&job, None));
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the API answered 401: Incorrect API key provided"),
        "{done}"
    );

    assert_eq!(
        admin
            .put("/secrets/openai_api_key", &json!({"value": OPENAI_KEY}))
            .status,
        200
    );
    let job = admin.job(
        "llm_complete",
        json!({
            "base_url": "http://api.example.test/v1",
            "model": "gpt-test",
            "system": "Be terse.",
            "messages": [{"role": "user", "content": "Name a queue."}],
            "temperature": 0.1,
            "max_tokens": 20
        }),
    );
    let done = admin.wait_done(&admin.trigger(&job, None));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["text"], "echo: Name a queue.", "{done}");
    assert_eq!(done["output"]["model"], "gpt-test");
    assert_eq!(done["output"]["finish_reason"], "stop");
    assert_eq!(done["output"]["usage"]["total_tokens"], 10);
    let sent: serde_json::Value =
        serde_json::from_slice(&origin.seen().last().unwrap().body).unwrap();
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be terse."})
    );
    assert_eq!(sent["max_tokens"], 20);

    let job = admin.job(
        "fetch_and_summarize",
        json!({
            "url": "http://api.example.test/page",
            "base_url": "http://api.example.test/v1",
            "model": "gpt-test"
        }),
    );
    let done = admin.wait_done(&admin.trigger(&job, None));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["title"], "Queues", "{done}");
    assert_eq!(
        done["output"]["summary"], "echo: Queues Queues A queue keeps work in order.",
        "{done}"
    );
    assert_eq!(done["receipt"]["http_requests"], 2, "{done}");
    assert!(!done.to_string().contains(OPENAI_KEY));
}
