//! Bearer tokens. Each token maps to a user (whose email becomes
//! `created_by`), a tenant and a role. Only SHA-256 digests of tokens are
//! stored, in a token file the CLI and the server both change; a token is
//! shown once, when it is created. A running server reloads the file when
//! it changes, so tokens created or revoked anywhere take effect within a
//! second.

pub mod file;

use crate::model::TenantId;
use file::Entry;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How often a server looks at the token file for changes.
pub const RELOAD_EVERY: Duration = Duration::from_millis(250);

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the host: an admin of its tenant who also manages what all
    /// tenants share, the job types (publish, status, delete) and `/metrics`.
    Operator,
    /// Everything within its tenant (the webhook secret and its tokens
    /// too); not the job types, which every tenant shares.
    Admin,
    /// Jobs and runs of their tenant.
    User,
    /// Like a user, but only job types marked `creatable_by_agent`.
    Agent,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "agent" => Ok(Role::Agent),
            other => Err(format!(
                "unknown role `{other}`; expected operator, admin, user or agent"
            )),
        }
    }
}

impl Role {
    /// The role's name, as tokens and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::User => "user",
            Role::Agent => "agent",
        }
    }

    /// Administers its tenant (operators do too).
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Email, recorded as `created_by`.
    pub user: String,
    /// The tenant every request is scoped to.
    pub tenant: TenantId,
    /// Role.
    pub role: Role,
    /// The public id of the token it called with (not the token).
    pub token: String,
}

impl From<&Entry> for Caller {
    fn from(e: &Entry) -> Self {
        Caller {
            user: e.user.clone(),
            tenant: e.tenant.clone(),
            role: e.role,
            token: e.id().to_string(),
        }
    }
}

/// Errors reading or changing the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// I/O.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not the expected JSON.
    #[error("token file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The request to create a token is not acceptable.
    #[error("{0}")]
    Refused(String),
}

impl TokenError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        TokenError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The live token table of a server (or of a test), read from its file.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    by_digest: RwLock<Arc<HashMap<String, Caller>>>,
    /// SHA-256 of the file's bytes as last read.
    seen: Mutex<Option<[u8; 32]>>,
}

impl Tokens {
    /// Loads `path`. When it does not exist, creates it with one operator
    /// token (tenant `default`) and returns that token so the caller can
    /// show it once.
    pub fn load_or_init(path: &Path) -> Result<(Tokens, Option<String>), TokenError> {
        let created = if path.exists() {
            None
        } else {
            Some(file::create(path, "admin@localhost", "default", Role::Operator)?.0)
        };
        Ok((Tokens::load(path)?, created))
    }

    /// Loads `path`.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let tokens = Tokens {
            path: path.to_path_buf(),
            by_digest: RwLock::default(),
            seen: Mutex::new(None),
        };
        tokens.reload()?;
        Ok(tokens)
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again.
    pub fn reload(&self) -> Result<(), TokenError> {
        self.reload_if_changed().map(|_| ())
    }

    /// Reads the file again if its content changed since it was last read;
    /// a file that does not read keeps the table as it was (and says why).
    pub fn reload_if_changed(&self) -> Result<bool, TokenError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TokenError::io(&self.path, e)),
        };
        let hash: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == Some(hash) {
            return Ok(false);
        }
        let file = file::parse(&self.path, &bytes)?;
        let table: HashMap<String, Caller> = file
            .tokens
            .iter()
            .map(|e| (e.sha256.clone(), Caller::from(e)))
            .collect();
        *self.by_digest.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        *seen = Some(hash);
        Ok(true)
    }

    /// The caller a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let table = self
            .by_digest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        table.get(&file::digest(token)).cloned()
    }
}

/// Reloads `tokens` whenever its file changes, until the process ends.
pub fn watch(tokens: Arc<Tokens>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RELOAD_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            every.tick().await;
            let t = tokens.clone();
            match tokio::task::spawn_blocking(move || t.reload_if_changed()).await {
                Ok(Ok(changed)) => {
                    if changed {
                        tracing::info!(file = %tokens.path().display(), "token file reloaded");
                    }
                    failing = false;
                }
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::error!(error = %e, "the token file did not reload; the tokens read before stay in use");
                }
                _ => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_one_operator_token_and_only_digests_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let (tokens, shown) = Tokens::load_or_init(&path).unwrap();
        let token = shown.unwrap();
        assert_eq!(tokens.authenticate(&token).unwrap().role, Role::Operator);
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&token));
        let (_, shown_again) = Tokens::load_or_init(&path).unwrap();
        assert!(shown_again.is_none(), "a token is shown only once");
        let (agent, entry) = file::create(&path, "bot@example.com", "acme", Role::Agent).unwrap();
        assert!(tokens.authenticate(&agent).is_none(), "not read yet");
        assert!(tokens.reload_if_changed().unwrap());
        let caller = tokens.authenticate(&agent).unwrap();
        assert_eq!(
            (caller.tenant.0.as_str(), caller.role, caller.token.as_str()),
            ("acme", Role::Agent, entry.id())
        );
        assert!(tokens.authenticate("jh_wrong").is_none());
        assert!(!tokens.reload_if_changed().unwrap(), "nothing changed");

        let revoked = file::revoke(&path, entry.id(), |_| true).unwrap();
        assert_eq!(revoked.as_ref(), Some(&entry));
        assert!(tokens.reload_if_changed().unwrap());
        assert!(tokens.authenticate(&agent).is_none());
        assert_eq!(file::revoke(&path, entry.id(), |_| true).unwrap(), None);
    }

    #[test]
    fn bad_names_are_refused_and_old_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        for tenant in ["", "a b", "ü"] {
            assert!(matches!(
                file::create(&path, "a@example.com", tenant, Role::User),
                Err(TokenError::Refused(_))
            ));
        }
        // A file written before tokens had a creation time.
        std::fs::write(
            &path,
            r#"{"tokens": [{"sha256": "00ff", "user": "u@x", "tenant": "t", "role": "user"}]}"#,
        )
        .unwrap();
        let tokens = file::read(&path).unwrap().tokens;
        assert_eq!((tokens[0].id(), tokens[0].created_at), ("00ff", None));
    }
}
