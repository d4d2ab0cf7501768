//! Policies and hints a job type declares about its runs: what happens to a
//! run its host died under, retries, and side effects.

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

/// A default retry policy declared by a job type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt, in milliseconds.
    pub initial_delay_ms: u64,
    /// Factor applied after each retry.
    pub multiplier: f64,
    /// Ceiling of the delay, in milliseconds.
    pub max_delay_ms: u64,
}

impl RetryPolicy {
    /// Most attempts a policy may ask for.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// Longest delay a policy may ask for: one day.
    pub const MAX_DELAY_MS: u64 = 86_400_000;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policies_are_checked() {
        let ok = RetryPolicy {
            max_attempts: 3,
            initial_delay_ms: 1000,
            multiplier: 2.0,
            max_delay_ms: 60_000,
        };
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
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
