//! Tenants' named secrets, sealed by the [`Vault`](crate::vault::Vault)
//! before they are written: the value never reaches the database in clear,
//! and only its name, who set it and when can be listed.

use super::{SecretStore, Sled, StoreError, encode};
use crate::model::{TenantId, Timestamp, now};
use crate::runtime::SecretValue;
use crate::vault::Vault;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 << 10;
/// Most secrets one tenant may keep.
pub const MAX_SECRETS_PER_TENANT: usize = 1000;

/// A secret as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// Name.
    pub name: String,
    /// Who set it.
    pub set_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub set_at: Timestamp,
}

/// A secret as stored, whichever the backend: what is listed, and the
/// value sealed.
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    #[serde(flatten)]
    pub(super) info: SecretInfo,
    /// Nonce, ciphertext and tag, base64.
    sealed: String,
}

/// `value` sealed by `vault` as `tenant`'s secret `name`, set by `actor`.
pub(super) fn seal(
    vault: Option<&Vault>,
    tenant: &TenantId,
    name: &str,
    value: &str,
    actor: &str,
) -> Result<Stored, StoreError> {
    let sealed = need(vault)?.seal(&context(tenant, name), value.as_bytes());
    Ok(Stored {
        info: SecretInfo {
            name: name.to_string(),
            set_by: actor.to_string(),
            set_at: now(),
        },
        sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
    })
}

/// The value of `tenant`'s secret `name`, stored as `bytes`, opened by `vault`.
pub(super) fn unseal(
    vault: Option<&Vault>,
    tenant: &TenantId,
    name: &str,
    bytes: &[u8],
) -> Result<SecretValue, StoreError> {
    let stored: Stored = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Secrets(format!("secret `{name}` is damaged: {e}")))?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(stored.sealed)
        .map_err(|e| StoreError::Secrets(format!("secret `{name}` is damaged: {e}")))?;
    let plain = need(vault)?
        .open(&context(tenant, name), &sealed)
        .map_err(|e| StoreError::Secrets(format!("secret `{name}`: {e}")))?;
    let text = String::from_utf8(plain)
        .map_err(|_| StoreError::Secrets(format!("secret `{name}` is not UTF-8")))?;
    Ok(SecretValue::new(text))
}

fn need(vault: Option<&Vault>) -> Result<&Vault, StoreError> {
    vault.ok_or_else(|| StoreError::Secrets("no secrets key is configured".into()))
}

fn key(tenant: &TenantId, name: &str) -> Vec<u8> {
    let mut k = tenant.key_prefix();
    k.extend_from_slice(name.as_bytes());
    k
}

fn context(tenant: &TenantId, name: &str) -> String {
    format!("jobhost-secret/{tenant}/{name}")
}

impl SecretStore for Sled {
    /// Sets a secret; `Ok(true)` when it was new.
    fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &str,
        actor: &str,
    ) -> Result<(SecretInfo, bool), StoreError> {
        let stored = seal(self.vault.as_deref(), tenant, name, value, actor)?;
        let info = stored.info.clone();
        let k = key(tenant, name);
        let new = !self.tenant_secrets.contains_key(&k)?;
        if new
            && self.tenant_secrets.scan_prefix(tenant.key_prefix()).count()
                >= MAX_SECRETS_PER_TENANT
        {
            return Err(StoreError::TooManySecrets {
                max: MAX_SECRETS_PER_TENANT,
            });
        }
        self.tenant_secrets.insert(k, encode(&stored))?;
        self.db.flush()?;
        Ok((info, new))
    }

    /// The tenant's secrets, by name; never their values.
    fn secrets(&self, tenant: &TenantId) -> Result<Vec<SecretInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tenant_secrets.scan_prefix(tenant.key_prefix()) {
            let (k, v) = entry?;
            match serde_json::from_slice::<Stored>(&v) {
                Ok(s) => out.push(s.info),
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(&k), error = %e, "a stored secret record is damaged; skipped");
                }
            }
        }
        Ok(out)
    }

    /// Removes a secret; `Ok(false)` when there was none.
    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let gone = self.tenant_secrets.remove(key(tenant, name))?.is_some();
        self.db.flush()?;
        Ok(gone)
    }

    /// The value of a tenant's secret, when set.
    fn secret_value(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SecretValue>, StoreError> {
        let Some(bytes) = self.tenant_secrets.get(key(tenant, name))? else {
            return Ok(None);
        };
        unseal(self.vault.as_deref(), tenant, name, &bytes).map(Some)
    }
}
