//! A job's schedule: a cron expression (seconds optional) read in an IANA
//! time zone, what happens when a tick comes while the last scheduled run
//! is still going (overlap), and which ticks missed while the host was down
//! still run (catch-up). Fire times are computed by `croner` in the zone and
//! converted to UTC at this edge; the rest of the host uses `time`.

use super::{JobId, RunId, TenantId, Timestamp};
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

/// How late a tick may run and still count as on time (not missed).
pub const GRACE: time::Duration = time::Duration::seconds(60);
/// Most ticks one pass runs for one job (`catch_up: all`).
pub const MAX_TICKS_PER_PASS: usize = 1000;

/// Where a job's schedule stands: kept beside the job, written by the
/// scheduler and by pause and resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// The job's tenant.
    pub tenant: TenantId,
    /// The job.
    pub job_id: JobId,
    /// Paused: no ticks run.
    pub paused: bool,
    /// Every tick at or before this was handled (run or skipped).
    #[serde(with = "time::serde::rfc3339")]
    pub cursor: Timestamp,
    /// The next tick, unless paused.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_run_at: Option<Timestamp>,
    /// The tick of the last scheduled run.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_scheduled_at: Option<Timestamp>,
    /// The last scheduled run (written before the run itself: a crash in
    /// between leaves this id without a run, which the scheduler creates).
    pub last_run: Option<RunId>,
    /// Ticks that made no run: the last scheduled run was still active
    /// (`overlap: skip`), or the run was refused (see `last_error`). Ticks
    /// missed while the host was down are not counted.
    pub skipped_ticks: u64,
    /// Why the last tick made no run, if it did not.
    pub last_error: Option<String>,
}

impl ScheduleState {
    /// The state of a schedule starting now: its first tick is the first
    /// after `now`.
    pub fn new(tenant: TenantId, job_id: JobId, cron: &Cron, now: Timestamp) -> Self {
        ScheduleState {
            tenant,
            job_id,
            paused: false,
            cursor: now,
            next_run_at: cron.next_after(now),
            last_scheduled_at: None,
            last_run: None,
            skipped_ticks: 0,
            last_error: None,
        }
    }
}

/// What one pass does with a job's due ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Ticks to run, oldest first.
    pub run: Vec<Timestamp>,
    /// The cursor after the pass (before overlap decides).
    pub cursor: Timestamp,
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

    /// The ticks due at `now` for a schedule whose ticks up to `cursor` were
    /// handled, per its catch-up policy: the newest due tick (`latest`), the
    /// newest if it is at most [`GRACE`] late (`none`), or every due tick
    /// within the window, oldest first (`all`, at most
    /// [`MAX_TICKS_PER_PASS`] a pass). A pass runs at each tick, so in
    /// normal operation one tick is due and it runs whatever the policy.
    pub fn plan(&self, schedule: &Schedule, cursor: Timestamp, now: Timestamp) -> Plan {
        let due = |from: Timestamp, max| self.between(from.max(cursor), now, max);
        if schedule.catch_up == CatchUp::All {
            let window = time::Duration::seconds(schedule.catch_up_window_secs as i64);
            let run = due(cursor.max(now - window), MAX_TICKS_PER_PASS);
            let cursor = match run.last() {
                Some(last) if run.len() == MAX_TICKS_PER_PASS => *last,
                _ => now,
            };
            return Plan { run, cursor };
        }
        // The newest due tick, found by looking back ever further: each
        // step enumerates few ticks, however old the cursor.
        let mut newest = None;
        for back in [60, 3_600, 86_400, 35 * 86_400] {
            if let Some(last) = due(now - time::Duration::seconds(back), usize::MAX).last() {
                newest = Some(*last);
                break;
            }
        }
        if newest.is_none() {
            newest = due(cursor, 100_000).last().copied();
        }
        let run = match (schedule.catch_up, newest) {
            (CatchUp::None, Some(t)) if now - t > GRACE => vec![],
            (_, t) => t.into_iter().collect(),
        };
        Plan { run, cursor: now }
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
    fn catch_up_runs_the_ticks_its_policy_names() {
        let mut s = schedule("0 * * * *", "UTC"); // hourly
        let cron = s.compile().unwrap();
        let cursor = datetime!(2026-01-01 00:30 UTC);
        // Down from 00:30 to 05:10: ticks 01:00 to 05:00 were missed.
        let now = datetime!(2026-01-01 05:10 UTC);
        let plan = cron.plan(&s, cursor, now);
        assert_eq!(plan.run, vec![datetime!(2026-01-01 05:00 UTC)]);
        assert_eq!(plan.cursor, now);
        s.catch_up = CatchUp::None;
        let plan = cron.plan(&s, cursor, now);
        assert_eq!(plan.run.len(), 0);
        // On time is not missed, whatever the policy.
        let plan = cron.plan(&s, cursor, datetime!(2026-01-01 01:00:30 UTC));
        assert_eq!(plan.run, vec![datetime!(2026-01-01 01:00 UTC)]);
        s.catch_up = CatchUp::All;
        s.catch_up_window_secs = 3 * 3600;
        let plan = cron.plan(&s, cursor, now);
        assert_eq!(
            plan.run,
            vec![
                datetime!(2026-01-01 03:00 UTC),
                datetime!(2026-01-01 04:00 UTC),
                datetime!(2026-01-01 05:00 UTC),
            ]
        );
        // A long outage of an every-second schedule: the newest tick, found fast.
        let mut secs = schedule("* * * * * *", "UTC");
        let cron = secs.compile().unwrap();
        let plan = cron.plan(&secs, datetime!(2025-01-01 00:00 UTC), now);
        assert_eq!(plan.run, vec![now]);
        secs.catch_up = CatchUp::All;
        let plan = cron.plan(&secs, datetime!(2025-01-01 00:00 UTC), now);
        assert_eq!(plan.run.len(), MAX_TICKS_PER_PASS);
        assert_eq!(plan.cursor, *plan.run.last().unwrap(), "the rest next pass");
        // A weekly schedule down for five days still runs its missed tick.
        let weekly = schedule("0 9 * * MON", "UTC");
        let cron = weekly.compile().unwrap();
        let plan = cron.plan(
            &weekly,
            datetime!(2026-01-04 00:00 UTC),
            datetime!(2026-01-09 00:00 UTC),
        );
        assert_eq!(plan.run, vec![datetime!(2026-01-05 09:00 UTC)]);
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
