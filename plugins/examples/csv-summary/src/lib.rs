//! `csv_summary`: parses CSV text, infers each column's type and summarises
//! it (counts, distinct values, numeric min/max/mean, most common values);
//! optionally returns the rows as JSON objects.

use jobhost_plugin::{Context, Job, JobError, JobType, SideEffects};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Config of a `csv_summary` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"csv": "city,population\nOslo,709000\nBergen,291000\n"}))]
pub struct Config {
    /// The CSV text (up to 1,048,576 characters).
    #[schemars(length(max = 1_048_576), example = "name,age\nAda,36\nAlan,41\n")]
    pub csv: String,
    /// Field delimiter: one ASCII character other than `"`, a line break or a control character (tab is allowed).
    #[serde(default = "default_delimiter")]
    #[schemars(length(min = 1, max = 1), pattern(r#"^[\t !#-~]$"#), example = ";")]
    pub delimiter: String,
    /// Whether the first record names the columns; otherwise columns are `column_1`, `column_2`, ...
    #[serde(default = "yes")]
    pub has_header: bool,
    /// How many of the most common values to list per column.
    #[serde(default = "default_top")]
    #[schemars(range(min = 0, max = 100), example = 3)]
    pub top_values: usize,
    /// Also return the first this many rows as JSON objects (typed by the inferred column types).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100_000), example = 10)]
    pub include_rows: usize,
}

fn default_delimiter() -> String {
    ",".into()
}
fn yes() -> bool {
    true
}
fn default_top() -> usize {
    5
}

/// Inferred type of a column: the narrowest that fits every non-empty cell.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Every cell is empty.
    Empty,
    /// `true`/`false` (any case).
    Boolean,
    /// Whole numbers.
    Integer,
    /// Numbers.
    Number,
    /// Anything else.
    String,
}

/// A value and how often it occurs.
#[derive(Debug, Serialize, PartialEq)]
pub struct ValueCount {
    /// The cell text.
    pub value: String,
    /// Occurrences.
    pub count: usize,
}

/// Summary of one column.
#[derive(Debug, Serialize, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Inferred type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Non-empty cells.
    pub non_empty: usize,
    /// Empty cells (including missing trailing cells).
    pub empty: usize,
    /// Distinct non-empty values.
    pub distinct: usize,
    /// Smallest value (numeric columns).
    pub min: Option<f64>,
    /// Largest value (numeric columns).
    pub max: Option<f64>,
    /// Mean (numeric columns).
    pub mean: Option<f64>,
    /// Sum (numeric columns).
    pub sum: Option<f64>,
    /// Most common values, most common first, ties in order of first appearance.
    pub top_values: Vec<ValueCount>,
}

/// Result of a `csv_summary` job.
#[derive(Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Data rows (not counting the header).
    pub rows: usize,
    /// Per-column summaries in column order.
    pub columns: Vec<Column>,
    /// The first `include_rows` rows, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<Map<String, Value>>,
}

fn kind_of(cell: &str) -> ColumnType {
    if cell.is_empty() {
        ColumnType::Empty
    } else if cell.eq_ignore_ascii_case("true") || cell.eq_ignore_ascii_case("false") {
        ColumnType::Boolean
    } else if cell.parse::<i64>().is_ok() {
        ColumnType::Integer
    } else if cell.parse::<f64>().is_ok_and(f64::is_finite) {
        ColumnType::Number
    } else {
        ColumnType::String
    }
}

fn widen(a: ColumnType, b: ColumnType) -> ColumnType {
    use ColumnType::*;
    match (a, b) {
        (Empty, x) | (x, Empty) => x,
        (x, y) if x == y => x,
        (Integer, Number) | (Number, Integer) => Number,
        _ => String,
    }
}

fn typed(cell: &str, kind: ColumnType) -> Value {
    match kind {
        _ if cell.is_empty() => Value::Null,
        ColumnType::Boolean => Value::Bool(cell.eq_ignore_ascii_case("true")),
        ColumnType::Integer => cell.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
        ColumnType::Number => cell.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        _ => Value::String(cell.to_string()),
    }
}

