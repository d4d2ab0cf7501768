//! The wasmtime engine as jobhost configures it: epoch interruption, an
//! explicitly sized pooling allocator, optional fuel; the linker with WASI,
//! `wasi:http` and the host imports of every contract version; the epoch
//! ticker. Compiling components into it is `compile`'s job.

use super::bindings::{v1, v2};
use super::cache::ArtifactCache;
use super::state::RunState;
use super::{RuntimeConfig, RuntimeError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of deadlines and forced cancellation.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Engine, linker, cache and ticker.
pub(crate) struct Engine {
    pub(super) engine: wasmtime::Engine,
    pub(super) linker: Linker<RunState>,
    pub(super) cache: Option<ArtifactCache>,
    ticker_stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Engine {
    pub(crate) fn new(config: &RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = wasmtime::Engine::new(&wasmtime_config(config))
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        v1::JobPlugin::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        v2::JobPlugin::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let cache =
            match &config.cache_dir {
                Some(dir) => Some(ArtifactCache::open(dir, &engine).map_err(|source| {
                    RuntimeError::Cache {
                        path: dir.clone(),
                        source,
                    }
                })?),
                None => None,
            };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.weak();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("jobhost-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        match engine.upgrade() {
                            Some(e) => e.increment_epoch(),
                            None => break,
                        }
                    }
                })
                .map_err(|e| RuntimeError::Engine(format!("starting the epoch thread: {e}")))?
        };
        Ok(Engine {
            engine,
            linker,
            cache,
            ticker_stop,
            ticker: Some(ticker),
        })
    }

    pub(crate) fn cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_ref()
    }

    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn wasmtime_config(config: &RuntimeConfig) -> Config {
    let n = config.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A Rust wasip2 component holds a few core instances (the program, the
    // WASI adapter, shims), one or two memories and a few tables; a Python
    // one (componentize-py) holds 14 core instances: the totals let every
    // component slot hold the most one component may have.
    pool.total_component_instances(n)
        .total_core_instances(n * 16)
        .total_memories(n * 2)
        .total_tables(n * 8)
        .total_stacks(n)
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .max_memory_size(config.ceilings.max_memory_bytes as usize)
        // Keeping pages resident between runs avoids madvise/mmap churn that
        // dominates instantiation (see the runtime benchmark).
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(config.ceilings.fuel.is_some())
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}
