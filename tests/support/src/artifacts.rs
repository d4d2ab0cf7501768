//! Precompiled artifacts of the bundled job types shared by every test
//! server: each server starts on a fresh data directory, and compiling the
//! bundled Python and JavaScript runtimes anew for each would cost ~20 s of
//! CPU per server. [`seed`] links artifacts compiled by earlier servers of this
//! machine into a new data directory's cache; [`keep`] links the ones a server
//! compiled back. Only the bundled components' artifacts are shared: what a
//! test uploads or loads from a plugins directory is always compiled (or
//! refused) by the server under test. Cache files are replaced by rename,
//! never written in place, so a link is never changed under another server.

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where shared artifacts live: one directory per machine user.
fn shared_dir() -> PathBuf {
    std::env::temp_dir().join("jobhost-test-artifacts")
}

/// SHA-256 of each bundled component (the cache's file-name prefix).
fn bundled_digests() -> &'static [String] {
    static DIGESTS: OnceLock<Vec<String>> = OnceLock::new();
    DIGESTS.get_or_init(|| {
        crate::wasm::BUNDLED_FILES
            .iter()
            .filter_map(|p| fs::read(p).ok())
            .map(|bytes| hex::encode(Sha256::digest(bytes)))
            .collect()
    })
}

fn is_bundled(name: &str) -> bool {
    name.ends_with(".cwasm")
        && bundled_digests()
            .iter()
            .any(|d| name.starts_with(d.as_str()))
}

/// Links (or copies) bundled artifacts from `from` into `to` that `to` lacks.
fn share(from: &Path, to: &Path) {
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    if fs::create_dir_all(to).is_err() {
        return;
    }
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = to.join(&name);
        if !is_bundled(&name) || target.exists() {
            continue;
        }
        if fs::hard_link(entry.path(), &target).is_err() {
            // Another filesystem: copy under a temporary name, then rename.
            let tmp = to.join(format!(".{name}.{}", std::process::id()));
            if fs::copy(entry.path(), &tmp).is_ok() {
                let _ = fs::rename(&tmp, &target);
            }
            let _ = fs::remove_file(&tmp);
        }
    }
}

/// Puts the shared bundled artifacts into `data`'s cache before a server starts.
pub fn seed(data: &Path) {
    share(&shared_dir(), &data.join("cache"));
}

/// Shares the bundled artifacts a started server compiled into `data`'s cache.
pub fn keep(data: &Path) {
    share(&data.join("cache"), &shared_dir());
}
