//! Encryption of tenants' secrets at rest: AES-256-GCM (ring) under one
//! key, kept in a file of mode 0600 created at first start (or given by
//! `--secrets-key-file`). Each value is sealed with a fresh random nonce and
//! bound to its tenant and name, so a sealed value moved elsewhere does not
//! open.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

/// Length of a key file's content: 32 random bytes, hex-encoded.
const KEY_HEX_LEN: usize = 64;

/// Why the key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Reading or creating the key file failed.
    #[error("secrets key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("secrets key file {0} must hold 64 hex digits (32 bytes)")]
    BadKey(String),
    /// A sealed value did not open: another key, or damaged data.
    #[error("a stored secret does not decrypt with this key (another key file, or damaged data)")]
    Open,
}

/// The key secrets are sealed with.
pub struct Vault {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    /// Reads the key in `path`, creating the file (mode 0600) with a new
    /// random key when it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Vault, VaultError> {
        let io = |source| VaultError::Io {
            path: path.display().to_string(),
            source,
        };
        let rng = SystemRandom::new();
        if !path.exists() {
            let mut key = [0u8; 32];
            rng.fill(&mut key)
                .map_err(|_| io(std::io::Error::other("no randomness")))?;
            crate::durable::write_atomically(path, &[hex::encode(key).as_bytes()], 0o600)
                .map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let key = hex::decode(text.trim())
            .ok()
            .filter(|k| text.trim().len() == KEY_HEX_LEN && k.len() == 32)
            .ok_or_else(|| VaultError::BadKey(path.display().to_string()))?;
        Ok(Vault {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte key")),
            rng,
        })
    }

    /// Seals `plaintext` bound to `context`: nonce followed by ciphertext and tag.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system has randomness");
        let mut data = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .expect("sealing a bounded value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        out
    }

    /// Opens what [`Vault::seal`] sealed with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Open)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| VaultError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context_and_key_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let v = Vault::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = v.seal("t1/api_key", b"sk-123");
        assert!(!sealed.windows(6).any(|w| w == b"sk-123"));
        assert_eq!(v.open("t1/api_key", &sealed).unwrap(), b"sk-123");
        assert!(v.open("t2/api_key", &sealed).is_err());
        // The same file opens the same key again.
        let again = Vault::open_or_create(&path).unwrap();
        assert_eq!(again.open("t1/api_key", &sealed).unwrap(), b"sk-123");
        std::fs::write(dir.path().join("bad.key"), "nothex").unwrap();
        assert!(Vault::open_or_create(&dir.path().join("bad.key")).is_err());
    }
}
