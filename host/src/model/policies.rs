//! Policies and hints a job type declares about its runs: what happens to a
//! run its host died under, retries, and side effects.

use super::{RunErrorInfo, RunErrorKind, StopReason};
use serde::{Deserialize, Serialize};

/// What the host does with a run whose host process died while it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptedPolicy {
    /// New attempt from the last checkpoint.
    Resume,
    /// New attempt from scratch.
    Restart,
    /// Fail the run.
    Fail,
}

/// Hints for agents and user interfaces; shown, not enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideEffects {
    /// Changes nothing outside the run.
    pub read_only: bool,
    /// Running twice has the effect of running once.
    pub idempotent: bool,
    /// May delete or overwrite something outside the run.
    pub destructive: bool,
}

/// How a failed run is retried: a job type declares a default, a job may
/// override it, and the host's default applies to job types that declare
/// none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; also the ceiling of attempts
    /// after host interruptions.
    pub max_attempts: u32,
    /// Delay before the second attempt, in milliseconds.
    #[serde(default = "default_initial_delay_ms")]
    pub initial_delay_ms: u64,
    /// Factor applied after each retry.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Ceiling of the delay, in milliseconds.
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// Each delay is moved by up to this fraction of itself, at random, so
    /// that runs failing together do not retry together (0 to 1).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Which failures are retried.
    #[serde(default)]
    pub retry_on: RetryOn,
}

fn default_initial_delay_ms() -> u64 {
    1_000
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_max_delay_ms() -> u64 {
    60_000
}
fn default_jitter() -> f64 {
    0.1
}

/// A failure a retry policy may retry: the run's error type, or for
/// `limit_exceeded` the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retryable {
    /// The plugin reported a failure (retried by default).
    JobFailed,
    /// The plugin trapped (retried by default).
    PluginTrapped,
    /// The deadline passed (retried by default).
    Timeout,
    /// The plugin refused its config.
    InvalidConfig,
    /// The memory limit.
    Memory,
    /// The table limit.
    Table,
    /// The fuel limit.
    Fuel,
    /// The stack limit.
    Stack,
    /// The host call limit.
    HostCalls,
    /// The output size limit.
    OutputSize,
    /// The checkpoint size limit.
    CheckpointSize,
}

impl Retryable {
    const ALL: [Retryable; 11] = [
        Retryable::JobFailed,
        Retryable::PluginTrapped,
        Retryable::Timeout,
        Retryable::InvalidConfig,
        Retryable::Memory,
        Retryable::Table,
        Retryable::Fuel,
        Retryable::Stack,
        Retryable::HostCalls,
        Retryable::OutputSize,
        Retryable::CheckpointSize,
    ];

    /// The failure `error` is, if a policy can retry it: never a cancel, an
    /// interruption (the job type's interrupted policy decides those), or a
    /// version that is not loaded.
    pub fn of(error: &RunErrorInfo) -> Option<Retryable> {
        Some(match error.kind {
            RunErrorKind::JobFailed => Retryable::JobFailed,
            RunErrorKind::PluginTrapped => Retryable::PluginTrapped,
            RunErrorKind::InvalidConfig => Retryable::InvalidConfig,
            RunErrorKind::LimitExceeded => match error.limit? {
                StopReason::Timeout => Retryable::Timeout,
                StopReason::Memory => Retryable::Memory,
                StopReason::Table => Retryable::Table,
                StopReason::Fuel => Retryable::Fuel,
                StopReason::Stack => Retryable::Stack,
                StopReason::HostCalls => Retryable::HostCalls,
                StopReason::OutputSize => Retryable::OutputSize,
                StopReason::CheckpointSize => Retryable::CheckpointSize,
                StopReason::Cancelled => return None,
            },
            RunErrorKind::Interrupted
            | RunErrorKind::PluginUnavailable
            | RunErrorKind::HostBusy => return None,
        })
    }

    fn bit(self) -> u16 {
        1 << Retryable::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// A set of [`Retryable`] failures, served as a list of their names. By
/// default: `job_failed`, `plugin_trapped` and `timeout`, the failures
/// another attempt may not repeat.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RetryOn(u16);

impl RetryOn {
    /// No failure is retried.
    pub const NONE: RetryOn = RetryOn(0);

    /// The set of `failures`.
    pub fn of(failures: &[Retryable]) -> RetryOn {
        RetryOn(failures.iter().fold(0, |bits, r| bits | r.bit()))
    }

    /// Whether `failure` is in the set.
    pub fn contains(self, failure: Retryable) -> bool {
        self.0 & failure.bit() != 0
    }

    fn list(self) -> Vec<Retryable> {
        Retryable::ALL
            .into_iter()
            .filter(|r| self.contains(*r))
            .collect()
    }
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn::of(&[
            Retryable::JobFailed,
            Retryable::PluginTrapped,
            Retryable::Timeout,
        ])
    }
}

impl std::fmt::Debug for RetryOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list()).finish()
    }
}

impl Serialize for RetryOn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.list().serialize(s)
    }
}

impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RetryOn::of(&Vec::<Retryable>::deserialize(d)?))
    }
}

impl RetryPolicy {
    /// Most attempts a policy may ask for.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// Longest delay a policy may ask for: one day.
    pub const MAX_DELAY_MS: u64 = 86_400_000;

