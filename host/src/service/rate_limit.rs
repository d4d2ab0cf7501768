//! Per-token rate limits: a token bucket per (tenant, user) for creating
//! jobs, refilled continuously; an empty bucket answers 429 with
//! `Retry-After`.

use super::ServiceError;
use crate::auth::Caller;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets of one limited action.
#[derive(Debug)]
pub struct RateLimit {
    /// Requests allowed per minute (also the burst); 0 turns it off.
    per_minute: u32,
    buckets: Mutex<HashMap<(String, String), (f64, Instant)>>,
}

impl RateLimit {
    /// A limit of `per_minute` (0: none).
    pub fn new(per_minute: u32) -> Self {
        RateLimit {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from the caller's bucket, or says when to retry.
    pub fn take(&self, caller: &Caller, what: &'static str) -> Result<(), ServiceError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets
            .entry((caller.tenant.0.clone(), caller.user.clone()))
            .or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let retry_after = ((1.0 - *tokens) / per_second).ceil().max(1.0) as u64;
        Err(ServiceError::RateLimited {
            what,
            per_minute: self.per_minute,
            retry_after,
        })
    }
}
