//! `json_select`: selects, filters, sorts and reshapes data inside a JSON
//! document with JSON Pointers (RFC 6901).

use jobhost_plugin::{Context, Job, JobError, JobType, SideEffects};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a JSON Pointer looks like: empty, or `/` and anything after it.
const POINTER: &str = r"^(/[\s\S]*)?$";

/// Config of a `json_select` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct Config {
    /// The JSON document to work on.
    pub document: Value,
    /// JSON Pointer to the part of the document to work on; `""` is the whole document.
    #[serde(default)]
    #[schemars(example = "/orders", pattern(POINTER))]
    pub select: String,
    /// Conditions an array item must all meet to be kept (arrays only).
    #[serde(default, rename = "where")]
    #[schemars(length(max = 64), example = example_where())]
    pub conditions: Vec<Condition>,
    /// Sort kept items by the value at this pointer inside each item (arrays only).
    #[serde(default)]
    #[schemars(example = example_sort())]
    pub sort_by: Option<SortBy>,
    /// Skip this many items after filtering and sorting (arrays only).
    #[serde(default)]
    #[schemars(range(min = 0, max = 4_294_967_295u32), example = 0)]
    pub offset: usize,
    /// Keep at most this many items (arrays only); absent keeps all.
    #[serde(default)]
    #[schemars(range(min = 0, max = 4_294_967_295u32), example = 10)]
    pub limit: Option<usize>,
    /// Reshape each item (or the selected value) into an object whose keys are
    /// these names and whose values are read at the given pointers; absent keeps items whole.
    #[serde(default)]
    #[schemars(example = example_fields())]
    pub fields: Option<BTreeMap<String, Pointer>>,
}

/// A JSON Pointer (RFC 6901): empty, or `/` and what follows.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Pointer(#[schemars(pattern(POINTER))] pub String);

/// A condition on a value inside an item.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// JSON Pointer inside the item, e.g. `/status`.
    #[schemars(pattern(POINTER))]
    pub path: String,
    /// How to compare.
    pub op: Op,
    /// The value to compare with (ignored by `exists` and `missing`).
    #[serde(default)]
    pub value: Value,
}

/// A comparison.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (JSON equality).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than (numbers or strings).
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// String contains the value, or array contains an equal element.
    Contains,
    /// The path exists.
    Exists,
    /// The path does not exist.
    Missing,
}

/// Sort order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortBy {
    /// JSON Pointer inside each item.
    #[schemars(pattern(POINTER))]
    pub path: String,
    /// Largest first.
    #[serde(default)]
    pub descending: bool,
}

fn example() -> Value {
    serde_json::json!({
        "document": {"orders": [{"id": 1, "total": 30}, {"id": 2, "total": 5}]},
        "select": "/orders",
        "where": [{"path": "/total", "op": "gt", "value": 10}]
    })
}
fn example_where() -> Value {
    serde_json::json!([{"path": "/total", "op": "gte", "value": 5}])
}
fn example_sort() -> Value {
    serde_json::json!({"path": "/total", "descending": true})
}
fn example_fields() -> BTreeMap<String, String> {
    BTreeMap::from([("id".to_string(), "/id".to_string())])
}

/// Result of a `json_select` job.
#[derive(Debug, Serialize, PartialEq)]
pub struct Output {
    /// The selected value (an array of kept items when the selection is an array).
    pub result: Value,
    /// Items in the selected array before filtering; null when it is not an array.
    pub total: Option<usize>,
    /// Items that met every condition; null when it is not an array.
    pub matched: Option<usize>,
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn holds(item: &Value, c: &Condition) -> bool {
    let found = item.pointer(&c.path);
    match (c.op, found) {
        (Op::Exists, f) => f.is_some(),
        (Op::Missing, f) => f.is_none(),
        (_, None) => false,
        (Op::Eq, Some(v)) => *v == c.value,
        (Op::Ne, Some(v)) => *v != c.value,
        (Op::Contains, Some(Value::String(s))) => c.value.as_str().is_some_and(|n| s.contains(n)),
        (Op::Contains, Some(Value::Array(a))) => a.contains(&c.value),
        (Op::Contains, Some(_)) => false,
        (op, Some(v)) => compare(v, &c.value).is_some_and(|o| match op {
            Op::Gt => o == Ordering::Greater,
            Op::Gte => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Lte => o != Ordering::Greater,
            _ => false,
        }),
    }
}

fn check_pointer(pointer: &str, what: &str) -> Result<(), JobError> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(JobError::invalid_config(format!(
            "{what} `{pointer}` is not a JSON Pointer: it must be empty or start with `/`"
        )))
    }
}

