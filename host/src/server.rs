//! `jobhost serve`: loads the job types, opens the store, recovers
//! interrupted runs, starts the workers and serves the API until SIGINT or
//! SIGTERM; then stops taking runs, lets running ones finish within the
//! grace period, and flushes.

use crate::api::{self, AppState};
use crate::auth::Tokens;
use crate::registry::Registry;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;
use crate::worker::{Workers, recover};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Data directory: database, cache, tokens.
    pub data_dir: PathBuf,
    /// Extra plugins directory (`*.wasm`), loaded after the bundled examples.
    pub plugins_dir: Option<PathBuf>,
    /// Load the bundled example job types.
    pub bundled: bool,
    /// Worker threads.
    pub workers: usize,
    /// How long running runs get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Token file; defaults to `DATA_DIR/tokens.json`.
    pub tokens_file: Option<PathBuf>,
    /// Use the precompiled cache.
    pub cache: bool,
    /// Runs that may wait in the queue before triggers get 429.
    pub max_queued_runs: usize,
}

/// Runs the server until a shutdown signal.
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(config))
}

async fn run(config: ServeConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig {
        max_instances: (config.workers as u32) * 2 + 8,
        cache_dir: config.cache.then(|| config.data_dir.join("cache")),
        ..RuntimeConfig::default()
    })?);
    let registry = Arc::new(load_registry(&runtime, &config)?);

    let store = Store::open(&config.data_dir.join("db"))
        .with_context(|| format!("opening the database in {}", config.data_dir.display()))?;
    let recovered = recover(&store, &registry)?;
    if recovered.requeued + recovered.failed > 0 {
        tracing::warn!(
            requeued = recovered.requeued,
            failed = recovered.failed,
            "recovered runs interrupted by the last stop"
        );
    }

    let tokens_file = config
        .tokens_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("tokens.json"));
    let (tokens, created) = Tokens::load_or_init(&tokens_file)?;
    if let Some(token) = created {
        println!(
            "jobhost: created an admin token (shown only once; its digest is in {}):",
            tokens_file.display()
        );
        println!("  {token}");
    }

    let workers = Arc::new(Workers::start(
        config.workers,
        store.clone(),
        registry.clone(),
        runtime.clone(),
    ));
    workers.notify();
    let state = AppState {
        store: store.clone(),
        registry: registry.clone(),
        tokens: Arc::new(tokens),
        workers: workers.clone(),
        max_queued_runs: config.max_queued_runs,
        schemas: Arc::default(),
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "jobhost listening on http://{addr} ({} job types, {} workers)",
        registry.len(),
        config.workers
    );
    tracing::info!(%addr, "serving");
    axum::serve(listener, api::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    tracing::info!("shutting down: no new runs; waiting for running ones");
    let grace = config.shutdown_grace;
    let workers = Arc::try_unwrap(workers)
        .map_err(|_| anyhow::anyhow!("workers still shared at shutdown"))?;
    tokio::task::spawn_blocking(move || workers.shutdown(grace)).await?;
    store.flush_blocking()?;
    println!("jobhost stopped");
    Ok(())
}

fn load_registry(runtime: &Runtime, config: &ServeConfig) -> anyhow::Result<Registry> {
    let mut registry = Registry::new();
    let mut failures = Vec::new();
    if config.bundled {
        failures.extend(registry.load_bundled(runtime));
    }
    if let Some(dir) = &config.plugins_dir {
        if dir.exists() {
            failures.extend(
                registry
                    .load_dir(runtime, dir)
                    .with_context(|| format!("reading {}", dir.display()))?,
            );
        } else {
            tracing::info!(dir = %dir.display(), "plugins directory does not exist; skipping it");
        }
    }
    for f in &failures {
        tracing::warn!(source = %f.source, error = %f.error, "plugin not loaded");
        eprintln!("jobhost: plugin {} not loaded: {}", f.source, f.error);
    }
    Ok(registry)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
