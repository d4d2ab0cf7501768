//! Latencies read back from runs' own timestamps.

use super::http::Conn;
use hdrhistogram::Histogram;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An empty histogram of microseconds, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new(3).unwrap()
}

/// A run's RFC 3339 timestamp field.
pub fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("timestamp"), &Rfc3339).unwrap()
}

/// A span in whole microseconds, at least 1.
pub fn micros(d: time::Duration) -> u64 {
    d.whole_microseconds().max(1) as u64
}

/// Dispatch (created → started) and completion (created → finished) of
/// every run of `job`, from their timestamps; each must have completed, and
/// there must be `n`.
pub async fn timestamps(conn: &mut Conn, job: &str, n: usize) -> (Histogram<u64>, Histogram<u64>) {
    let (mut dispatch, mut completion) = (hist(), hist());
    let mut cursor = String::new();
    loop {
        let page = conn
            .get_json(&format!("/job-runs?job_id={job}&limit=100{cursor}"))
            .await;
        for run in page["items"].as_array().expect("items") {
            assert_eq!(run["status"], "completed", "{run}");
            let created = ts(&run["created_at"]);
            dispatch
                .record(micros(ts(&run["started_at"]) - created))
                .unwrap();
            completion
                .record(micros(ts(&run["finished_at"]) - created))
                .unwrap();
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(dispatch.len() as usize, n, "runs of the job");
    (dispatch, completion)
}
