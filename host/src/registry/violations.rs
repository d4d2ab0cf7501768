//! Config schema violations as people and agents read them: each points at
//! the field concerned (a missing or unknown property is named in the
//! pointer, not left at its parent object), and an unknown property close to
//! a known one gets "did you mean".

use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;

/// One place where a config breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON Pointer into the config (`""` is the whole config).
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
    /// A known property close to an unknown one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
}

/// `name` as one JSON Pointer reference token (RFC 6901).
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The known property most like `unknown`, when one is close enough to be
/// a likely typo.
fn closest<'a>(unknown: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|k| (strsim::jaro_winkler(unknown, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_string())
}

/// The violations one validation error stands for (an error about several
/// unknown properties is one violation each).
pub(super) fn from_error(
    error: &jsonschema::ValidationError<'_>,
    schema: &Value,
) -> Vec<Violation> {
    let at = error.instance_path().as_str();
    let one = |pointer: String, message: String, did_you_mean: Option<String>| Violation {
        pointer,
        message,
        did_you_mean,
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![one(
                format!("{at}/{}", token(name)),
                format!("`{name}` is required"),
                None,
            )]
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            // The keyword's own schema location, without `$ref`s: its parent
            // is the object schema whose properties are known.
            let keyword = error.schema_path().as_str();
            let parent = keyword.rsplit_once('/').map_or("", |(p, _)| p);
            let known: Vec<&str> = schema
                .pointer(parent)
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|name| {
                    let guess = closest(name, known.iter().copied());
                    let message = match &guess {
                        Some(g) => format!("`{name}` is not a known property; did you mean `{g}`?"),
                        None if known.is_empty() => format!("`{name}` is not allowed here"),
                        None => format!(
                            "`{name}` is not a known property (known: {})",
                            known.join(", ")
                        ),
                    };
                    one(format!("{at}/{}", token(name)), message, guess)
                })
                .collect()
        }
        _ => vec![one(at.to_string(), error.to_string(), None)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn violations(schema: Value, config: Value) -> Vec<Violation> {
        let validator = jsonschema::validator_for(&schema).unwrap();
        validator
            .iter_errors(&config)
            .flat_map(|e| from_error(&e, &schema))
            .collect()
    }

    #[test]
    fn missing_and_unknown_properties_are_named_in_the_pointer() {
        let schema = json!({
            "type": "object",
            "properties": {"text": {"type": "string"}, "top_n": {"type": "integer"},
                           "inner": {"$ref": "#/$defs/Inner"}},
            "required": ["text"],
            "additionalProperties": false,
            "$defs": {"Inner": {"type": "object", "properties": {"a/b": {}, "limit": {}},
                                "required": ["a/b"], "additionalProperties": false}},
        });
        let v = violations(
            schema,
            json!({"topn": 3, "colour": 1, "inner": {"a~b": 1, "limt": 2}}),
        );
        let pointers: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
        let expected = [
            "/text",
            "/topn",
            "/colour",
            "/inner/a~1b",
            "/inner/a~0b",
            "/inner/limt",
        ];
        for expected in expected {
            assert!(pointers.contains(&expected), "{expected} in {v:?}");
        }
        let typo = v.iter().find(|v| v.pointer == "/topn").unwrap();
        assert_eq!(typo.did_you_mean.as_deref(), Some("top_n"));
        assert!(typo.message.contains("did you mean `top_n`?"), "{typo:?}");
        let far = v.iter().find(|v| v.pointer == "/colour").unwrap();
        assert_eq!(far.did_you_mean, None);
        assert!(far.message.contains("known: inner, text, top_n"), "{far:?}");
        // Known properties come from the referenced schema.
        let nested = v.iter().find(|v| v.pointer == "/inner/limt").unwrap();
        assert_eq!(nested.did_you_mean.as_deref(), Some("limit"), "{nested:?}");
        let nested = v.iter().find(|v| v.pointer == "/inner/a~0b").unwrap();
        assert!(nested.message.contains("known: a/b, limit"), "{nested:?}");
    }
}