fn project(item: &Value, fields: &Option<BTreeMap<String, Pointer>>) -> Value {
    match fields {
        None => item.clone(),
        Some(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, ptr)| {
                    (
                        name.clone(),
                        item.pointer(&ptr.0).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect(),
        ),
    }
}

/// Applies the config to its document; pure so it can be unit-tested natively.
pub fn select(config: &Config) -> Result<Output, JobError> {
    check_pointer(&config.select, "select")?;
    for c in &config.conditions {
        check_pointer(&c.path, "where.path")?;
    }
    if let Some(s) = &config.sort_by {
        check_pointer(&s.path, "sort_by.path")?;
    }
    for p in config.fields.iter().flat_map(|f| f.values()) {
        check_pointer(&p.0, "fields value")?;
    }
    let selected = config.document.pointer(&config.select).ok_or_else(|| {
        JobError::failed(format!(
            "select `{}` matches nothing in the document",
            config.select
        ))
    })?;
    let Value::Array(items) = selected else {
        return Ok(Output {
            result: project(selected, &config.fields),
            total: None,
            matched: None,
        });
    };
    let mut kept: Vec<&Value> = items
        .iter()
        .filter(|i| config.conditions.iter().all(|c| holds(i, c)))
        .collect();
    let matched = kept.len();
    if let Some(sort) = &config.sort_by {
        kept.sort_by(|a, b| {
            let o = match (a.pointer(&sort.path), b.pointer(&sort.path)) {
                (Some(x), Some(y)) => compare(x, y).unwrap_or(Ordering::Equal),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if sort.descending { o.reverse() } else { o }
        });
    }
    let result = kept
        .into_iter()
        .skip(config.offset)
        .take(config.limit.unwrap_or(usize::MAX))
        .map(|i| project(i, &config.fields))
        .collect();
    Ok(Output {
        result: Value::Array(result),
        total: Some(items.len()),
        matched: Some(matched),
    })
}

struct JsonSelect;

impl Job for JsonSelect {
    type Config = Config;
    type Output = Output;

    fn describe() -> JobType {
        JobType::new("json_select", "1.0.0", "JSON select")
            .description(
                "Selects part of a JSON document by JSON Pointer, filters array items by \
                 conditions, sorts, pages and reshapes them into new objects.",
            )
            .user_facing_description("Pick, filter and reshape data from a JSON document.")
            .timeout_ms(10_000)
            .memory_bytes(64 << 20)
            // Computes on its config only: nothing outside the run changes.
            .side_effects(SideEffects {
                read_only: true,
                idempotent: true,
                destructive: false,
            })
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Output, JobError> {
        let out = select(&config)?;
        if let (Some(total), Some(matched)) = (out.total, out.matched) {
            ctx.info(format_args!("{matched} of {total} items matched"));
        }
        Ok(out)
    }
}

jobhost_plugin::export_job!(JsonSelect);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value) -> Result<Output, JobError> {
        select(&jobhost_plugin::parse_config(&config.to_string())?)
    }

    #[test]
    fn filters_sorts_and_projects() {
        let out = run(json!({
            "document": {"orders": [{"id": 1, "total": 30}, {"id": 2, "total": 5}, {"id": 3, "total": 50}]},
            "select": "/orders",
            "where": [{"path": "/total", "op": "gte", "value": 10}],
            "sort_by": {"path": "/total", "descending": true},
            "fields": {"order": "/id"}
        }))
        .unwrap();
        assert_eq!(out.result, json!([{"order": 3}, {"order": 1}]));
        assert_eq!((out.total, out.matched), (Some(3), Some(2)));
    }

    #[test]
    fn selects_a_scalar() {
        let out = run(json!({"document": {"a": {"b": 7}}, "select": "/a/b"})).unwrap();
        assert_eq!(out.result, json!(7));
        assert_eq!(out.total, None);
    }

    #[test]
    fn bad_pointer_and_missing_selection_are_errors() {
        assert!(matches!(
            run(json!({"document": {}, "select": "a"})),
            Err(JobError::InvalidConfig(_))
        ));
        assert!(matches!(
            run(json!({"document": {}, "select": "/nope"})),
            Err(JobError::Failed(_))
        ));
    }

    #[test]
    fn contains_exists_and_paging() {
        let doc = json!([{"t": ["x", "y"]}, {"t": ["y"]}, {"u": 1}]);
        let out = run(json!({"document": doc, "where": [{"path": "/t", "op": "contains", "value": "y"}], "offset": 1, "limit": 5})).unwrap();
        assert_eq!(out.result, json!([{"t": ["y"]}]));
        let out =
            run(json!({"document": doc, "where": [{"path": "/t", "op": "missing"}]})).unwrap();
        assert_eq!(out.result, json!([{"u": 1}]));
    }
}