/// Parses and summarises; pure so it can be unit-tested natively.
pub fn summarise(config: &Config) -> Result<Summary, JobError> {
    let delimiter = match config.delimiter.as_bytes() {
        [b] if b.is_ascii() => *b,
        _ => {
            return Err(JobError::invalid_config(
                "delimiter must be exactly one ASCII character",
            ));
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(config.csv.as_bytes());
    let mut records = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| JobError::failed(format!("CSV record {}: {e}", i + 1)))?;
        records.push(record);
    }
    let mut names: Vec<String> = Vec::new();
    if config.has_header && !records.is_empty() {
        names = records.remove(0).iter().map(str::to_string).collect();
    }
    let width = records
        .iter()
        .map(|r| r.len())
        .max()
        .unwrap_or(0)
        .max(names.len());
    for i in names.len()..width {
        names.push(format!("column_{}", i + 1));
    }
    let mut columns = Vec::with_capacity(width);
    for (c, name) in names.iter().enumerate() {
        let cells: Vec<&str> = records
            .iter()
            .map(|r| r.get(c).unwrap_or("").trim())
            .collect();
        let kind = cells
            .iter()
            .fold(ColumnType::Empty, |k, cell| widen(k, kind_of(cell)));
        let non_empty = cells.iter().filter(|s| !s.is_empty()).count();
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for (order, cell) in cells.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            counts.entry(cell).or_insert((0, order)).0 += 1;
        }
        let mut top: Vec<(&str, (usize, usize))> = counts.iter().map(|(k, v)| (*k, *v)).collect();
        top.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
        let numbers: Vec<f64> = if matches!(kind, ColumnType::Integer | ColumnType::Number) {
            cells.iter().filter_map(|s| s.parse::<f64>().ok()).collect()
        } else {
            Vec::new()
        };
        let sum: f64 = numbers.iter().sum();
        let has = !numbers.is_empty();
        columns.push(Column {
            name: name.clone(),
            kind,
            non_empty,
            empty: cells.len() - non_empty,
            distinct: counts.len(),
            min: has.then(|| numbers.iter().copied().fold(f64::INFINITY, f64::min)),
            max: has.then(|| numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            mean: has.then(|| sum / numbers.len() as f64),
            sum: has.then_some(sum),
            top_values: top
                .into_iter()
                .take(config.top_values)
                .map(|(v, (count, _))| ValueCount {
                    value: v.to_string(),
                    count,
                })
                .collect(),
        });
    }
    let sample = records
        .iter()
        .take(config.include_rows)
        .map(|r| {
            columns
                .iter()
                .enumerate()
                .map(|(c, col)| {
                    (
                        col.name.clone(),
                        typed(r.get(c).unwrap_or("").trim(), col.kind),
                    )
                })
                .collect()
        })
        .collect();
    Ok(Summary {
        rows: records.len(),
        columns,
        sample,
    })
}

struct CsvSummary;

impl Job for CsvSummary {
    type Config = Config;
    type Output = Summary;

    fn describe() -> JobType {
        JobType::new("csv_summary", "1.0.0", "CSV summary")
            .description(
                "Parses CSV text, infers each column's type (boolean, integer, number, string) \
                 and reports counts, distinct values, min/max/mean/sum of numeric columns and \
                 the most common values; can return rows as typed JSON objects.",
            )
            .user_facing_description(
                "Summarise the columns of a CSV file and convert its rows to JSON.",
            )
            .timeout_ms(30_000)
            .memory_bytes(128 << 20)
            // Computes on its config only: nothing outside the run changes.
            .side_effects(SideEffects {
                read_only: true,
                idempotent: true,
                destructive: false,
            })
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Summary, JobError> {
        let summary = summarise(&config)?;
        ctx.info(format_args!(
            "{} rows, {} columns",
            summary.rows,
            summary.columns.len()
        ));
        if !summary.sample.is_empty() {
            let rows = serde_json::to_vec(&summary.sample).map_err(JobError::failed)?;
            ctx.add_inline_reference("rows.json", "application/json", rows);
        }
        Ok(summary)
    }
}

jobhost_plugin::export_job!(CsvSummary);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value) -> Result<Summary, JobError> {
        summarise(&jobhost_plugin::parse_config(&config.to_string())?)
    }

    #[test]
    fn infers_types_and_stats() {
        let s = run(json!({"csv": "name,age,ok\nAda,36,true\nAlan,41.5,false\nBob,,TRUE\n", "include_rows": 1})).unwrap();
        assert_eq!(s.rows, 3);
        let kinds: Vec<_> = s.columns.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![ColumnType::String, ColumnType::Number, ColumnType::Boolean]
        );
        let age = &s.columns[1];
        assert_eq!(
            (age.non_empty, age.empty, age.min, age.max),
            (2, 1, Some(36.0), Some(41.5))
        );
        assert_eq!(s.sample[0]["age"], json!(36.0));
        assert_eq!(
            s.columns[2].top_values[0],
            ValueCount {
                value: "true".into(),
                count: 1
            }
        );
    }

    #[test]
    fn headerless_and_ragged_rows() {
        let s = run(json!({"csv": "1;2\n3;4;5\n", "delimiter": ";", "has_header": false})).unwrap();
        let names: Vec<_> = s.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["column_1", "column_2", "column_3"]);
        assert_eq!(s.columns[2].empty, 1);
        assert_eq!(s.columns[0].sum, Some(4.0));
    }

    #[test]
    fn bad_delimiter_is_a_config_error() {
        assert!(matches!(
            run(json!({"csv": "a", "delimiter": "é"})),
            Err(JobError::InvalidConfig(_))
        ));
    }
}
