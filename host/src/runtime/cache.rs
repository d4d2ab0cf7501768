//! The on-disk cache of precompiled components, keyed by the component's
//! content hash and the engine's settings. Every entry carries a digest of its
//! own bytes: a corrupted, truncated or mismatched entry is removed and the
//! component recompiled, never trusted.

use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"JHCWASM1";

/// A directory of precompiled artifacts for one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    /// Opens (creating it if needed) a cache directory for `engine`.
    pub fn open(dir: &Path, engine: &wasmtime::Engine) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// The file holding the artifact of the component with this content digest.
    pub fn path_for(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The verified artifact bytes for `digest`, or `None` if absent or bad
    /// (a bad file is removed).
    pub fn load(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.path_for(digest);
        let bytes = fs::read(&path).ok()?;
        match verify(&bytes) {
            Some(payload) => Some(payload.to_vec()),
            None => {
                tracing::warn!(path = %path.display(), "removing a corrupted precompiled artifact");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Forgets the artifact for `digest` (e.g. after the engine refused it).
    pub fn remove(&self, digest: &str) {
        let _ = fs::remove_file(self.path_for(digest));
    }

    /// Stores an artifact atomically: a temporary file, synced, then renamed.
    pub fn store(&self, digest: &str, artifact: &[u8]) -> std::io::Result<()> {
        let check = Sha256::digest(artifact);
        crate::durable::write_atomically(&self.path_for(digest), &[MAGIC, &check, artifact], 0o644)
    }

    /// Removes every artifact whose component digest is not in `keep`.
    pub fn retain(&self, keep: &[&str]) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let digest = name.split('-').next().unwrap_or_default();
            if name.ends_with(".cwasm") && !keep.contains(&digest) {
                fs::remove_file(self.dir.join(&name))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The payload of a cache file whose header and digest check out.
fn verify(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < 32 {
        return None;
    }
    let (digest, payload) = rest.split_at(32);
    (Sha256::digest(payload).as_slice() == digest).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> ArtifactCache {
        ArtifactCache::open(dir, &wasmtime::Engine::default()).unwrap()
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        assert!(c.load("abc").is_none());
        c.store("abc", b"artifact bytes").unwrap();
        assert_eq!(c.load("abc").unwrap(), b"artifact bytes");
        let path = c.path_for("abc");
        let mut bytes = fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(c.load("abc").is_none(), "a flipped bit must not load");
        assert!(!path.exists(), "a corrupted entry is removed");
    }

    #[test]
    fn retain_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        c.store("keep", b"1").unwrap();
        c.store("drop", b"2").unwrap();
        assert_eq!(c.retain(&["keep"]).unwrap(), 1);
        assert!(c.load("keep").is_some() && c.load("drop").is_none());
    }
}
