//! The token file: one entry per token (its SHA-256 digest, never the
//! token, and who it stands for), changed only under an exclusive lock on a
//! lock file beside it and written whole, so the CLI and a running server
//! can both change it.

use super::{Role, TokenError};
use crate::model::{TenantId, Timestamp, now};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// One token as the file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// The user's email, recorded as `created_by`.
    pub user: String,
    /// The tenant every request is scoped to.
    pub tenant: TenantId,
    /// What the token may do.
    pub role: Role,
    /// When it was created (absent for tokens created before it was kept).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub created_at: Option<Timestamp>,
}

impl Entry {
    /// The token's public id: the first 16 hex digits of its digest.
    pub fn id(&self) -> &str {
        &self.sha256[..self.sha256.len().min(16)]
    }

    /// The token as lists show it (never the token or its digest).
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id(),
            "user": self.user,
            "tenant": self.tenant,
            "role": self.role,
            "created_at": self.created_at.and_then(|t| t
                .format(&time::format_description::well_known::Rfc3339)
                .ok()),
        })
    }
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokenFile {
    /// Every token.
    pub tokens: Vec<Entry>,
}

/// SHA-256 of a token, hex.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Reads the file; a missing file is an empty one.
pub fn read(path: &Path) -> Result<TokenFile, TokenError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(e) => Err(TokenError::io(path, e)),
    }
}

/// Parses the bytes of the file at `path` (empty: no tokens).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<TokenFile, TokenError> {
    if bytes.is_empty() {
        return Ok(TokenFile::default());
    }
    serde_json::from_slice(bytes).map_err(|e| TokenError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Changes the file under its lock: reads it, lets `change` edit it, and
/// writes it back whole (only when `change` succeeds).
pub fn modify<T>(
    path: &Path,
    change: impl FnOnce(&mut TokenFile) -> Result<T, TokenError>,
) -> Result<T, TokenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| TokenError::io(dir, e))?;
    }
    let lock_path = path.with_extension("json.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| TokenError::io(&lock_path, e))?;
    lock.lock().map_err(|e| TokenError::io(&lock_path, e))?;
    let mut file = read(path)?;
    let out = change(&mut file)?;
    let bytes = serde_json::to_vec_pretty(&file).expect("the token file serialises");
    crate::durable::write_atomically(path, &[&bytes], 0o600)
        .map_err(|e| TokenError::io(path, e))?;
    Ok(out)
}

/// A new token for `user` in `tenant` with `role`, added to the file;
/// returns the token (shown once) and its entry.
pub fn create(
    path: &Path,
    user: &str,
    tenant: &str,
    role: Role,
) -> Result<(String, Entry), TokenError> {
    let tenant = TenantId::parse(tenant).map_err(TokenError::Refused)?;
    if user.trim().is_empty() || user.len() > 320 {
        return Err(TokenError::Refused(
            "the user must be a non-empty email of at most 320 bytes".into(),
        ));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("jh_{}", hex::encode(secret));
    let entry = Entry {
        sha256: digest(&token),
        user: user.to_string(),
        tenant,
        role,
        created_at: Some(now()),
    };
    let added = entry.clone();
    modify(path, move |file| {
        file.tokens.push(added);
        Ok(())
    })?;
    Ok((token, entry))
}

/// Removes the token `id` when `may` allows it; returns what was removed,
/// `None` when no token has that id (or `may` refuses it).
pub fn revoke(
    path: &Path,
    id: &str,
    may: impl Fn(&Entry) -> bool,
) -> Result<Option<Entry>, TokenError> {
    modify(path, |file| {
        let found = file
            .tokens
            .iter()
            .position(|e| e.id() == id && id.len() == 16 && may(e));
        Ok(found.map(|i| file.tokens.remove(i)))
    })
}
