//! What one run may reach: its granted HTTP destinations and its secrets,
//! and the scrubber that takes every secret value out of what the run
//! reports (logs, progress, output, errors) before the host keeps it.

use crate::model::Origin;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A secret's value: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: String) -> Self {
        SecretValue(value)
    }

    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(..)")
    }
}

/// What a run may reach.
#[derive(Debug, Clone, Default)]
pub struct RunAccess {
    /// Destinations requests may go to (shared with the run's HTTP hooks).
    pub http: Arc<[Origin]>,
    /// Secret names the job type declared.
    pub declared_secrets: Vec<String>,
    /// Secrets an operator granted, with the tenant's value when it set one.
    pub secrets: BTreeMap<String, Option<SecretValue>>,
}

/// Why a secret was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The job type did not declare it.
    Undeclared,
    /// No operator granted it.
    Ungranted,
    /// The tenant has not set it.
    Unset,
}

impl RunAccess {
    pub(crate) fn secret(&self, name: &str) -> Result<&str, Missing> {
        if !self.declared_secrets.iter().any(|d| d == name) {
            return Err(Missing::Undeclared);
        }
        match self.secrets.get(name) {
            None => Err(Missing::Ungranted),
            Some(None) => Err(Missing::Unset),
            Some(Some(v)) => Ok(v.expose()),
        }
    }
}

/// Replaces every secret value of a run with `[secret:NAME]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    /// (name, value), longest value first so a value containing another is
    /// replaced whole.
    secrets: Vec<(String, SecretValue)>,
}

impl Scrubber {
    pub(crate) fn new(access: &RunAccess) -> Self {
        let mut secrets: Vec<(String, SecretValue)> = access
            .secrets
            .iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| (n.clone(), v.clone())))
            .filter(|(_, v)| !v.expose().is_empty())
            .collect();
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.expose().len()));
        Scrubber { secrets }
    }

    /// `text` with every secret value replaced.
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (name, value) in &self.secrets {
            if out.contains(value.expose()) {
                out = Cow::Owned(out.replace(value.expose(), &format!("[secret:{name}]")));
            }
        }
        out
    }

    /// JSON text with every secret value replaced, whether it appears as
    /// is or JSON-escaped inside a string. The result stays JSON: the
    /// replacement has no character JSON escapes.
    pub(crate) fn scrub_json_text(&self, json: &str) -> String {
        let mut out = self.scrub(json).into_owned();
        for (name, value) in &self.secrets {
            let quoted = serde_json::to_string(value.expose()).expect("a string serialises");
            let escaped = &quoted[1..quoted.len() - 1];
            if escaped != value.expose() && out.contains(escaped) {
                out = out.replace(escaped, &format!("[secret:{name}]"));
            }
        }
        out
    }

    /// `text` scrubbed, then cut to at most `cap` bytes on a character
    /// boundary; when the cut leaves the start of a secret value at the
    /// end, that start goes too.
    pub(crate) fn scrub_and_cut(&self, text: &str, cap: usize) -> String {
        let scrubbed = self.scrub(text);
        if scrubbed.len() <= cap {
            return scrubbed.into_owned();
        }
        let mut cut = cap;
        while !scrubbed.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut kept = &scrubbed[..cut];
        for (_, value) in &self.secrets {
            let value = value.expose();
            // Longest suffix of `kept` that starts the value, if any.
            for start in kept.len().saturating_sub(value.len())..kept.len() {
                if kept.is_char_boundary(start) && value.starts_with(&kept[start..]) {
                    kept = &kept[..start];
                    break;
                }
            }
        }
        kept.to_string()
    }

    /// Whether the run has any secret to scrub.
    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber(pairs: &[(&str, &str)]) -> Scrubber {
        let access = RunAccess {
            secrets: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), Some(SecretValue::new(v.to_string()))))
                .collect(),
            ..RunAccess::default()
        };
        Scrubber::new(&access)
    }

    #[test]
    fn values_are_replaced_by_name_longest_first() {
        let s = scrubber(&[("short", "abc"), ("long", "abcdef")]);
        assert_eq!(
            s.scrub("x abcdef y abc"),
            "x [secret:long] y [secret:short]"
        );
        assert_eq!(s.scrub("nothing here"), "nothing here");
        assert!(format!("{:?}", SecretValue::new("sk-123".into())).contains(".."));
    }

    #[test]
    fn json_escaped_values_are_replaced_too() {
        let s = scrubber(&[("k", "a\"b")]);
        let json = serde_json::json!({ "v": "x a\"b y" }).to_string();
        let out = s.scrub_json_text(&json);
        assert_eq!(out, r#"{"v":"x [secret:k] y"}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
    }

    #[test]
    fn a_cut_never_leaves_the_start_of_a_value() {
        let s = scrubber(&[("k", "sk-0123456789")]);
        // The cut at 10 bytes would keep "prefix sk-"; the secret's start goes.
        assert_eq!(s.scrub_and_cut("prefix sk-0123", 10), "prefix ");
        assert_eq!(s.scrub_and_cut("short", 10), "short");
    }
}
