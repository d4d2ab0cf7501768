//! The compile pipeline: a component's bytes are checked (size, header,
//! code shape), compiled (in the compile worker under its time cap, or
//! loaded from the precompiled cache), and pre-linked against the contract
//! version its exports match; or refused with a [`CompileError`] naming why.

use super::RuntimeConfig;
use super::bindings::{v1, v2};
use super::engine::Engine;
use super::state::RunState;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use wasmtime::component::Component;

/// Why a component was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Over the size cap.
    #[error("the file is {size} bytes; the largest accepted component is {max} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly binary: it does not start with the `\\0asm` magic bytes")]
    NotWasm,
    /// A core module instead of a component.
    #[error(
        "a core WebAssembly module, not a component: build the plugin for the wasm32-wasip2 target \
         (or wrap the module with `wasm-tools component new`)"
    )]
    CoreModule,
    /// Some other WebAssembly version or layer.
    #[error("unsupported WebAssembly encoding (version/layer bytes {0:02x?})")]
    UnknownEncoding([u8; 4]),
    /// Wasmtime could not compile it.
    #[error("not a valid component: {0}")]
    Invalid(String),
    /// It imports something jobhost does not provide.
    #[error("{}", wrong_world(missing, imports, detail))]
    WrongWorld {
        /// Packages it imports from that jobhost provides none of (`wasi:keyvalue`).
        missing: Vec<String>,
        /// Its imports from those packages.
        imports: Vec<String>,
        /// The linker's words.
        detail: String,
    },
    /// Its code breaks a cap that bounds compilation.
    #[error("the component's code is too large to compile safely: {0}")]
    OverCodeCap(String),
    /// It lacks `describe` or `run`, or they have other types.
    #[error("the component does not export the jobhost:plugin/job-plugin functions: {0}")]
    MissingExports(String),
    /// Compiling it took more CPU time than the cap.
    #[error(
        "compiling the component took longer than the {limit_ms} ms cap (CPU time of the compile worker)"
    )]
    Timeout {
        /// The cap.
        limit_ms: u64,
    },
    /// The compile worker failed for another reason than the component.
    #[error("the compile worker failed: {0}")]
    Worker(String),
}

impl CompileError {
    /// A stable snake_case code for the reason, as the API reports it.
    pub fn code(&self) -> &'static str {
        match self {
            CompileError::TooLarge { .. } => "too_large",
            CompileError::NotWasm => "not_wasm",
            CompileError::CoreModule => "core_module",
            CompileError::UnknownEncoding(_) => "unknown_encoding",
            CompileError::Invalid(_) => "invalid_component",
            CompileError::OverCodeCap(_) => "code_too_large",
            CompileError::WrongWorld { .. } => "wrong_world",
            CompileError::MissingExports(_) => "missing_exports",
            CompileError::Timeout { .. } => "compile_timeout",
            CompileError::Worker(_) => "compile_failed",
        }
    }
}

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledFrom {
    /// Compiled now by Cranelift.
    Compiler,
    /// Loaded from the precompiled cache.
    Cache,
}

/// A component pre-linked against the contract version it was built for.
#[derive(Clone)]
pub(crate) enum Pre {
    /// `jobhost:plugin@0.1.0`.
    V1(v1::JobPluginPre<RunState>),
    /// `jobhost:plugin@0.2.0`.
    V2(v2::JobPluginPre<RunState>),
}

/// A component compiled once and pre-linked; instantiate it for every call.
#[derive(Clone)]
pub struct Compiled {
    pre: Pre,
    imports: Vec<String>,
    digest: String,
    size: usize,
    from: CompiledFrom,
    took: Duration,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .finish()
    }
}

impl Compiled {
    pub(crate) fn pre(&self) -> &Pre {
        &self.pre
    }
    /// The interfaces the component imports, such as
    /// `wasi:http/outgoing-handler@0.2.12`.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
    /// The contract version the component was built against.
    pub fn contract(&self) -> &'static str {
        match self.pre {
            Pre::V1(_) => "0.1.0",
            Pre::V2(_) => "0.2.0",
        }
    }
    /// SHA-256 of the component bytes, in hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Whether it was compiled or loaded from the cache.
    pub fn origin(&self) -> CompiledFrom {
        self.from
    }
    /// How long compiling or loading took.
    pub fn took(&self) -> Duration {
        self.took
    }
}

