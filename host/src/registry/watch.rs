//! Hot reload of the plugins directory, by polling: a `*.wasm` file added,
//! changed or removed there is loaded, reloaded or unloaded without a
//! restart, validated exactly as at start. A file that fails is reported
//! once per content and ignored; the version it replaced stays loaded.
//! Write files elsewhere and rename them into the directory, so that a
//! poll never sees half a file (one that does is retried when it changes).

use super::catalog::{Catalog, event, sha256_hex};
use super::{LoadError, LoadFailure, Registry};
use crate::model::{PluginOrigin, RegistryEvent, RegistryEventKind, now};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// What the watcher saw of one file.
#[derive(Debug)]
struct FileState {
    modified: Option<SystemTime>,
    len: u64,
    sha256: String,
    /// The version loaded from it, if any.
    loaded: Option<(String, semver::Version)>,
}

/// What the watcher has seen of the directory.
#[derive(Debug, Default)]
pub(crate) struct DirState {
    files: BTreeMap<PathBuf, FileState>,
}

fn failure_event(source: &str, error: &LoadError) -> RegistryEvent {
    RegistryEvent {
        uuid: uuid::Uuid::nil(),
        kind: RegistryEventKind::LoadFailed,
        job_type: None,
        version: None,
        status: None,
        sha256: None,
        source: source.to_string(),
        actor: "system".into(),
        message: Some(error.to_string()),
        at: now(),
    }
}

impl Catalog {
    /// Brings `registry` in line with the directory. With `record`, changes
    /// are recorded as registry events (not at start-up).
    pub(super) fn scan_dir(
        &self,
        state: &mut DirState,
        registry: &mut Registry,
        record: bool,
    ) -> Vec<LoadFailure> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                // Unloading everything because of a transient error would be worse.
                tracing::warn!(dir = %dir.display(), error = %e, "reading the plugins directory failed");
                return Vec::new();
            }
        };
        files.sort();
        let mut failures = Vec::new();
        let seen: BTreeSet<PathBuf> = files.iter().cloned().collect();
        for path in files {
            if let Some(f) = self.load_file(state, registry, &path, record) {
                failures.push(f);
            }
        }
        let gone: Vec<PathBuf> = state
            .files
            .keys()
            .filter(|p| !seen.contains(*p))
            .cloned()
            .collect();
        for path in gone {
            let Some(FileState {
                loaded: Some((t, v)),
                ..
            }) = state.files.remove(&path)
            else {
                continue;
            };
            if let Some(p) = registry.remove(&t, &v) {
                if record {
                    self.event(event(RegistryEventKind::Removed, &p, "system", None));
                }
                if !registry.all().any(|o| o.sha256() == p.sha256()) {
                    self.runtime.forget_cached(p.sha256());
                }
            }
        }
        failures
    }

    /// Loads one file if it is new or its content changed.
    fn load_file(
        &self,
        state: &mut DirState,
        registry: &mut Registry,
        path: &PathBuf,
        record: bool,
    ) -> Option<LoadFailure> {
        let source = path.display().to_string();
        let meta = std::fs::metadata(path).ok()?;
        let (modified, len) = (meta.modified().ok(), meta.len());
        let known = state.files.get(path);
        if known.is_some_and(|f| f.modified == modified && f.len == len) {
            return None;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let error = LoadError::Io {
                    path: path.clone(),
                    source: e,
                };
                return Some(LoadFailure { source, error });
            }
        };
        let sha256 = sha256_hex(&bytes);
        let old = known.and_then(|f| f.loaded.clone());
        if known.is_some_and(|f| f.sha256 == sha256) {
            state.files.insert(
                path.clone(),
                FileState {
                    modified,
                    len,
                    sha256,
                    loaded: old,
                },
            );
            return None;
        }
        let mut loaded = old.clone();
        let result = Registry::prepare(&self.runtime, &bytes, &source).and_then(|mut p| {
            p.origin = PluginOrigin::Directory;
            self.measured(&p);
            let key = (p.info.job_type.to_string(), p.info.version.clone());
            let same = old.as_ref() == Some(&key);
            let replaced = if same {
                registry.remove(&key.0, &key.1)
            } else {
                None
            };
            let p = registry.insert(p)?;
            if !same && let Some((t, v)) = &old {
                registry.remove(t, v);
            }
            if let Ok(Some(r)) = self.store.plugin(&key.0, &key.1) {
                registry.set_status(&key.0, &key.1, r.status);
            }
            if let Some(r) = &replaced
                && !registry.all().any(|o| o.sha256() == r.sha256())
            {
                self.runtime.forget_cached(r.sha256());
            }
            loaded = Some(key);
            Ok((p, old.is_some()))
        });
        state.files.insert(
            path.clone(),
            FileState {
                modified,
                len,
                sha256,
                loaded,
            },
        );
        match result {
            Ok((p, replaced)) => {
                if record {
                    let kind = if replaced {
                        RegistryEventKind::Replaced
                    } else {
                        RegistryEventKind::Loaded
                    };
                    self.event(event(kind, &p, "system", None));
                }
                None
            }
            Err(error) => {
                if record {
                    tracing::warn!(source = %source, error = %error, "plugin not loaded; keeping what was loaded before");
                    self.event(failure_event(&source, &error));
                }
                Some(LoadFailure { source, error })
            }
        }
    }

    /// Compares the plugins directory with what is loaded and applies the
    /// differences; returns the files that failed (each reported once).
    pub fn rescan(&self) -> Vec<LoadFailure> {
        let mut state = self.lock();
        let current = self.snapshot();
        let mut next = (*current).clone();
        let failures = self.scan_dir(&mut state, &mut next, true);
        let changed = next.all().count() != current.all().count()
            || next
                .all()
                .zip(current.all())
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        if changed {
            self.swap(next);
        }
        failures
    }
}

/// Polls the plugins directory until dropped.
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Rescans `catalog`'s directory every `every`.
    pub fn start(catalog: Arc<Catalog>, every: Duration) -> std::io::Result<Watcher> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("jobhost-plugins".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    catalog.rescan();
                }
            })?;
        Ok(Watcher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
