//! A job's schedule: a cron expression (seconds optional) read in an IANA
//! time zone, what happens when a tick comes while the last scheduled run
//! is still going (overlap), and which ticks missed while the host was down
//! still run (catch-up). Fire times are computed by `croner` in the zone and
//! converted to UTC at this edge; the rest of the host uses `time`.

use super::Timestamp;
use chrono::TimeZone as _;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Longest cron expression, in bytes.
pub const MAX_CRON: usize = 256;
/// Longest catch-up window: 30 days.
pub const MAX_CATCH_UP_WINDOW_SECS: u64 = 30 * 86_400;

/// A job's schedule as its owner wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Cron expression: 5 fields, or 6 with seconds first (and an optional
    /// year last); `L`, `#`, `W` and `@hourly`-style nicknames work.
    pub cron: String,
    /// IANA time zone the expression is read in.
    #[serde(default = "utc")]
    pub timezone: String,
    /// A tick while the last scheduled run is still active.
    #[serde(default)]
    pub overlap: Overlap,
    /// Ticks missed while the host was down.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// With `catch_up: all`, how far back missed ticks still run, in seconds.
    #[serde(default = "default_window")]
    pub catch_up_window_secs: u64,
}

fn utc() -> String {
    "UTC".into()
}

fn default_window() -> u64 {
    86_400
}

/// What a tick does while the job's last scheduled run is still active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Skip the tick.
    #[default]
    Skip,
    /// Wait for the run to end, then run (one tick waits at a time).
    Queue,
    /// Run alongside.
    Allow,
}

/// Which ticks missed while the host was down still run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// One run, for the most recent missed tick.
    #[default]
    Latest,
    /// None.
    None,
    /// Every tick within the catch-up window.
    All,
}

/// A schedule checked and ready to compute fire times.
#[derive(Debug, Clone)]
pub struct Cron {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

/// What is wrong with a schedule: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `cron`, `timezone` or `catch_up_window_secs`.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

impl Schedule {
    /// Checks the schedule and readies it.
    pub fn compile(&self) -> Result<Cron, ScheduleError> {
        let bad = |field, message: String| ScheduleError { field, message };
        if self.cron.len() > MAX_CRON {
            return Err(bad(
                "cron",
                format!(
                    "is {} bytes; at most {MAX_CRON} are allowed",
                    self.cron.len()
                ),
            ));
        }
        let cron = croner::Cron::from_str(&self.cron).map_err(|e| {
            bad(
                "cron",
                format!("`{}` is not a cron expression: {e}", self.cron),
            )
        })?;
        let zone = chrono_tz::Tz::from_str(&self.timezone).map_err(|_| {
            bad(
                "timezone",
                format!(
                    "`{}` is not an IANA time zone (such as `Europe/Berlin` or `UTC`)",
                    self.timezone
                ),
            )
        })?;
        if self.catch_up_window_secs > MAX_CATCH_UP_WINDOW_SECS {
            return Err(bad(
                "catch_up_window_secs",
                format!(
                    "is {}; at most {MAX_CATCH_UP_WINDOW_SECS} (30 days)",
                    self.catch_up_window_secs
                ),
            ));
        }
        let compiled = Cron { cron, zone };
        if compiled.next_after(super::now()).is_none() {
            return Err(bad("cron", format!("`{}` never fires", self.cron)));
        }
        Ok(compiled)
    }
}

impl Cron {
    /// The first fire time strictly after `t`, if there is one.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let nanos = t.unix_timestamp_nanos();
        let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
        let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
        let local = self.zone.timestamp_opt(secs, sub).single()?;
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        let nanos = i128::from(next.timestamp()) * 1_000_000_000
            + i128::from(next.timestamp_subsec_nanos());
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
    }

    /// Fire times strictly after `after` and at or before `until`, oldest
    /// first, at most `max`.
    pub fn between(&self, after: Timestamp, until: Timestamp, max: usize) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < max {
            match self.next_after(t) {
                Some(next) if next <= until => {
                    out.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn schedule(cron: &str, timezone: &str) -> Schedule {
        Schedule {
            cron: cron.into(),
            timezone: timezone.into(),
            overlap: Overlap::Skip,
            catch_up: CatchUp::Latest,
            catch_up_window_secs: 86_400,
        }
    }

    #[test]
    fn a_daily_time_the_spring_forward_skips_runs_once_that_day() {
        // 2026-03-08: New York goes from 02:00 EST to 03:00 EDT.
        let cron = schedule("30 2 * * *", "America/New_York")
            .compile()
            .unwrap();
        let ticks = cron.between(
            datetime!(2026-03-07 00:00 UTC),
            datetime!(2026-03-10 00:00 UTC),
            10,
        );
        assert_eq!(
            ticks,
            vec![
                datetime!(2026-03-07 07:30 UTC), // 02:30 EST
                datetime!(2026-03-08 07:00 UTC), // 03:00 EDT: the skipped 02:30, once
                datetime!(2026-03-09 06:30 UTC), // 02:30 EDT
            ]
        );
    }

    #[test]
    fn a_daily_time_the_fall_back_repeats_runs_once_that_day() {
        // 2026-11-01: New York goes from 02:00 EDT back to 01:00 EST, so
        // 01:30 happens twice.
        let cron = schedule("30 1 * * *", "America/New_York")
            .compile()
            .unwrap();
        let ticks = cron.between(
            datetime!(2026-10-31 00:00 UTC),
            datetime!(2026-11-03 00:00 UTC),
            10,
        );
        assert_eq!(
            ticks,
            vec![
                datetime!(2026-10-31 05:30 UTC), // 01:30 EDT
                datetime!(2026-11-01 05:30 UTC), // the first 01:30 (EDT), once
                datetime!(2026-11-02 06:30 UTC), // 01:30 EST
            ]
        );
        // An hourly job runs every real hour through the repeat, in order.
        let hourly = schedule("0 * * * *", "America/New_York").compile().unwrap();
        let ticks = hourly.between(
            datetime!(2026-11-01 04:30 UTC),
            datetime!(2026-11-01 07:30 UTC),
            10,
        );
        assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
        assert!(ticks.len() >= 2, "{ticks:?}");
    }

    #[test]
    fn seconds_are_optional_and_bad_fields_are_named() {
        let every_second = schedule("*/1 * * * * *", "UTC").compile().unwrap();
        let t = datetime!(2026-01-01 00:00:00.5 UTC);
        assert_eq!(
            every_second.next_after(t),
            Some(datetime!(2026-01-01 00:00:01 UTC))
        );
        let five = schedule("0 9 * * MON-FRI", "Europe/Berlin")
            .compile()
            .unwrap();
        assert_eq!(
            five.next_after(datetime!(2026-01-02 12:00 UTC)), // a Friday
            Some(datetime!(2026-01-05 08:00 UTC))
        );
        assert_eq!(
            schedule("61 * * * *", "UTC").compile().unwrap_err().field,
            "cron"
        );
        assert_eq!(
            schedule("not cron", "UTC").compile().unwrap_err().field,
            "cron"
        );
        assert_eq!(
            schedule("* * * * *", "Mars/Olympus")
                .compile()
                .unwrap_err()
                .field,
            "timezone"
        );
        let long = schedule(&"1,".repeat(200), "UTC");
        assert_eq!(long.compile().unwrap_err().field, "cron");
    }
}
