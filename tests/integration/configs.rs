//! A config that validates, runs: configs generated from each bundled job
//! type's schema (whole numbers sometimes written as `3.0`, strings from
//! the schema's patterns, every optional field sometimes present), checked
//! by the host like every entry path does, never fail in the plugin with
//! `invalid_config` nor trap.

use crate::support::{EXAMPLES, plugin, request, run_request, runtime};
use jobhost::runtime::Outcome;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use std::cell::Cell;
use std::time::Duration;

/// Generated values nest at most this deep where the schema allows anything.
const ANY_DEPTH: u32 = 2;

/// Any JSON value, small.
fn any_json(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        4 => leaf,
        1 => prop::collection::vec(any_json(depth - 1), 0..3).prop_map(Value::from),
        1 => prop::collection::btree_map("[a-z]{1,4}", any_json(depth - 1), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
    .boxed()
}

fn integers(schema: &Map<String, Value>) -> BoxedStrategy<Value> {
    let min = schema
        .get("minimum")
        .and_then(Value::as_i64)
        .unwrap_or(-1_000_000);
    let max = schema
        .get("maximum")
        .and_then(Value::as_i64)
        .unwrap_or(1_000_000);
    let near = (max - min).min(1000);
    let n = prop_oneof![Just(min), Just(max), min..=min + near, min..=max];
    // JSON Schema's `integer` admits `3.0`: write a third of them that way.
    (n, 0..3u8)
        .prop_map(
            |(n, form)| {
                if form == 0 { json!(n as f64) } else { json!(n) }
            },
        )
        .boxed()
}

fn strings(schema: &Map<String, Value>) -> BoxedStrategy<Value> {
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .unwrap_or(32) as usize;
    let max = max.clamp(min, min + 32);
    match schema.get("pattern").and_then(Value::as_str) {
        // The generator takes no anchors; a string generated from the
        // anchored pattern's body matches the whole pattern.
        Some(pattern) => proptest::string::string_regex(
            pattern
                .strip_prefix('^')
                .and_then(|p| p.strip_suffix('$'))
                .unwrap_or(pattern),
        )
        .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
        .prop_filter("length within the schema's", move |s| {
            (min..=max).contains(&s.chars().count())
        })
        .prop_map(Value::from)
        .boxed(),
        None => proptest::collection::vec(any::<char>(), min..=max)
            .prop_map(|c| Value::from(c.into_iter().collect::<String>()))
            .boxed(),
    }
}

fn objects(schema: &Map<String, Value>, root: &Value, depth: u32) -> BoxedStrategy<Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<(String, BoxedStrategy<Option<Value>>)> = Vec::new();
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let value = generate(property, root, depth);
        let field = if required.contains(&name.as_str()) {
            value.prop_map(Some).boxed()
        } else {
            proptest::option::of(value).boxed()
        };
        fields.push((name.clone(), field));
    }
    let extra = match schema.get("additionalProperties") {
        Some(Value::Object(_)) => {
            let value = generate(&schema["additionalProperties"], root, depth);
            prop::collection::btree_map("[a-z]{1,6}", value, 0..3).boxed()
        }
        _ => Just(Default::default()).boxed(),
    };
    let start = extra
        .prop_map(|m| m.into_iter().collect::<Map<String, Value>>())
        .boxed();
    fields
        .into_iter()
        .fold(start, |acc, (name, field)| {
            (acc, field)
                .prop_map(move |(mut m, v)| {
                    if let Some(v) = v {
                        m.insert(name.clone(), v);
                    }
                    m
                })
                .boxed()
        })
        .prop_map(Value::Object)
        .boxed()
}

/// Values valid under `schema` (mostly: callers check and discard the rest).
fn generate(schema: &Value, root: &Value, depth: u32) -> BoxedStrategy<Value> {
    let Some(s) = schema.as_object() else {
        return any_json(ANY_DEPTH);
    };
    if let Some(c) = s.get("const") {
        return Just(c.clone()).boxed();
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        return proptest::sample::select(options.clone()).boxed();
    }
    if let Some(target) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| root.pointer(r.strip_prefix('#')?))
    {
        return generate(target, root, depth.saturating_sub(1));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            return Union::new(branches.iter().map(|b| generate(b, root, depth))).boxed();
        }
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return any_json(ANY_DEPTH),
    };
    Union::new(types.into_iter().map(|t| match t {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::from).boxed(),
        "integer" => integers(s),
        "number" => (-1e9f64..1e9).prop_map(Value::from).boxed(),
        "string" => strings(s),
        "array" => {
            let max = s
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(4)
                .min(4) as usize;
            let items = s.get("items").cloned().unwrap_or(json!({}));
            prop::collection::vec(generate(&items, root, depth), 0..=max)
                .prop_map(Value::from)
                .boxed()
        }
        "object" => objects(s, root, depth),
        other => panic!("schema type {other} is not generated"),
    }))
    .boxed()
}

#[test]
fn schema_valid_configs_of_every_bundled_job_type_never_fail_as_invalid() {
    let rt = runtime();
    for path in EXAMPLES {
        let p = plugin(&rt, path);
        let schema = p.info.json_schema.clone();
        let configs = generate(&schema, &schema, 4);
        let mut runner = TestRunner::new(Config {
            cases: 48,
            failure_persistence: None,
            ..Config::default()
        });
        let (valid, ran) = (Cell::new(0u32), Cell::new(0u32));
        let result = runner.run(&configs, |mut config| {
            if p.validate_config(&mut config).is_err() {
                return Err(TestCaseError::reject("not valid under the schema"));
            }
            valid.set(valid.get() + 1);
            let mut req = request(&p, config.clone());
            // Long runs (a sieve up to 10^12) stop at a short deadline: what
            // matters is how the plugin took the config.
            req.limits.timeout = Duration::from_millis(300);
            let (report, _) = run_request(&rt, &p, &req);
            ran.set(ran.get() + 1);
            match &report.outcome {
                Outcome::InvalidConfig(m) => Err(TestCaseError::fail(format!(
                    "the schema accepted {config} but the plugin refused it: {m}"
                ))),
                Outcome::Trapped(m) => Err(TestCaseError::fail(format!(
                    "the plugin trapped on {config}: {m}"
                ))),
                _ => Ok(()),
            }
        });
        if let Err(e) = result {
            panic!("{}: {e}", p.info.job_type);
        }
        assert!(
            ran.get() >= 48 && valid.get() >= 48,
            "{}: {} valid",
            p.info.job_type,
            valid.get()
        );
    }
}
