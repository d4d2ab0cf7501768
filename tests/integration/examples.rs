//! The bundled example job types run to completion and compute real results.

use crate::support::*;
use jobhost::model::OutputData;
use jobhost::runtime::Outcome;
use serde_json::json;

fn completed(outcome: &Outcome) -> &serde_json::Value {
    match outcome {
        Outcome::Completed(out) => &out.value,
        other => panic!("expected completed, got {other:?}"),
    }
}

#[test]
fn every_example_describes_itself_and_runs_its_schema_example() {
    let rt = runtime();
    for path in EXAMPLES {
        let p = plugin(&rt, path);
        let schema = &p.info.json_schema;
        let props = schema["properties"].as_object().unwrap();
        for (name, prop) in props.iter().filter(|(n, _)| *n != "job_type") {
            assert!(
                prop.get("description").is_some(),
                "{}: property {name} lacks a description",
                p.info.job_type
            );
        }
        let example = schema["examples"][0].clone();
        assert!(
            example.is_object(),
            "{}: schema has an example config",
            p.info.job_type
        );
        let (report, _) = run(&rt, &p, example);
        completed(&report.outcome);
        assert!(report.receipt.peak_memory_bytes > 0);
    }
}

#[test]
fn text_stats_counts() {
    let rt = runtime();
    let p = plugin(&rt, TEXT_STATS);
    let (report, seen) = run(
        &rt,
        &p,
        json!({"text": "One fish. Two fish!\nRed fish?", "top_n": 1}),
    );
    let out = completed(&report.outcome);
    assert_eq!(out["words"], 6);
    assert_eq!(out["sentences"], 3);
    assert_eq!(out["top_words"], json!([{"word": "fish", "count": 3}]));
    assert_eq!(seen.progress.lock().unwrap().last().unwrap().0, 100);
    assert!(seen.logs.lock().unwrap()[0].message.contains("analysing"));
}

#[test]
fn json_select_filters_and_reports_bad_pointers() {
    let rt = runtime();
    let p = plugin(&rt, JSON_SELECT);
    let doc = json!({"items": [{"n": 1}, {"n": 5}, {"n": 3}]});
    let (report, _) = run(
        &rt,
        &p,
        json!({"document": doc, "select": "/items", "where": [{"path": "/n", "op": "gt", "value": 2}],
               "sort_by": {"path": "/n"}}),
    );
    assert_eq!(
        completed(&report.outcome)["result"],
        json!([{"n": 3}, {"n": 5}])
    );
    // A pointer that is not one breaks the schema: refused before anything runs.
    let mut bad = json!({"document": doc, "select": "items"});
    let Err(jobhost::registry::ConfigError::Schema { violations, .. }) =
        p.validate_config(&mut bad)
    else {
        panic!("`items` is not a JSON Pointer")
    };
    assert_eq!(violations[0].pointer, "/select");
}

#[test]
fn csv_summary_returns_rows_as_a_reference() {
    let rt = runtime();
    let p = plugin(&rt, CSV_SUMMARY);
    let (report, _) = run(
        &rt,
        &p,
        json!({"csv": "a,b\n1,x\n2,y\n", "include_rows": 2}),
    );
    let Outcome::Completed(out) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(out.value["rows"], 2);
    assert_eq!(out.value["columns"][0]["type"], "integer");
    let rows = &out.references[0];
    assert_eq!(
        (rows.name.as_str(), rows.media_type.as_str()),
        ("rows.json", "application/json")
    );
    let OutputData::Inline(bytes) = &rows.data else {
        panic!("inline")
    };
    let rows: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(rows, json!([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]));
}

#[test]
fn prime_sieve_checkpoints_and_resumes() {
    let rt = runtime();
    let p = plugin(&rt, PRIME_SIEVE);
    let config = json!({"limit": 2_000_000, "segment_size": 65536, "checkpoint_every": 4});
    let (report, seen) = run(&rt, &p, config.clone());
    let out = completed(&report.outcome).clone();
    assert_eq!(out["prime_count"], 148_933);
    assert_eq!(out["resumed_from"], json!(null));
    assert!(report.receipt.checkpoints >= 7, "{:?}", report.receipt);
    let progress = seen.progress.lock().unwrap();
    assert!(progress.len() > 10 && progress.windows(2).all(|w| w[0].0 <= w[1].0));

    // A second attempt handed the last checkpoint resumes and agrees.
    let checkpoint = seen
        .checkpoint
        .lock()
        .unwrap()
        .clone()
        .expect("a checkpoint was saved");
    let mut req = request(&p, config);
    req.attempt = 2;
    req.checkpoint = Some(checkpoint);
    let (resumed, _) = run_request(&rt, &p, &req);
    let again = completed(&resumed.outcome);
    assert_eq!(again["prime_count"], out["prime_count"]);
    assert!(again["resumed_from"].as_u64().unwrap() > 0, "{again}");
}

#[test]
fn config_violations_name_their_place() {
    let rt = runtime();
    let p = plugin(&rt, TEXT_STATS);
    let mut bad = json!({"top_n": "many", "colour": 1});
    let err = p.validate_config(&mut bad).unwrap_err();
    let jobhost::registry::ConfigError::Schema { violations, .. } = err else {
        panic!("{err:?}")
    };
    let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
    assert!(pointers.contains(&"/top_n"), "{violations:?}");
    // A missing or unknown property is named in the pointer.
    assert!(pointers.contains(&"/text"), "{violations:?}");
    assert!(pointers.contains(&"/colour"), "{violations:?}");
    let mut typo = json!({"text": "x", "topn": 3});
    let Err(jobhost::registry::ConfigError::Schema {
        violations: typos, ..
    }) = p.validate_config(&mut typo)
    else {
        panic!("`topn` is refused")
    };
    assert_eq!(typos[0].pointer, "/topn");
    assert_eq!(typos[0].did_you_mean.as_deref(), Some("top_n"));
    assert!(typos[0].message.contains("did you mean `top_n`?"));
    assert!(
        violations.iter().any(|v| v.message.contains("text")),
        "missing `text` is reported: {violations:?}"
    );
    assert!(
        violations.iter().any(|v| v.message.contains("colour")),
        "{violations:?}"
    );

    let mut other = json!({"job_type": "csv_summary", "text": "x"});
    assert!(matches!(
        p.validate_config(&mut other),
        Err(jobhost::registry::ConfigError::JobTypeMismatch { .. })
    ));
    let mut ok = json!({"text": "x"});
    p.validate_config(&mut ok).unwrap();
    assert_eq!(
        ok["job_type"], "text_stats",
        "job_type is added when absent"
    );
}
