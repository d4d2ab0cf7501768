//! Whole numbers written with a fraction part (`3.0`) become integers (`3`)
//! wherever a config's schema types the value as an integer. JSON Schema
//! calls `3.0` an integer, so it validates; a plugin's SDK may not (Rust's
//! serde refuses `3.0` for a `usize`), and a config that validates must run.
//! The rewrite never changes whether a config validates: JSON Schema treats
//! `3.0` and `3` as the same number under every keyword.
//!
//! The schema is followed through `properties`, `additionalProperties`,
//! `items`, `prefixItems`, local `$ref`s and every branch of `allOf`,
//! `anyOf`, `oneOf` and `if`/`then`/`else` (an integer in a branch that does
//! not apply stays a valid number too). `patternProperties` is not followed.

use serde_json::{Map, Value};

/// Local `$ref` hops followed without descending into the value, at most
/// (a schema referring to itself in a loop stops here).
const MAX_REF_HOPS: usize = 32;

/// Rewrites whole-number floats at integer-typed places of `value`.
pub fn normalise(value: &mut Value, schema: &Value) {
    walk(value, schema, schema, 0);
}

fn walk(value: &mut Value, schema: &Value, root: &Value, hops: usize) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
        && hops < MAX_REF_HOPS
    {
        walk(value, target, root, hops + 1);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(value, branch, root, hops);
        }
    }
    for key in ["then", "else"] {
        if let Some(branch) = schema.get(key) {
            walk(value, branch, root, hops);
        }
    }
    match value {
        Value::Number(n) if types_integer(schema) => {
            if let Some(whole) = n.as_f64().and_then(whole_number) {
                *value = whole;
            }
        }
        Value::Object(object) => properties(object, schema, root),
        Value::Array(items) => elements(items, schema, root),
        _ => {}
    }
}

fn properties(object: &mut Map<String, Value>, schema: &Map<String, Value>, root: &Value) {
    let declared = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (name, v) in object.iter_mut() {
        match declared.and_then(|d| d.get(name)) {
            Some(s) => walk(v, s, root, 0),
            None => {
                if let Some(s) = additional {
                    walk(v, s, root, 0);
                }
            }
        }
    }
}

fn elements(items: &mut [Value], schema: &Map<String, Value>, root: &Value) {
    // 2020-12: `prefixItems` then `items`; draft 7: `items` as an array then
    // `additionalItems`.
    let (prefix, rest) = match (schema.get("prefixItems"), schema.get("items")) {
        (Some(Value::Array(p)), rest) => (p.as_slice(), rest),
        (None, Some(Value::Array(p))) => (p.as_slice(), schema.get("additionalItems")),
        (_, rest) => (&[][..], rest),
    };
    for (i, v) in items.iter_mut().enumerate() {
        match prefix.get(i).or(rest) {
            Some(s) => walk(v, s, root, 0),
            None => break,
        }
    }
}

fn types_integer(schema: &Map<String, Value>) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    }
}

/// `f` as a JSON integer when it is a whole number an integer can hold.
fn whole_number(f: f64) -> Option<Value> {
    // 2^64 and -2^63, exactly representable as f64.
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    if (0.0..U64_END).contains(&f) {
        Some(Value::from(f as u64))
    } else if (I64_MIN..0.0).contains(&f) {
        Some(Value::from(f as i64))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;
    use serde_json::{Value, json};

    fn norm(mut value: Value, schema: Value) -> String {
        normalise(&mut value, &schema);
        value.to_string()
    }

    #[test]
    fn whole_floats_become_integers_only_where_the_schema_says_integer() {
        let schema = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "maybe": {"type": ["integer", "null"]},
                "ratio": {"type": "number"},
                "any": {},
                "list": {"type": "array", "items": {"type": "integer"}},
                "pair": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "integer"}]},
                "nested": {"$ref": "#/$defs/Inner"},
                "either": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]},
            },
            "additionalProperties": {"type": "integer"},
            "$defs": {"Inner": {"type": "object", "properties": {"k": {"type": "integer"}}}},
        });
        let config = json!({
            "n": 3.0, "maybe": -2.0, "ratio": 3.0, "any": 3.0, "list": [1.0, 2.5, 7],
            "pair": [1.0, 2.0], "nested": {"k": 4.0}, "either": {"k": 5.0}, "extra": 6.0,
        });
        assert_eq!(
            norm(config, schema),
            json!({
                "n": 3, "maybe": -2, "ratio": 3.0, "any": 3.0, "list": [1, 2.5, 7],
                "pair": [1.0, 2], "nested": {"k": 4}, "either": {"k": 5}, "extra": 6,
            })
            .to_string()
        );
    }

    #[test]
    fn numbers_no_integer_can_hold_and_self_references_are_left_alone() {
        let schema = json!({"type": "integer"});
        assert_eq!(norm(json!(1e300), schema.clone()), "1e+300");
        assert_eq!(norm(json!(-0.0), schema.clone()), "0");
        assert_eq!(
            norm(json!(18_446_744_073_709_549_568.0), schema),
            "18446744073709549568"
        );
        let looping = json!({"$ref": "#", "type": "integer"});
        assert_eq!(norm(json!(2.0), looping), "2");
    }
}
