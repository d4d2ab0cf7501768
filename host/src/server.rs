//! `jobhost serve`: loads the job types, opens the store, recovers
//! interrupted runs, starts the workers and serves the API until SIGINT or
//! SIGTERM; then stops taking runs, lets running ones finish within the
//! grace period, and flushes.

use crate::api::{self, AppState};
use crate::auth::Tokens;
use crate::identity::HostId;
use crate::registry::{Catalog, Syncer, Watcher};
use crate::runtime::{CompileWorker, Runtime, RuntimeConfig};
use crate::service::{Service, ServiceLimits};
use crate::store::postgres::{Database, DatabaseConfig, Postgres};
use crate::store::{Sled, Store};
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
    /// The most runs one tenant may have executing at once (capped at
    /// `workers`).
    pub tenant_max_running: usize,
    /// How long running runs get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// How long a running attempt's lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// How long a component from outside the binary may take to compile.
    pub compile_timeout: Duration,
    /// The jobhost binary run as the compile worker; this process's own
    /// when `None` (set it when embedding the server in another program).
    pub compile_program: Option<PathBuf>,
    /// Token file; defaults to `DATA_DIR/tokens.json`.
    pub tokens_file: Option<PathBuf>,
    /// Use the precompiled cache.
    pub cache: bool,
    /// Runs that may wait in the queue before triggers get 429.
    pub max_queued_runs: usize,
    /// How often the plugins directory is checked for changes; `None` never.
    pub reload_every: Option<Duration>,
    /// Largest component accepted by `POST /plugins`, in bytes.
    pub max_plugin_bytes: usize,
    /// How long run logs are kept, counted from the run's creation.
    pub log_retention: Duration,
    /// Serve `GET /metrics` without a token.
    pub metrics_public: bool,
    /// Callback delivery: targets, retries, backoff.
    pub webhooks: crate::webhooks::Settings,
    /// HTTP listener limits.
    pub http: crate::listener::Limits,
    /// `POST /jobs` per token per minute (0: unlimited).
    pub job_creates_per_minute: u32,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: Duration,
    /// Runs that may be suspended in memory at once.
    pub max_paused_in_memory: usize,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Caps on open event streams.
    pub streams: crate::events::StreamLimits,
    /// How plugin requests reach the network.
    pub egress: Arc<crate::egress::Egress>,
    /// How `/mcp` is exposed.
    pub mcp: crate::mcp::McpSettings,
    /// Grants for plugins (`--grants`).
    pub grants_file: Option<PathBuf>,
    /// Key tenants' secrets are sealed with; defaults to
    /// `DATA_DIR/secrets.key`, created at first start.
    pub secrets_key_file: Option<PathBuf>,
    /// Store in this PostgreSQL database instead of sled in the data
    /// directory.
    pub database: Option<DatabaseConfig>,
}

/// Runs the server until a shutdown signal.
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let host = Host::build(config).await?;
        if let Some(token) = &host.created_token {
            println!(
                "jobhost: created an operator token (shown only once; its digest is in {}):",
                host.tokens_file.display()
            );
            println!("  {token}");
        }
        host.serve().await
    })
}

/// A server built from its settings, not yet listening: the store opened
/// and recovered, the job types loaded, the workers and background tasks
/// started. [`Host::serve`] listens; [`Host::router`] answers requests
/// in-process.
pub struct Host {
    config: ServeConfig,
    state: AppState,
    workers: Arc<Workers>,
    scheduler: crate::scheduler::Running,
    watcher: Option<Watcher>,
    /// Keeps the registry in step with other hosts' changes (a store other
    /// hosts share).
    syncer: Option<Syncer>,
    /// The task answering other hosts' asks (on a shared store): told to
    /// stop, and awaited, before the workers shut down (it holds them).
    answerer: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    tokens_file: PathBuf,
    created_token: Option<String>,
}

