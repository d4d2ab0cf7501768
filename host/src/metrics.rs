//! Host metrics in the Prometheus text format (`GET /metrics`): runs by job
//! type and status, queue depth, run duration and dispatch latency, limit
//! hits, plugin compile time, and HTTP latency by route.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// A finished run's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    job_type: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobTypeLabel {
    job_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CompileLabel {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabel {
    record: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginHttpLabels {
    job_type: String,
    outcome: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    // 100 µs to ~14 min.
    Histogram::new(exponential_buckets(0.0001, 2.0, 24))
}

/// Every metric of the host.
pub struct Metrics {
    registry: Registry,
    runs_finished: Family<RunLabels, Counter>,
    run_seconds: Histograms<JobTypeLabel>,
    dispatch_seconds: Histogram,
    limit_hits: Family<LimitLabel, Counter>,
    compile_seconds: Histograms<CompileLabel>,
    http_seconds: Histograms<HttpLabels>,
    queue_depth: Gauge<i64, std::sync::atomic::AtomicI64>,
    running: Gauge<i64, std::sync::atomic::AtomicI64>,
    job_types: Gauge<i64, std::sync::atomic::AtomicI64>,
    leases_expired: Counter,
    stale_writes: Counter,
    damaged_records: Family<RecordLabel, Counter>,
    webhooks_set_aside: Counter,
    plugin_http: Family<PluginHttpLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("jobhost"),
            runs_finished: Family::default(),
            run_seconds: Family::new_with_constructor(seconds),
            dispatch_seconds: seconds(),
            limit_hits: Family::default(),
            compile_seconds: Family::new_with_constructor(seconds),
            http_seconds: Family::new_with_constructor(seconds),
            queue_depth: Gauge::default(),
            running: Gauge::default(),
            job_types: Gauge::default(),
            leases_expired: Counter::default(),
            stale_writes: Counter::default(),
            damaged_records: Family::default(),
            webhooks_set_aside: Counter::default(),
            plugin_http: Family::default(),
        };
        let registry = &mut m.registry;
        registry.register(
            "runs_finished",
            "Runs that reached a terminal status, by job type and status",
            m.runs_finished.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Time from started to finished, by job type",
            m.run_seconds.clone(),
        );
        registry.register(
            "dispatch_latency_seconds",
            "Time from created to started",
            m.dispatch_seconds.clone(),
        );
        registry.register(
            "limit_hits",
            "Runs stopped by a limit, by limit",
            m.limit_hits.clone(),
        );
        registry.register(
            "plugin_compile_seconds",
            "Time to load a component, by source (compiler or cache)",
            m.compile_seconds.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route and status",
            m.http_seconds.clone(),
        );
        registry.register(
            "queue_depth",
            "Runs waiting in the queue",
            m.queue_depth.clone(),
        );
        registry.register("runs_running", "Runs executing now", m.running.clone());
        registry.register(
            "job_type_versions",
            "Job type versions loaded",
            m.job_types.clone(),
        );
        registry.register(
            "leases_expired",
            "Running attempts taken away because their lease lapsed",
            m.leases_expired.clone(),
        );
        registry.register(
            "stale_writes",
            "Writes refused because a newer attempt held the run (fencing)",
            m.stale_writes.clone(),
        );
        registry.register(
            "damaged_record_reads",
            "Reads that met a stored record that does not decode (reported for that record, \
             skipped in lists), by kind of record",
            m.damaged_records.clone(),
        );
        // The metric keeps its first name: dashboards know it by it.
        registry.register(
            "callbacks_set_aside",
            "Webhooks taken out of the delivery queue after their run could not be read \
             or recorded in several tries",
            m.webhooks_set_aside.clone(),
        );
        registry.register(
            "plugin_http_requests",
            "Outbound HTTP requests of plugins, by job type and outcome (ok, denied, failed)",
            m.plugin_http.clone(),
        );
        m
    }
}

impl Metrics {
    /// A run reached a terminal status.
    pub fn run_finished(
        &self,
        job_type: &str,
        status: &str,
        dispatch: Option<Duration>,
        run: Option<Duration>,
        limit: Option<&str>,
    ) {
        self.runs_finished
            .get_or_create(&RunLabels {
                job_type: job_type.to_string(),
                status: status.to_string(),
            })
            .inc();
        if let Some(d) = dispatch {
            self.dispatch_seconds.observe(d.as_secs_f64());
        }
        if let Some(r) = run {
            self.run_seconds
                .get_or_create(&JobTypeLabel {
                    job_type: job_type.to_string(),
                })
                .observe(r.as_secs_f64());
        }
        if let Some(limit) = limit {
            self.limit_hits
                .get_or_create(&LimitLabel {
                    limit: limit.to_string(),
                })
                .inc();
        }
    }

    /// A running attempt's lease lapsed and the attempt was taken away.
    pub fn lease_expired(&self) {
        self.leases_expired.inc();
    }

    /// A write of an attempt that no longer held its run was refused.
    pub fn stale_write(&self) {
        self.stale_writes.inc();
    }

    /// A stored record of kind `record` did not decode.
    pub fn damaged_record(&self, record: &str) {
        self.damaged_records
            .get_or_create(&RecordLabel {
                record: record.to_string(),
            })
            .inc();
    }

    /// A plugin's outbound request ended: `ok`, `denied` by the host, or `failed`.
    pub fn plugin_http(&self, job_type: &str, outcome: &str) {
        self.plugin_http
            .get_or_create(&PluginHttpLabels {
                job_type: job_type.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A webhook was set aside after failing for a storage reason.
    pub fn webhook_set_aside(&self) {
        self.webhooks_set_aside.inc();
    }

    /// A component was compiled or loaded from the cache.
    pub fn compiled(&self, from_cache: bool, took: Duration) {
        let source = if from_cache { "cache" } else { "compiler" };
        self.compile_seconds
            .get_or_create(&CompileLabel {
                source: source.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// An HTTP request was answered.
    pub fn http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http_seconds
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The text exposition, with the gauges set to the given values (the
    /// queue depth keeps its last value when the store could not count it).
    pub fn render(&self, queue_depth: Option<usize>, running: usize, job_types: usize) -> String {
        if let Some(depth) = queue_depth {
            self.queue_depth.set(depth as i64);
        }
        self.running.set(running as i64);
        self.job_types.set(job_types as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }
}
