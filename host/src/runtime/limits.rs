//! Limits: the host-wide ceilings, the limits of one run (a job type's
//! request clamped by the ceilings), and the per-store memory limiter.

use crate::model::StopReason;
use serde::Serialize;
use std::time::Duration;

/// Host-wide ceilings and defaults. A job type may ask for less or, up to the
/// ceiling, more than the default; never more than the ceiling.
#[derive(Debug, Clone)]
pub struct Ceilings {
    /// Longest wall-clock time of one run.
    pub max_timeout: Duration,
    /// Timeout when the job type asks for none.
    pub default_timeout: Duration,
    /// Largest linear memory of one run (also the pooling allocator's slot size).
    pub max_memory_bytes: u64,
    /// Memory when the job type asks for none.
    pub default_memory_bytes: u64,
    /// Fuel per run; `None` disables fuel metering.
    pub fuel: Option<u64>,
    /// Log bytes kept per run (plugin logs plus stdout and stderr).
    pub log_bytes: usize,
    /// Longest kept log line; longer ones are cut.
    pub log_line_bytes: usize,
    /// Largest result (JSON text plus inline references).
    pub output_bytes: usize,
    /// Largest checkpoint.
    pub checkpoint_bytes: usize,
    /// Host calls per run (logs, progress, checkpoints, cancellation polls).
    pub host_calls: u64,
    /// Time a cancelled run gets to stop on its own before it is interrupted.
    pub cancel_grace: Duration,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            max_timeout: Duration::from_secs(3600),
            default_timeout: Duration::from_secs(60),
            max_memory_bytes: 256 << 20,
            default_memory_bytes: 64 << 20,
            fuel: None,
            log_bytes: 1 << 20,
            log_line_bytes: 8 << 10,
            output_bytes: 4 << 20,
            checkpoint_bytes: 1 << 20,
            host_calls: 1_000_000,
            cancel_grace: Duration::from_millis(20),
        }
    }
}

/// Limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunLimits {
    /// Wall-clock deadline.
    #[serde(rename = "timeout_ms", serialize_with = "as_millis")]
    pub timeout: Duration,
    /// Largest total linear memory in bytes.
    pub memory_bytes: u64,
    /// Fuel, when metering is on.
    pub fuel: Option<u64>,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Ceilings {
    /// The limits of a run of a job type that asked for `timeout_ms` and `memory_bytes`.
    pub fn clamp(&self, timeout_ms: Option<u64>, memory_bytes: Option<u64>) -> RunLimits {
        let timeout = timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.default_timeout)
            .min(self.max_timeout);
        let memory_bytes = memory_bytes
            .unwrap_or(self.default_memory_bytes)
            .min(self.max_memory_bytes);
        RunLimits {
            timeout,
            memory_bytes,
            fuel: self.fuel,
        }
    }
}

/// Memory and table limiter of one store; remembers the peak and which limit hit.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_limit: usize,
    memory_now: usize,
    pub(crate) memory_peak: usize,
    table_elements: usize,
    pub(crate) hit: Option<StopReason>,
}

impl Limiter {
    pub(crate) fn new(memory_limit: u64) -> Self {
        Limiter {
            memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
            memory_now: 0,
            memory_peak: 0,
            table_elements: 1 << 20,
            hit: None,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_now - current.min(self.memory_now) + desired;
        if total > self.memory_limit {
            self.hit = Some(StopReason::Memory);
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached (wanted {total})",
                self.memory_limit
            ));
        }
        self.memory_now = total;
        self.memory_peak = self.memory_peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.hit = Some(StopReason::Table);
            return Err(wasmtime::format_err!(
                "table limit of {} elements reached (wanted {desired})",
                self.table_elements
            ));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn clamp_never_raises_past_the_ceiling() {
        let c = Ceilings::default();
        let l = c.clamp(Some(u64::MAX), Some(u64::MAX));
        assert_eq!(
            (l.timeout, l.memory_bytes),
            (c.max_timeout, c.max_memory_bytes)
        );
        let l = c.clamp(None, None);
        assert_eq!(
            (l.timeout, l.memory_bytes),
            (c.default_timeout, c.default_memory_bytes)
        );
        let l = c.clamp(Some(5), Some(1 << 20));
        assert_eq!(
            (l.timeout, l.memory_bytes),
            (Duration::from_millis(5), 1 << 20)
        );
    }

    #[test]
    fn limiter_tracks_peak_and_refuses_past_the_limit() {
        let mut l = Limiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(60, 90, None).unwrap());
        assert!(l.memory_growing(90, 101, None).is_err());
        assert_eq!((l.memory_peak, l.hit), (90, Some(StopReason::Memory)));
    }
}
