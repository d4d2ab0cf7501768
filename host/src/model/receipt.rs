//! The resource receipt of a run: what it used and what, if anything, stopped it.

use serde::{Deserialize, Serialize};

/// Why the host stopped a run before the plugin returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The wall-clock deadline passed.
    Timeout,
    /// The memory limit was reached.
    Memory,
    /// A table grew past its limit.
    Table,
    /// The fuel ran out.
    Fuel,
    /// The wasm stack overflowed (deep recursion).
    Stack,
    /// The plugin made more host calls than allowed.
    HostCalls,
    /// The result was larger than allowed.
    OutputSize,
    /// A checkpoint was larger than allowed.
    CheckpointSize,
    /// Someone cancelled the run and it did not stop on its own in time.
    Cancelled,
}

impl StopReason {
    /// Stable lowercase name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Timeout => "timeout",
            StopReason::Memory => "memory",
            StopReason::Table => "table",
            StopReason::Fuel => "fuel",
            StopReason::Stack => "stack",
            StopReason::HostCalls => "host_calls",
            StopReason::OutputSize => "output_size",
            StopReason::CheckpointSize => "checkpoint_size",
            StopReason::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Wall time from instantiation to return, in microseconds.
    pub wall_time_us: u64,
    /// Fuel consumed, when metering is on.
    pub fuel_consumed: Option<u64>,
    /// Largest total linear memory, in bytes.
    pub peak_memory_bytes: u64,
    /// Calls the plugin made into the host.
    pub host_calls: u64,
    /// Log bytes kept.
    pub log_bytes: u64,
    /// Log lines dropped once the log budget was spent.
    pub log_lines_dropped: u64,
    /// Checkpoints saved.
    pub checkpoints: u64,
    /// Outbound HTTP requests the plugin made (refused ones included).
    #[serde(default)]
    pub http_requests: u64,
    /// Response body bytes received.
    #[serde(default)]
    pub http_bytes_in: u64,
    /// Request body bytes sent.
    #[serde(default)]
    pub http_bytes_out: u64,
    /// Names of the secrets the plugin read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets_read: Vec<String>,
    /// The limit (or cancellation) that stopped the run, if any.
    pub stopped_by: Option<StopReason>,
}
