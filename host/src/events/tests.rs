//! Event hub tests: resuming without gaps or repeats, gaps past the window,
//! delivery only to the subscribers an event concerns, caps on open
//! subscriptions, and falling behind.

use super::*;
use futures_util::FutureExt;

fn tenant(t: &str) -> Filter {
    Filter::tenant(TenantId(t.into()))
}

fn ev(hub: &EventHub) {
    hub.job_type(EventKind::JobTypePublished, "x", json!({}));
}

fn run_event_of(hub: &EventHub, t: &str, job: JobId, run: RunId) {
    hub.publish(Event {
        id: 0,
        kind: EventKind::RunProgress,
        tenant: Some(TenantId(t.into())),
        job_id: Some(job),
        run_id: Some(run),
        job_type: Some("text_stats".into()),
        at: now(),
        data: json!({}),
    });
}

/// The next live event if one is waiting.
fn try_next(s: &Subscription) -> Option<Received> {
    s.recv().now_or_never()
}

fn ids(s: &Subscription) -> Vec<u64> {
    s.backlog.iter().map(|e| e.id).collect()
}

#[test]
fn a_subscriber_resumes_after_its_last_id_without_gaps_or_repeats() {
    let hub = Arc::new(EventHub::default());
    for _ in 0..3 {
        ev(&hub);
    }
    let all = hub.subscribe("t", tenant("a"), Some(0)).unwrap();
    let seen = ids(&all);
    assert_eq!(seen.len(), 3);
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1));
    let s = hub.subscribe("t", tenant("a"), Some(seen[0])).unwrap();
    assert_eq!(s.backlog.len(), 2);
    assert!(!s.gap);
    ev(&hub);
    let Some(Received::Event(live)) = try_next(&s) else {
        panic!("the new event is live")
    };
    assert_eq!(live.id, seen[2] + 1);
    assert!(try_next(&s).is_none());
    let fresh = hub.subscribe("t", tenant("a"), None).unwrap();
    assert!(fresh.backlog.is_empty());
}

#[test]
fn resuming_before_the_window_reports_a_gap() {
    let hub = Arc::new(EventHub::default());
    for _ in 0..WINDOW + 5 {
        ev(&hub);
    }
    let first = hub.subscribe("t", tenant("a"), Some(0)).unwrap().backlog[0].id;
    let s = hub.subscribe("t", tenant("a"), Some(first - 3)).unwrap();
    assert!(s.gap);
    assert_eq!(s.backlog.len(), WINDOW);
    assert!(
        !hub.subscribe("t", tenant("a"), Some(first - 1))
            .unwrap()
            .gap
    );
}

#[test]
fn an_event_reaches_only_the_subscribers_it_concerns() {
    let hub = Arc::new(EventHub::default());
    let (job, other_job, run) = (JobId::new(), JobId::new(), RunId::new());
    let whole = hub.subscribe("t", tenant("a"), None).unwrap();
    let of_job = hub
        .subscribe(
            "t",
            Filter {
                job_id: Some(job),
                ..tenant("a")
            },
            None,
        )
        .unwrap();
    let of_other_job = hub
        .subscribe(
            "t",
            Filter {
                job_id: Some(other_job),
                ..tenant("a")
            },
            None,
        )
        .unwrap();
    let of_run = hub
        .subscribe(
            "t",
            Filter {
                run_id: Some(run),
                ..tenant("a")
            },
            None,
        )
        .unwrap();
    let statuses_only = hub
        .subscribe(
            "t",
            Filter {
                kinds: vec![EventKind::RunStatusChanged],
                ..tenant("a")
            },
            None,
        )
        .unwrap();
    let elsewhere = hub.subscribe("u", tenant("b"), None).unwrap();

    run_event_of(&hub, "a", job, run);
    for s in [&whole, &of_job, &of_run] {
        assert!(matches!(try_next(s), Some(Received::Event(_))));
    }
    for s in [&of_other_job, &statuses_only, &elsewhere] {
        assert!(try_next(s).is_none(), "{:?}", s.filter());
    }
    // Job type events are everyone's (who does not follow one job or run).
    ev(&hub);
    for s in [&whole, &elsewhere] {
        assert!(matches!(try_next(s), Some(Received::Event(_))));
    }
    assert!(try_next(&of_other_job).is_none());
    assert_eq!(hub.open_streams(), 6);
    drop((
        whole,
        of_job,
        of_other_job,
        of_run,
        statuses_only,
        elsewhere,
    ));
    assert_eq!(hub.open_streams(), 0);
}

#[test]
fn open_subscriptions_are_capped_per_token_and_per_tenant() {
    let hub = Arc::new(EventHub::new(StreamLimits {
        per_token: 2,
        per_tenant: 3,
    }));
    let a1 = hub.subscribe("t1", tenant("a"), None).unwrap();
    let _a2 = hub.subscribe("t1", tenant("a"), None).unwrap();
    let refused = hub.subscribe("t1", tenant("a"), None).unwrap_err();
    assert_eq!(
        refused,
        SubscribeError::TooMany {
            scope: "token",
            limit: 2,
            open: 2
        }
    );
    let _a3 = hub.subscribe("t2", tenant("a"), None).unwrap();
    assert!(matches!(
        hub.subscribe("t3", tenant("a"), None),
        Err(SubscribeError::TooMany {
            scope: "tenant",
            limit: 3,
            ..
        })
    ));
    // Another tenant is not held back; closing one makes room.
    let _b = hub.subscribe("t4", tenant("b"), None).unwrap();
    drop(a1);
    assert!(hub.subscribe("t1", tenant("a"), None).is_ok());
}

#[test]
fn a_subscriber_that_falls_behind_resumes_from_the_window() {
    let hub = Arc::new(EventHub::default());
    let mut s = hub.subscribe("t", tenant("a"), None).unwrap();
    let mut last = 0;
    for _ in 0..subscribers_buffer() + 10 {
        ev(&hub);
    }
    let Some(Received::Lagged) = try_next(&s) else {
        panic!("a full queue reports the lag")
    };
    // Pretend the first 5 were delivered.
    let window = hub.subscribe("t", tenant("a"), Some(0)).unwrap();
    last = last.max(window.backlog[4].id);
    s.resume(last);
    assert!(!s.gap);
    assert_eq!(s.backlog.len(), window.backlog.len() - 5);
    assert!(try_next(&s).is_none(), "the queue was emptied");
}

fn subscribers_buffer() -> usize {
    4096
}