impl Host {
    /// Builds everything `serve` runs. Call it within a Tokio runtime: it
    /// starts the log sweep and webhook delivery on it.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Host> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let runtime = Arc::new(Runtime::new(RuntimeConfig {
            max_instances: (config.workers as u32) * 2 + 8,
            max_component_bytes: config.max_plugin_bytes,
            cache_dir: config.cache.then(|| config.data_dir.join("cache")),
            compile_worker: Some(CompileWorker {
                program: match &config.compile_program {
                    Some(program) => program.clone(),
                    None => std::env::current_exe().context("finding the jobhost binary")?,
                },
                timeout: config.compile_timeout,
                memory_bytes: crate::runtime::COMPILE_MEMORY_BYTES,
            }),
            egress: config.egress.clone(),
            ..RuntimeConfig::default()
        })?);
        raise_open_files_limit();
        let host = HostId::load_or_create(&config.data_dir)
            .with_context(|| format!("reading this host's id in {}", config.data_dir.display()))?;
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let store = open_store(&config, metrics.clone(), &host).await?;
        let catalog = Arc::new(load_catalog(
            runtime.clone(),
            store.clone(),
            metrics.clone(),
            &config,
        )?);
        let recovered = recover(&store, &catalog.snapshot(), &host)?;
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
        let (tokens, created_token) = Tokens::load_or_init(&tokens_file)?;
        let workers = Arc::new(Workers::start(
            &crate::worker::Settings {
                workers: config.workers,
                lease_ttl: config.lease_ttl,
                tenant_max_running: config.tenant_max_running,
                host: host.clone(),
            },
            store.clone(),
            catalog.clone(),
            runtime,
            metrics.clone(),
        ));
        let watcher = match config.reload_every {
            Some(every) => Some(Watcher::start(catalog.clone(), every)?),
            None => None,
        };
        let syncer = store.shared().then(|| Syncer::start(catalog.clone()));
        workers.notify();
        let tokens = Arc::new(tokens);
        crate::auth::watch(tokens.clone());
        let service = Service::new(
            store.clone(),
            catalog.clone(),
            workers.clone(),
            config.webhooks.policy.clone(),
            ServiceLimits {
                max_queued_runs: config.max_queued_runs,
                job_creates_per_minute: config.job_creates_per_minute,
                idempotency_ttl: config.idempotency_ttl,
                max_paused_in_memory: config.max_paused_in_memory,
            },
        );
        let scheduler = service.start_scheduler(tokio::runtime::Handle::current());
        let answerer = store.shared().then(|| {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            (stop, tokio::spawn(answer_asks(service.clone(), stopped)))
        });
        let state = AppState {
            store: store.clone(),
            catalog,
            tokens,
            workers: workers.clone(),
            service,
            schemas: Arc::default(),
            max_plugin_bytes: config.max_plugin_bytes,
            metrics,
            metrics_public: config.metrics_public,
            max_body_bytes: config.max_body_bytes,
            mcp: Arc::new(config.mcp.clone()),
        };
        tokio::spawn(sweep_logs(store.clone(), config.log_retention));
        tokio::spawn(sweep_idempotency(store.clone(), config.idempotency_ttl));
        crate::webhooks::start(store, config.webhooks.clone());
        Ok(Host {
            config,
            state,
            workers,
            scheduler,
            watcher,
            syncer,
            answerer,
            tokens_file,
            created_token,
        })
    }

    /// The operator token this start created with the token file, if it did.
    pub fn created_token(&self) -> Option<&str> {
        self.created_token.as_deref()
    }

    /// The API, for serving or for requests made in-process.
    pub fn router(&self) -> axum::Router {
        api::app(self.state.clone())
    }

    /// What the API's handlers reach.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Listens on the configured address and serves until SIGINT or
    /// SIGTERM; then stops taking runs, lets running ones finish within
    /// the grace period, and flushes.
    pub async fn serve(self) -> anyhow::Result<()> {
        let listen = self.config.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        println!(
            "jobhost listening on http://{addr} ({} job types, {} workers)",
            self.state.catalog.snapshot().len(),
            self.config.workers
        );
        tracing::info!(%addr, "serving");
        let events = self.state.store.events().clone();
        crate::listener::serve(
            listener,
            self.router(),
            self.config.http,
            async move {
                shutdown_signal().await;
                // Event streams never end by themselves.
                events.close();
            },
            self.config.shutdown_grace,
        )
        .await?;
        self.shutdown().await?;
        println!("jobhost stopped");
        Ok(())
    }

    /// Stops the plugins directory watcher, the scheduler and the workers
    /// (running runs get the grace period), and flushes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let Host {
            config,
            state,
            workers,
            scheduler,
            watcher,
            syncer,
            answerer,
            ..
        } = self;
        drop(watcher);
        drop(syncer);
        if let Some((stop, task)) = answerer {
            let _ = stop.send(());
            let _ = task.await;
        }
        // The scheduler's thread holds the service (and so the workers).
        tokio::task::spawn_blocking(move || scheduler.stop()).await?;
        tracing::info!("shutting down: no new runs; waiting for running ones");
        let store = state.store.clone();
        // The router's state holds the workers too.
        drop(state);
        let grace = config.shutdown_grace;
        let workers = Arc::try_unwrap(workers)
            .map_err(|_| anyhow::anyhow!("workers still shared at shutdown"))?;
        tokio::task::spawn_blocking(move || workers.shutdown(grace)).await?;
        store.flush_blocking()?;
        Ok(())
    }
}

