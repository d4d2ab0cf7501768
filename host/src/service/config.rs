//! Configs as callers change them: an RFC 7386 JSON merge patch applied to a
//! job's config, then validated against the job type's schema.

use super::ServiceError;
use crate::registry::Plugin;
use serde_json::{Value, json};

/// Applies an RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// `base` with `patch` (a JSON object, if any) merged in, validated by
/// `plugin`; `not_object` is the error's message when the patch is not an
/// object.
pub(super) fn patched(
    plugin: &Plugin,
    base: &Value,
    patch: Option<&Value>,
    not_object: &str,
) -> Result<Value, ServiceError> {
    let mut config = base.clone();
    if let Some(patch) = patch {
        if !patch.is_object() {
            return Err(ServiceError::field("config", not_object));
        }
        merge_patch(&mut config, patch);
    }
    plugin.validate_config(&mut config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1]});
        merge_patch(&mut doc, &json!({"a": [2], "b": {"c": 1}}));
        assert_eq!(doc, json!({"a": [2], "b": {"c": 1}}));
    }
}
