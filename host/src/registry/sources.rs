//! Where a registry's components come from at start: the example job types
//! built into the binary, the versions published over the API (kept in the
//! data directory under their digest), and the `*.wasm` files of the
//! plugins directory. A bad component is reported and skipped; it never
//! stops the others from loading.

use super::catalog::sha256_hex;
use super::{BUNDLED_PREFIX, LoadError, LoadFailure, Registry};
use crate::model::{PluginOrigin, PluginRecord};
use crate::runtime::Runtime;
use std::path::{Path, PathBuf};

impl Registry {
    /// Loads the example job types built into the binary.
    pub fn load_bundled(&mut self, runtime: &Runtime) -> Vec<LoadFailure> {
        let mut failures = Vec::new();
        for (name, bytes) in crate::bundled::BUNDLED {
            let source = format!("{BUNDLED_PREFIX}{name}");
            let loaded = Self::prepare(runtime, bytes, &source).and_then(|mut p| {
                p.origin = PluginOrigin::Bundled;
                self.insert(p)
            });
            if let Err(error) = loaded {
                failures.push(LoadFailure { source, error });
            }
        }
        failures
    }

    /// Loads the published versions of `records` from `dir`, each checked
    /// against its digest.
    pub(crate) fn load_published(
        &mut self,
        runtime: &Runtime,
        records: &[PluginRecord],
        dir: &Path,
    ) -> Vec<LoadFailure> {
        let mut failures = Vec::new();
        for r in records
            .iter()
            .filter(|r| r.origin == PluginOrigin::Published)
        {
            let source = format!("published:{}", r.sha256);
            let path = dir.join(format!("{}.wasm", r.sha256));
            let loaded = read(&path, Some(&r.sha256)).and_then(|bytes| {
                let mut p = Self::prepare(runtime, &bytes, &source)?;
                p.origin = PluginOrigin::Published;
                self.insert(p)
            });
            if let Err(error) = loaded {
                failures.push(LoadFailure { source, error });
            }
        }
        failures
    }

    /// Loads every `*.wasm` file of a directory (sorted by name). A bad file is
    /// reported and skipped; it never stops the others from loading.
    pub fn load_dir(
        &mut self,
        runtime: &Runtime,
        dir: &Path,
    ) -> Result<Vec<LoadFailure>, std::io::Error> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
            .collect();
        files.sort();
        let mut failures = Vec::new();
        for path in files {
            let source = path.display().to_string();
            let loaded = read(&path, None).and_then(|bytes| self.load(runtime, &bytes, &source));
            if let Err(error) = loaded {
                failures.push(LoadFailure { source, error });
            }
        }
        Ok(failures)
    }
}

/// A component file's bytes, checked against `sha256` when given.
pub(super) fn read(path: &Path, sha256: Option<&str>) -> Result<Vec<u8>, LoadError> {
    let unreadable = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(unreadable)?;
    if sha256.is_some_and(|d| sha256_hex(&bytes) != d) {
        return Err(unreadable(std::io::Error::other(
            "content does not match its digest",
        )));
    }
    Ok(bytes)
}