    /// The host's policy for job types that declare none: failures are not
    /// retried, and a run gets 3 attempts in all when the host stops under it.
    pub const HOST_DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 1_000,
        multiplier: 2.0,
        max_delay_ms: 60_000,
        jitter: 0.1,
        retry_on: RetryOn::NONE,
    };

    /// A policy a job type declares: every field but the jitter and the
    /// failures retried (the defaults).
    pub fn declared(
        max_attempts: u32,
        initial_delay_ms: u64,
        multiplier: f64,
        max_delay_ms: u64,
    ) -> Self {
        RetryPolicy {
            max_attempts,
            initial_delay_ms,
            multiplier,
            max_delay_ms,
            jitter: default_jitter(),
            retry_on: RetryOn::default(),
        }
    }

    /// Checks the policy makes sense.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=Self::MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!(
                "retry max_attempts is {}; it must be 1 to {}",
                self.max_attempts,
                Self::MAX_ATTEMPTS
            ));
        }
        if !self.multiplier.is_finite() || !(1.0..=10.0).contains(&self.multiplier) {
            return Err(format!(
                "retry multiplier is {}; it must be 1.0 to 10.0",
                self.multiplier
            ));
        }
        if !self.jitter.is_finite() || !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "retry jitter is {}; it must be 0 to 1",
                self.jitter
            ));
        }
        if self.max_delay_ms > Self::MAX_DELAY_MS || self.initial_delay_ms > self.max_delay_ms {
            return Err(format!(
                "retry delays must satisfy initial_delay_ms ({}) <= max_delay_ms ({}) <= {}",
                self.initial_delay_ms,
                self.max_delay_ms,
                Self::MAX_DELAY_MS
            ));
        }
        Ok(())
    }

    /// Whether a run whose attempt `attempt` failed with `error` gets
    /// another attempt.
    pub fn retries(&self, error: &RunErrorInfo, attempt: u32) -> bool {
        attempt < self.max_attempts
            && Retryable::of(error).is_some_and(|r| self.retry_on.contains(r))
    }

    /// The delay before the attempt after `attempt` (from 1), before jitter:
    /// `initial_delay_ms × multiplier^(attempt-1)`, at most `max_delay_ms`.
    pub fn base_delay_ms(&self, attempt: u32) -> u64 {
        let exp = attempt.saturating_sub(1).min(1000) as i32;
        let delay = self.initial_delay_ms as f64 * self.multiplier.powi(exp);
        if delay.is_finite() {
            (delay as u64).min(self.max_delay_ms)
        } else {
            self.max_delay_ms
        }
    }

    /// The delay before the attempt after `attempt`, with jitter from
    /// `unit` (a number in `[0, 1)`): the base delay moved by up to
    /// `jitter` of itself either way.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let base = self.base_delay_ms(attempt) as f64;
        let moved = base * (1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0));
        moved.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policies_are_checked() {
        let ok = RetryPolicy::declared(3, 1000, 2.0, 60_000);
        assert!(ok.check().is_ok());
        for bad in [
            RetryPolicy {
                max_attempts: 0,
                ..ok
            },
            RetryPolicy {
                multiplier: 0.5,
                ..ok
            },
            RetryPolicy {
                multiplier: f64::NAN,
                ..ok
            },
            RetryPolicy {
                initial_delay_ms: 70_000,
                ..ok
            },
            RetryPolicy { jitter: 1.5, ..ok },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn delays_grow_to_their_ceiling_and_jitter_stays_within_its_fraction() {
        let p = RetryPolicy::declared(10, 100, 3.0, 2_000);
        let base: Vec<u64> = (1..=5).map(|a| p.base_delay_ms(a)).collect();
        assert_eq!(base, vec![100, 300, 900, 2_000, 2_000]);
        assert_eq!(p.delay_ms(2, 0.0), 270);
        assert_eq!(p.delay_ms(2, 0.5), 300);
        assert_eq!(p.delay_ms(2, 0.999_999), 329);
        let huge = RetryPolicy::declared(100, 1, 10.0, RetryPolicy::MAX_DELAY_MS);
        assert_eq!(huge.base_delay_ms(100), RetryPolicy::MAX_DELAY_MS);
    }

    #[test]
    fn only_the_failures_listed_are_retried_and_only_below_the_ceiling() {
        let p = RetryPolicy::declared(3, 0, 1.0, 0);
        let failed = RunErrorInfo::new(RunErrorKind::JobFailed, "x");
        assert!(p.retries(&failed, 1) && p.retries(&failed, 2));
        assert!(!p.retries(&failed, 3), "three attempts in all");
        assert!(p.retries(&RunErrorInfo::limit(StopReason::Timeout), 1));
        assert!(!p.retries(&RunErrorInfo::limit(StopReason::Memory), 1));
        assert!(!p.retries(&RunErrorInfo::new(RunErrorKind::InvalidConfig, "x"), 1));
        assert!(!p.retries(&RunErrorInfo::new(RunErrorKind::Interrupted, "x"), 1));
        let memory_too = RetryPolicy {
            retry_on: RetryOn::of(&[Retryable::Memory, Retryable::InvalidConfig]),
            ..p
        };
        assert!(memory_too.retries(&RunErrorInfo::limit(StopReason::Memory), 1));
        assert!(!memory_too.retries(&failed, 1));
        assert!(!RetryPolicy::HOST_DEFAULT.retries(&failed, 1));
        let json = serde_json::to_value(memory_too).unwrap();
        assert_eq!(
            json["retry_on"],
            serde_json::json!(["invalid_config", "memory"])
        );
        let back: RetryPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back, memory_too);
        let short: RetryPolicy = serde_json::from_str(r#"{"max_attempts": 4}"#).unwrap();
        assert_eq!(short, RetryPolicy::declared(4, 1_000, 2.0, 60_000));
        assert!(
            serde_json::from_str::<RetryPolicy>(
                r#"{"max_attempts": 4, "retry_on": ["cancelled"]}"#
            )
            .is_err()
        );
    }
}
