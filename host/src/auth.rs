//! Bearer tokens. Each token maps to a user (whose email becomes
//! `created_by`), a tenant and a role. Only SHA-256 digests of tokens are
//! stored; a token is shown once, when it is created.

use crate::model::TenantId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the host: an admin of its tenant who also manages what all
    /// tenants share, the job types (publish, status, delete) and `/metrics`.
    Operator,
    /// Everything within its tenant (the webhook secret too); not the job
    /// types, which every tenant shares.
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
    /// Administers its tenant (operators do too).
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Email, recorded as `created_by`.
    pub user: String,
    /// The tenant every request is scoped to.
    pub tenant: TenantId,
    /// Role.
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    sha256: String,
    #[serde(flatten)]
    caller: Caller,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<Entry>,
}

/// Errors reading or writing the token file.
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
}

/// The token table, loaded once at start.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<String, Caller>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Tokens {
    /// Loads `path`. When it does not exist, creates it with one operator
    /// token (tenant `default`) and returns that token so the caller can
    /// show it once.
    pub fn load_or_init(path: &Path) -> Result<(Tokens, Option<String>), TokenError> {
        if !path.exists() {
            let token = Tokens::add(path, "admin@localhost", "default", Role::Operator)?;
            return Ok((Tokens::load(path)?, Some(token)));
        }
        Ok((Tokens::load(path)?, None))
    }

    /// Loads `path`.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let file: TokenFile = serde_json::from_str(&text).map_err(|e| TokenError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Tokens {
            by_digest: file
                .tokens
                .into_iter()
                .map(|e| (e.sha256, e.caller))
                .collect(),
        })
    }

    /// Creates a token for a user, appends its digest to `path`, and returns it.
    pub fn add(path: &Path, user: &str, tenant: &str, role: Role) -> Result<String, TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| TokenError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
            Err(e) => return Err(io(e)),
        };
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("jh_{}", hex::encode(secret));
        let caller = Caller {
            user: user.to_string(),
            tenant: TenantId(tenant.to_string()),
            role,
        };
        file.tokens.push(Entry {
            sha256: digest(&token),
            caller,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&file).expect("serialises")).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(token)
    }

    /// The caller a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<&Caller> {
        self.by_digest.get(&digest(token))
    }
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
        let agent = Tokens::add(&path, "bot@example.com", "acme", Role::Agent).unwrap();
        let tokens = Tokens::load(&path).unwrap();
        let caller = tokens.authenticate(&agent).unwrap();
        assert_eq!(
            (caller.tenant.0.as_str(), caller.role),
            ("acme", Role::Agent)
        );
        assert!(tokens.authenticate("jh_wrong").is_none());
    }
}