/// Opens the store (sled in the data directory, or the PostgreSQL
/// database asked for, migrated) with the tenants' secrets key.
async fn open_store(
    config: &ServeConfig,
    metrics: Arc<crate::metrics::Metrics>,
    host: &HostId,
) -> anyhow::Result<Store> {
    let key_file = config
        .secrets_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("secrets.key"));
    let vault = Arc::new(
        crate::vault::Vault::open_or_create(&key_file).context("opening the secrets key")?,
    );
    let store: Store = match &config.database {
        None => {
            let mut sled =
                Sled::open_with(&config.data_dir.join("db"), metrics).with_context(|| {
                    format!("opening the database in {}", config.data_dir.display())
                })?;
            sled.set_vault(vault);
            sled.into()
        }
        Some(database) => {
            let db = Database::connect(database).await?;
            let done = db.migrate().await?;
            for m in &done.applied {
                tracing::info!(version = m.version, name = m.name, "applied a migration");
            }
            let mut pg =
                Postgres::open(db, tokio::runtime::Handle::current(), metrics, host).await?;
            pg.set_vault(vault);
            tracing::info!(database = pg.database().target(), "storing in PostgreSQL");
            pg.into()
        }
    };
    store.events().set_limits(config.streams);
    Ok(store)
}

fn load_catalog(
    runtime: Arc<Runtime>,
    store: Store,
    metrics: Arc<crate::metrics::Metrics>,
    config: &ServeConfig,
) -> anyhow::Result<Catalog> {
    if let Some(dir) = &config.plugins_dir
        && !dir.exists()
    {
        tracing::info!(dir = %dir.display(), "plugins directory does not exist (yet)");
    }
    let file_grants = match &config.grants_file {
        Some(path) => crate::registry::read_grants_file(path)
            .map_err(|e| anyhow::anyhow!("reading the grants file: {e}"))?,
        None => Default::default(),
    };
    let (catalog, failures) = Catalog::open(
        runtime,
        store,
        &config.data_dir,
        config.plugins_dir.clone(),
        config.bundled,
        metrics,
        file_grants,
    )
    .context("loading the job types")?;
    for f in &failures {
        tracing::warn!(source = %f.source, error = %f.error, "plugin not loaded");
        eprintln!("jobhost: plugin {} not loaded: {}", f.source, f.error);
    }
    Ok(catalog)
}

/// Lets the server hold as many connections open as the system allows its
/// user: the soft limit on open files rises to the hard one.
fn raise_open_files_limit() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            limit.current = limit.maximum;
            if let Err(e) = setrlimit(Resource::Nofile, limit) {
                tracing::warn!(error = %e, "raising the open files limit failed");
            }
        }
    }
}

/// Drops run logs past the retention period, at start and every 10 minutes.
async fn sweep_logs(store: Store, retention: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let cutoff = now_ms.saturating_sub(retention.as_millis() as u64);
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.drop_logs_before(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(lines = n, "dropped run logs past their retention"),
            Ok(Err(e)) => tracing::warn!(error = %e, "dropping old run logs failed"),
            Err(e) => tracing::warn!(error = %e, "the log sweep failed"),
        }
    }
}

/// Carries out the pauses and resumes other hosts ask of the runs executing
/// here, every 250 ms (on a store other hosts share).
async fn answer_asks(service: Service, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = &mut stop => return,
        }
        let service = service.clone();
        let answered = tokio::task::spawn_blocking(move || service.answer_asks()).await;
        if let Err(e) = answered
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::warn!(error = %e, "answering other hosts' asks failed");
        }
    }
}

/// Drops expired idempotency records, every minute (or every tenth of the
/// retention when that is shorter).
async fn sweep_idempotency(store: Store, ttl: Duration) {
    let period = (ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        let store = store.clone();
        let swept =
            tokio::task::spawn_blocking(move || store.forget_expired(crate::model::now())).await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(keys = n, "forgot expired idempotency keys"),
            Ok(Err(e)) => tracing::warn!(error = %e, "forgetting expired idempotency keys failed"),
            Err(e) => tracing::warn!(error = %e, "the idempotency sweep failed"),
        }
    }
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
