//! `prime_sieve`: counts primes (and twin primes) below a limit with a
//! segmented sieve. A long-running job: it reports progress per segment,
//! stops when cancelled, and checkpoints so a crashed run resumes.

use jobhost_plugin::{Context, Interrupted, Job, JobError, JobType, SideEffects};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Config of a `prime_sieve` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"limit": 10_000_000}))]
pub struct Config {
    /// Count primes strictly below this number (at most 10^12).
    #[schemars(range(min = 2, max = 1_000_000_000_000u64), example = 1_000_000)]
    pub limit: u64,
    /// Numbers sieved per segment; progress, cancellation and checkpoints happen between segments.
    #[serde(default = "default_segment")]
    #[schemars(range(min = 1024, max = 16_777_216), example = 1_048_576)]
    pub segment_size: u64,
    /// Save a checkpoint every this many segments (0 saves none).
    #[serde(default = "default_checkpoint_every")]
    #[schemars(range(min = 0, max = 1_000_000), example = 8)]
    pub checkpoint_every: u64,
}

fn default_segment() -> u64 {
    1 << 20
}
fn default_checkpoint_every() -> u64 {
    8
}

/// Where a sieve stands; also the checkpoint format.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// The limit this state belongs to.
    pub limit: u64,
    /// The first number not yet sieved.
    pub next: u64,
    /// Primes found below `next`.
    pub count: u64,
    /// Twin prime pairs (p, p + 2) with p + 2 below `next`.
    pub twins: u64,
    /// Largest prime below `next`, 0 if none.
    pub largest: u64,
}

/// Result of a `prime_sieve` job.
#[derive(Debug, Serialize, PartialEq)]
pub struct Output {
    /// The limit.
    pub limit: u64,
    /// Primes below the limit.
    pub prime_count: u64,
    /// Twin prime pairs below the limit.
    pub twin_prime_pairs: u64,
    /// Largest prime below the limit, null if none.
    pub largest_prime: Option<u64>,
    /// Where this attempt started, when it resumed from a checkpoint.
    pub resumed_from: Option<u64>,
}

fn base_primes(up_to: u64) -> Vec<u64> {
    let n = up_to as usize + 1;
    let mut composite = vec![false; n];
    let mut primes = Vec::new();
    for i in 2..n {
        if !composite[i] {
            primes.push(i as u64);
            let mut j = i * i;
            while j < n {
                composite[j] = true;
                j += i;
            }
        }
    }
    primes
}

/// Sieves `[state.next, min(state.next + size, limit))` and advances `state`.
pub fn sieve_segment(state: &mut State, base: &[u64], size: u64, marks: &mut Vec<bool>) {
    let low = state.next;
    let high = (low + size).min(state.limit);
    marks.clear();
    marks.resize((high - low) as usize, true);
    for &p in base {
        if p * p >= high {
            break;
        }
        let mut start = (low.div_ceil(p) * p).max(p * p);
        while start < high {
            marks[(start - low) as usize] = false;
            start += p;
        }
    }
    for (i, &is_prime) in marks.iter().enumerate() {
        let n = low + i as u64;
        if is_prime && n >= 2 {
            state.count += 1;
            if state.largest != 0 && n - state.largest == 2 {
                state.twins += 1;
            }
            state.largest = n;
        }
    }
    state.next = high;
}

struct PrimeSieve;

impl Job for PrimeSieve {
    type Config = Config;
    type Output = Output;

    fn describe() -> JobType {
        JobType::new("prime_sieve", "1.0.0", "Prime sieve")
            .description(
                "Counts primes and twin-prime pairs below a limit with a segmented sieve of \
                 Eratosthenes. Long-running: reports progress, honours cancellation and \
                 resumes from checkpoints.",
            )
            .user_facing_description("Count the prime numbers below a limit.")
            .timeout_ms(600_000)
            .memory_bytes(64 << 20)
            .interrupted(Interrupted::Resume)
            // Computes on its config only: nothing outside the run changes.
            .side_effects(SideEffects {
                read_only: true,
                idempotent: true,
                destructive: false,
            })
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Output, JobError> {
        let resumed: Option<State> = ctx
            .resume_from::<State>()
            .filter(|s| s.limit == config.limit);
        let resumed_from = resumed.as_ref().map(|s| s.next);
        let mut state = resumed.unwrap_or(State {
            limit: config.limit,
            next: 0,
            count: 0,
            twins: 0,
            largest: 0,
        });
        if let Some(from) = resumed_from {
            ctx.info(format_args!(
                "resuming at {from} with {} primes found",
                state.count
            ));
        }
        let base = base_primes((config.limit as f64).sqrt() as u64 + 1);
        let mut marks = Vec::with_capacity(config.segment_size as usize);
        let mut segments = 0u64;
        let mut last_percent = u8::MAX;
        // Reported when the percentage moves, and at least this often, so a
        // long run's message (primes found so far) keeps moving too.
        let every = std::time::Duration::from_millis(500);
        let mut last_report = std::time::Instant::now();
        while state.next < config.limit {
            if ctx.cancelled() {
                ctx.warn(format_args!("cancelled at {}", state.next));
                return Err(JobError::Cancelled);
            }
            sieve_segment(&mut state, &base, config.segment_size, &mut marks);
            segments += 1;
            if config.checkpoint_every > 0 && segments.is_multiple_of(config.checkpoint_every) {
                ctx.save_checkpoint_json(&state);
            }
            let percent = (state.next as u128 * 100 / config.limit as u128) as u8;
            if percent != last_percent || last_report.elapsed() >= every {
                ctx.progress(
                    percent,
                    format_args!("{} primes below {}", state.count, state.next),
                );
                last_percent = percent;
                last_report = std::time::Instant::now();
            }
        }
        Ok(Output {
            limit: config.limit,
            prime_count: state.count,
            twin_prime_pairs: state.twins,
            largest_prime: (state.largest != 0).then_some(state.largest),
            resumed_from,
        })
    }
}

jobhost_plugin::export_job!(PrimeSieve);

#[cfg(test)]
mod tests {
    use super::*;

    fn sieve(limit: u64, size: u64) -> State {
        let base = base_primes((limit as f64).sqrt() as u64 + 1);
        let mut state = State {
            limit,
            next: 0,
            count: 0,
            twins: 0,
            largest: 0,
        };
        let mut marks = Vec::new();
        while state.next < limit {
            sieve_segment(&mut state, &base, size, &mut marks);
        }
        state
    }

    #[test]
    fn known_counts() {
        assert_eq!(sieve(2, 1024).count, 0);
        assert_eq!(sieve(3, 1024).count, 1);
        assert_eq!(sieve(100, 1024).count, 25);
        let s = sieve(1_000_000, 4096);
        assert_eq!((s.count, s.twins, s.largest), (78_498, 8_169, 999_983));
    }

    #[test]
    fn segment_size_does_not_change_the_answer() {
        assert_eq!(sieve(200_000, 1024), sieve(200_000, 65_536));
    }
}
