//! What an operator granted a job type version, and what its runs may use:
//! the declared capabilities intersected with the grant.

use super::capabilities::{Capabilities, HttpNeeds, Origin, Scheme};
use super::records::Timestamp;
use serde::{Deserialize, Serialize};

/// Who made a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// Built-in job types come approved for what they declare.
    Bundled,
    /// The `--grants` file given to `serve`.
    File,
    /// `PATCH /api/v1/plugins/{job_type}/{version}`.
    Api,
}

/// What an operator approved for one job type version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Destinations requests may go to (within what was declared, unless
    /// the job type leaves them to the operator).
    pub http: Vec<Origin>,
    /// Secrets runs may read.
    pub secrets: Vec<String>,
    /// Where the grant comes from.
    pub source: GrantSource,
    /// The component it was given for, when it was given over the API: a
    /// file replaced under the same version is not approved by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Who approved it.
    pub approved_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub approved_at: Timestamp,
}

/// What a version may use: its declaration intersected with its grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Allowed destinations.
    pub http: Vec<Origin>,
    /// Secrets runs may read.
    pub secrets: Vec<String>,
}

impl Access {
    /// Declared ∩ granted. A granted destination outside a closed
    /// declaration, or a secret not declared, is left out.
    pub fn of(declared: &Capabilities, grant: Option<&Grant>) -> Access {
        let Some(grant) = grant else {
            return Access::default();
        };
        let http = match &declared.http {
            HttpNeeds::None => Vec::new(),
            HttpNeeds::OperatorChosen { .. } => grant.http.clone(),
            HttpNeeds::Destinations { destinations } => grant
                .http
                .iter()
                .filter(|g| destinations.iter().any(|d| d.url == **g))
                .cloned()
                .collect(),
        };
        let secrets = grant
            .secrets
            .iter()
            .filter(|s| declared.secrets.iter().any(|d| d.name == **s))
            .cloned()
            .collect();
        Access { http, secrets }
    }

    /// The first entry that admits `scheme://host:port`.
    pub fn admits(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.http.iter().any(|o| o.matches(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Destination, SecretNeed};

    #[test]
    fn access_is_declared_intersected_with_granted() {
        let a: Origin = "https://a.example.com".parse().unwrap();
        let b: Origin = "https://b.example.com".parse().unwrap();
        let declared = Capabilities {
            http: HttpNeeds::Destinations {
                destinations: vec![Destination {
                    url: a.clone(),
                    reason: "r".into(),
                }],
            },
            secrets: vec![SecretNeed {
                name: "k".into(),
                description: "d".into(),
            }],
        };
        assert_eq!(Access::of(&declared, None), Access::default());
        let grant = Grant {
            http: vec![a.clone(), b.clone()],
            secrets: vec!["k".into(), "other".into()],
            source: GrantSource::Api,
            sha256: None,
            approved_by: "op".into(),
            approved_at: crate::model::now(),
        };
        let access = Access::of(&declared, Some(&grant));
        assert_eq!(access.http, vec![a]);
        assert_eq!(access.secrets, vec!["k".to_string()]);

        let open = Capabilities {
            http: HttpNeeds::OperatorChosen { reason: "r".into() },
            secrets: vec![],
        };
        let access = Access::of(&open, Some(&grant));
        assert_eq!(access.http.len(), 2);
        assert!(access.secrets.is_empty());
    }
}