impl Engine {
    /// Compiles `bytes` (or loads them from the cache), in a compile worker
    /// when `in_worker` and the runtime has one.
    pub(crate) fn compile(
        &self,
        bytes: &[u8],
        config: &RuntimeConfig,
        in_worker: bool,
    ) -> Result<Compiled, CompileError> {
        let (max, caps) = (config.max_component_bytes, &config.code_caps);
        let started = Instant::now();
        if bytes.len() > max {
            return Err(CompileError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        check_header(bytes)?;
        super::shape::check(bytes, caps)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let (component, from) = match self.load_cached(&digest) {
            Some(c) => (c, CompiledFrom::Cache),
            None if in_worker && config.compile_worker.is_some() => {
                let worker = config.compile_worker.as_ref().expect("checked");
                let artifact = super::compile_worker::compile(worker, config, bytes)?;
                // SAFETY: the artifact was just written by `Component::serialize`
                // of this binary in a worker given this engine's settings;
                // deserialising checks the version and settings and refuses a
                // mismatch.
                let component = unsafe { Component::deserialize(&self.engine, &artifact) }
                    .map_err(|e| CompileError::Worker(format!("{e:#}")))?;
                if let Some(cache) = &self.cache
                    && let Err(e) = cache.store(&digest, &artifact)
                {
                    tracing::warn!(error = %e, "could not cache a precompiled component");
                }
                (component, CompiledFrom::Compiler)
            }
            None => {
                let component = Component::new(&self.engine, bytes)
                    .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
                if let Some(cache) = &self.cache {
                    let stored = component
                        .serialize()
                        .map_err(std::io::Error::other)
                        .and_then(|a| cache.store(&digest, &a));
                    if let Err(e) = stored {
                        tracing::warn!(error = %e, "could not cache a precompiled component");
                    }
                }
                (component, CompiledFrom::Compiler)
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            let (missing, imports) = unprovided(&component, &self.engine);
            CompileError::WrongWorld {
                missing,
                imports,
                detail: format!("{e:#}"),
            }
        })?;
        // The exports' types tell the contract version: 0.2.0's `describe`
        // returns more fields than 0.1.0's.
        let pre = match v2::JobPluginPre::new(pre.clone()) {
            Ok(p) => Pre::V2(p),
            Err(v2_error) => Pre::V1(
                v1::JobPluginPre::new(pre)
                    .map_err(|_| CompileError::MissingExports(format!("{v2_error:#}")))?,
            ),
        };
        let imports = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        Ok(Compiled {
            pre,
            imports,
            digest,
            size: bytes.len(),
            from,
            took: started.elapsed(),
        })
    }

    fn load_cached(&self, digest: &str) -> Option<Component> {
        let cache = self.cache.as_ref()?;
        let artifact = cache.load(digest)?;
        // SAFETY: the artifact was written by `Component::serialize` of an engine
        // with the same settings (the file name carries the engine's hash) and
        // its digest was verified on load, so it is what we wrote.
        match unsafe { Component::deserialize(&self.engine, &artifact) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "a cached component did not match the engine; recompiling");
                cache.remove(digest);
                None
            }
        }
    }
}

/// Packages whose interfaces the linker provides (WASI 0.2 as wasmtime-wasi
/// adds it, with nothing granted; `wasi:http`, checked per request; and the
/// jobhost contract).
const PROVIDED_PACKAGES: [&str; 8] = [
    "wasi:cli",
    "wasi:clocks",
    "wasi:filesystem",
    "wasi:http",
    "wasi:io",
    "wasi:random",
    "wasi:sockets",
    "jobhost:plugin",
];

/// The packages `component` imports from that jobhost provides nothing of,
/// and those imports.
fn unprovided(component: &Component, engine: &wasmtime::Engine) -> (Vec<String>, Vec<String>) {
    let mut packages: Vec<String> = Vec::new();
    let mut imports = Vec::new();
    for (name, _) in component.component_type().imports(engine) {
        let package = name.split('/').next().unwrap_or(name);
        let package = package.split('@').next().unwrap_or(package);
        if !PROVIDED_PACKAGES.contains(&package) {
            imports.push(name.to_string());
            if !packages.iter().any(|p| p == package) {
                packages.push(package.to_string());
            }
        }
    }
    (packages, imports)
}

/// What a plugin author reads when a component imports something jobhost
/// does not provide.
fn wrong_world(missing: &[String], imports: &[String], detail: &str) -> String {
    if missing.is_empty() {
        return format!("the component does not fit the jobhost:plugin/job-plugin world: {detail}");
    }
    let names: Vec<String> = missing.iter().map(|p| format!("`{p}`")).collect();
    format!(
        "jobhost provides no {} to plugins (the component imports {}): a job type may use only \
         WASI's cli, clocks, filesystem, io, random and sockets interfaces (with no files, \
         sockets or environment granted), wasi:http/outgoing-handler (to the destinations it \
         declares and an operator grants) and the jobhost:plugin contract; build it without the \
         dependency that brings these imports in (the linker says: {detail})",
        names.join(", "),
        imports.join(", ")
    )
}

fn check_header(bytes: &[u8]) -> Result<(), CompileError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(CompileError::NotWasm);
    }
    let encoding: [u8; 4] = bytes[4..8].try_into().expect("four bytes");
    match encoding {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(CompileError::CoreModule),
        other => Err(CompileError::UnknownEncoding(other)),
    }
}
